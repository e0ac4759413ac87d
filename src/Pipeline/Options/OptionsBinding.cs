using Microsoft.Extensions.Configuration;

namespace GuidedNet.Pipeline.Options;

/// <summary>An options class that checks its own values and names the offending key.</summary>
public interface IValidatedOptions
{
    void Validate();
}

/// <summary>How every host reads an options area: bind the section, then validate, so a bad value stops start-up.</summary>
public static class OptionsBinding
{
    /// <exception cref="ArgumentException">a value is invalid (the message names the section and key)</exception>
    /// <exception cref="InvalidOperationException">a value cannot be converted to its type</exception>
    public static T GetValidated<T>(this IConfiguration configuration, string section) where T : class, IValidatedOptions, new()
    {
        var options = configuration.GetSection(section).Get<T>() ?? new T();
        options.Validate();
        return options;
    }
}
