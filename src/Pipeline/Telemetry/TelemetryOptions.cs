using GuidedNet.Pipeline.Options;
using Microsoft.Extensions.Configuration;

namespace GuidedNet.Pipeline.Telemetry;

/// <summary>
/// Where the pipeline's traces, metrics and logs go (section <c>Telemetry</c>, and Azure's own
/// <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c>): <c>Telemetry:Exporters</c> lists any of
/// <c>console</c>, <c>otlp</c> (to <c>Telemetry:OtlpEndpoint</c>, or the standard
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>) and <c>azuremonitor</c>; unset, it is <c>azuremonitor</c>
/// where an Application Insights connection string is given and nothing otherwise.
/// </summary>
public sealed class TelemetryOptions : IValidatedOptions
{
    public const string Section = "Telemetry";
    public const string Console = "console", Otlp = "otlp", AzureMonitor = "azuremonitor";
    private static readonly string[] Known = [Console, Otlp, AzureMonitor];

    public string? Exporters { get; set; }
    public string? OtlpEndpoint { get; set; }

    /// <summary>From <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> (Bicep sets it on both apps).</summary>
    public string? ApplicationInsightsConnectionString { get; set; }

    /// <summary>From <c>APPLICATIONINSIGHTS_AUTHENTICATION_STRING</c>: <c>Authorization=AAD</c> sends with the managed identity (the resource takes no keys).</summary>
    public string? ApplicationInsightsAuthentication { get; set; }

    public bool UsesEntraId => ApplicationInsightsAuthentication?.Contains("Authorization=AAD", StringComparison.OrdinalIgnoreCase) == true;

    public IReadOnlyList<string> EffectiveExporters =>
        Exporters is { } listed
            ? listed.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(e => e.ToLowerInvariant()).Where(e => e != "none").Distinct().ToList()
            : string.IsNullOrWhiteSpace(ApplicationInsightsConnectionString) ? [] : [AzureMonitor];

    public static TelemetryOptions FromConfiguration(IConfiguration configuration)
    {
        var options = configuration.GetSection(Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        options.ApplicationInsightsConnectionString ??= configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"];
        options.ApplicationInsightsAuthentication ??= configuration["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"];
        options.OtlpEndpoint ??= configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
        options.Validate();
        return options;
    }

    public void Validate()
    {
        var unknown = EffectiveExporters.Where(e => !Known.Contains(e)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"{Section}:Exporters: unknown exporter {string.Join(", ", unknown)} (known: none, {string.Join(", ", Known)})");
        if (EffectiveExporters.Contains(AzureMonitor) && string.IsNullOrWhiteSpace(ApplicationInsightsConnectionString))
            throw new ArgumentException($"{Section}:Exporters: azuremonitor needs APPLICATIONINSIGHTS_CONNECTION_STRING");
        if (OtlpEndpoint is { Length: > 0 } endpoint && !Uri.TryCreate(endpoint, UriKind.Absolute, out _))
            throw new ArgumentException($"{Section}:OtlpEndpoint: not an absolute URI");
    }
}
