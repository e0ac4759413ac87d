using System.Numerics;
using System.Globalization;

namespace GuidedNet.GpuJob.Cli;

/// <summary>Raised for a command line that cannot be run; the message is shown to the user as is.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// <c>--name value</c> options and <c>--flag</c> switches after the command words. Every option a
/// command reads is checked off, so unknown or misspelt options are reported rather than ignored.
/// </summary>
public sealed class CommandLineArguments
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private readonly CommandSpec _spec;

    /// <summary>Options of a command defined by <paramref name="spec"/>: any other is refused at once, and its defaults are the spec's.</summary>
    public CommandLineArguments(IEnumerable<string> args, CommandSpec spec)
    {
        _spec = spec;
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            string a = list[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length == 2)
                throw new UsageException($"unexpected argument '{a}'");
            string name = a[2..];
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            if (spec.Find(name) is not { } option)
                throw new UsageException($"unknown option: --{name} (--help lists the options)");
            if (value is null && !option.IsSwitch)
            {
                if (i + 1 >= list.Count || list[i + 1].StartsWith("--", StringComparison.Ordinal))
                    throw new UsageException($"--{name} needs a value");
                value = list[++i];
            }
            if (!_options.TryAdd(name, value)) throw new UsageException($"--{name} is given twice");
        }
    }

    public bool Flag(string name)
    {
        _read.Add(name);
        return _options.ContainsKey(name);
    }

    public bool Has(string name) => _options.ContainsKey(name);

    /// <summary>The option's value; when it is not given, the spec's default (null when it has none).</summary>
    public string? String(string name)
    {
        _read.Add(name);
        return _options.TryGetValue(name, out var v) ? v : SpecDefault(name);
    }

    public string Required(string name) => String(name) ?? throw new UsageException($"--{name} is required");

    /// <summary>The option's value, else its default from the spec.</summary>
    public int Int(string name) => Number(name, Parsed<int>(name, NumberStyles.Integer), NumberStyles.Integer, "an integer");

    /// <summary>The option's value, else its default from the spec.</summary>
    public double Double(string name) => Number(name, Parsed<double>(name, NumberStyles.Float), NumberStyles.Float, "a number");

    /// <summary>The option's value, else <paramref name="fallback"/>: for a default the code computes (the spec then states it in words, never as a value of its own).</summary>
    public int Int(string name, int fallback) => Number(name, NoSpecDefault(name, fallback), NumberStyles.Integer, "an integer");

    /// <inheritdoc cref="Int(string, int)"/>
    public double Double(string name, double fallback) => Number(name, NoSpecDefault(name, fallback), NumberStyles.Float, "a number");

    private string? SpecDefault(string name) => _spec.Find(name)?.Default;

    private T Parsed<T>(string name, NumberStyles style) where T : struct, INumber<T> =>
        SpecDefault(name) is { } d ? T.Parse(d, style, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"--{name} has no default in its command's spec; read it with a fallback");

    // One source per default: an option whose spec gives a default is read with it, never with another.
    private T NoSpecDefault<T>(string name, T fallback) =>
        SpecDefault(name) is null ? fallback : throw new InvalidOperationException($"--{name}: its spec gives the default; read it without a fallback");

    /// <summary>Three comma-separated positive integers, e.g. <c>64,160,160</c> (D,H,W).</summary>
    public int[]? Triple(string name) => PositiveTriple<int>(name, NumberStyles.Integer, "integers");

    /// <summary>Three comma-separated positive numbers, e.g. a spacing <c>2.5,0.8,0.8</c> (D,H,W).</summary>
    public double[]? DoubleTriple(string name) => PositiveTriple<double>(name, NumberStyles.Float, "numbers");

    private T Number<T>(string name, T fallback, NumberStyles style, string what) where T : struct, INumber<T>
    {
        string? s = String(name);
        if (s is null) return fallback;
        return T.TryParse(s, style, CultureInfo.InvariantCulture, out T v) ? v : throw new UsageException($"--{name} expects {what}, got '{s}'");
    }

    private T[]? PositiveTriple<T>(string name, NumberStyles style, string what) where T : struct, INumber<T>
    {
        string? s = String(name);
        if (s is null) return null;
        var values = s.Split(',', StringSplitOptions.TrimEntries)
            .Select(p => T.TryParse(p, style, CultureInfo.InvariantCulture, out T v) && v > T.Zero ? v : (T?)null)
            .ToArray();
        if (values.Length != 3 || values.Any(v => v is null))
            throw new UsageException($"--{name} expects three positive {what} {_spec.Find(name)?.Value}, got '{s}'");
        return values.Select(v => v!.Value).ToArray();
    }

    /// <summary>Fails on options no command read.</summary>
    public void EnsureAllUsed()
    {
        var unknown = _options.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"unknown option{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown.Select(u => "--" + u))}");
    }
}
