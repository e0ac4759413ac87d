using System.Text;

namespace GuidedNet.GpuJob.Cli;

/// <summary>One option of a command: what <c>--help</c> shows and what the parser accepts.</summary>
/// <param name="Value">the value's placeholder (<c>N</c>, <c>DIR</c>, <c>D,H,W</c>); null for a switch</param>
/// <param name="Help">what it does; an axis order is spelt out where the value is a size</param>
/// <param name="Default">
/// the value used when the option is not given, as the parser reads it (<see cref="CommandLineArguments.Int(string)"/>
/// and friends take it from here, so help and code cannot disagree); null when there is none or it is
/// not one value (then <paramref name="DefaultText"/> says what happens)
/// </param>
/// <param name="DefaultText">what happens without the option when that is not one value (e.g. "the model's training patch")</param>
/// <param name="Hidden">accepted but not shown: how a benchmark talks to its child processes, or an option kept only to be refused with its reason</param>
public sealed record OptionSpec(string Name, string? Value, string Help, string? Default = null, string? DefaultText = null, bool Hidden = false)
{
    public bool IsSwitch => Value is null;
}

/// <summary>
/// A command's options, defined once: its <c>--help</c> is generated from them, the parser refuses
/// any other option, and a default given here is the default the command uses.
/// </summary>
public sealed class CommandSpec
{
    private const int Column = 26, Width = 104;
    private readonly Dictionary<string, OptionSpec> _options;

    /// <param name="synopsis">the first line(s): how the command is called</param>
    /// <param name="notes">text after the options (what is written, exit codes)</param>
    public CommandSpec(string synopsis, IEnumerable<OptionSpec> options, string? notes = null)
    {
        Options = options.ToList();
        _options = new Dictionary<string, OptionSpec>(StringComparer.Ordinal);
        foreach (var option in Options)
            if (!_options.TryAdd(option.Name, option)) throw new ArgumentException($"--{option.Name} is defined twice");
        Usage = Render(synopsis, Options, notes);
    }

    public IReadOnlyList<OptionSpec> Options { get; }
    public string Usage { get; }
    public OptionSpec? Find(string name) => _options.GetValueOrDefault(name);

    public CommandLineArguments Parse(IEnumerable<string> args) => new(args, this);

    /// <summary>This command's options followed by <paramref name="more"/> (shared groups such as the compute options).</summary>
    public static IEnumerable<OptionSpec> With(IEnumerable<OptionSpec> options, IEnumerable<OptionSpec> more) => options.Concat(more);

    private static string Render(string synopsis, IReadOnlyList<OptionSpec> options, string? notes)
    {
        var text = new StringBuilder();
        foreach (string line in synopsis.Split('\n')) text.Append(line.TrimEnd()).Append('\n');
        foreach (var option in options.Where(o => !o.Hidden))
        {
            string head = "  --" + option.Name + (option.Value is null ? "" : " " + option.Value);
            string help = option.Help + (option.Default is { } d ? $" (default: {d})" : option.DefaultText is { } t ? $" (default: {t})" : "");
            var words = help.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var line = new StringBuilder(head.Length + 1 < Column ? head.PadRight(Column) : head + "\n" + new string(' ', Column));
            int lineStart = line.ToString().LastIndexOf('\n') + 1;
            bool first = true;
            foreach (string word in words)
            {
                if (!first && line.Length - lineStart + 1 + word.Length > Width)
                {
                    text.Append(line.ToString().TrimEnd()).Append('\n');
                    line.Clear().Append(new string(' ', Column));
                    lineStart = 0;
                    first = true;
                }
                if (!first) line.Append(' ');
                line.Append(word);
                first = false;
            }
            text.Append(line.ToString().TrimEnd()).Append('\n');
        }
        if (notes is not null)
            foreach (string line in notes.Split('\n')) text.Append(line.TrimEnd()).Append('\n');
        return text.ToString();
    }
}
