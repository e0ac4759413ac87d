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

    public CommandLineArguments(IEnumerable<string> args, IReadOnlySet<string> flags)
    {
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
            else if (!flags.Contains(name))
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

    public string? String(string name)
    {
        _read.Add(name);
        return _options.TryGetValue(name, out var v) ? v : null;
    }

    public string Required(string name) => String(name) ?? throw new UsageException($"--{name} is required");

    public int Int(string name, int fallback)
    {
        string? s = String(name);
        if (s is null) return fallback;
        return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new UsageException($"--{name} expects an integer, got '{s}'");
    }

    public double Double(string name, double fallback)
    {
        string? s = String(name);
        if (s is null) return fallback;
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            ? v
            : throw new UsageException($"--{name} expects a number, got '{s}'");
    }

    /// <summary>Three comma-separated integers, e.g. <c>64,160,160</c> (D,H,W).</summary>
    public int[]? Triple(string name)
    {
        string? s = String(name);
        if (s is null) return null;
        var parts = s.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 3 || parts.Any(p => !int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v <= 0))
            throw new UsageException($"--{name} expects three positive integers D,H,W, got '{s}'");
        return parts.Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Fails on options no command read.</summary>
    public void EnsureAllUsed()
    {
        var unknown = _options.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"unknown option{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown.Select(u => "--" + u))}");
    }
}
