using System.Globalization;
using GuidedNet.Runtime;

namespace GuidedNet.GpuJob.Cli;

/// <summary>
/// The compute options every command that runs a network takes, read and handed on to child
/// processes in one place so that a new option reaches every command and every child.
/// </summary>
public static class ComputeArguments
{
    public const string Tf32 = "tf32", NoOneDnn = "no-onednn";

    /// <summary>The compute options, for the specs of the commands that take them.</summary>
    public static readonly IReadOnlyList<OptionSpec> Options =
    [
        new("device", "D", "auto | cpu | cuda (or cuda:N)", Default: "auto"),
        new("threads", "N", "CPU threads; 0 is one per core", Default: "0"),
        new(Tf32, null, "allow TF32 on CUDA (faster; off by default to match fp32 results)"),
        new(NoOneDnn, null, "CPU convolutions without oneDNN (~25x slower training; for machines where oneDNN's results are not reproducible, see docs/performance.md)"),
    ];

    public static ComputeOptions Read(CommandLineArguments args) => new()
    {
        Device = args.String("device")!,
        Threads = args.Int("threads"),
        AllowTf32 = args.Flag(Tf32),
        UseOneDnn = !args.Flag(NoOneDnn),
    };

    /// <summary>The same options as command-line arguments, for a child process.</summary>
    public static IEnumerable<string> ToArguments(ComputeOptions options)
    {
        yield return "--device";
        yield return options.Device;
        yield return "--threads";
        yield return options.Threads.ToString(CultureInfo.InvariantCulture);
        if (options.AllowTf32) yield return "--" + Tf32;
        if (!options.UseOneDnn) yield return "--" + NoOneDnn;
    }
}
