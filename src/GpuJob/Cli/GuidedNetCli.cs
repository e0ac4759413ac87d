using GuidedNet.GpuJob.Commands;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.GpuJob.Cli;

/// <summary>The <c>guidednet</c> command line: dispatches to one command and turns errors into messages and exit codes.</summary>
public static class GuidedNetCli
{
    /// <summary>A command: its words, what it does (the overview's line), its options, and how it runs.</summary>
    private sealed record Command(string Words, string Summary, CommandSpec Spec, Func<CommandLineArguments, TextWriter, TextWriter, int> Run);

    /// <summary>Every command, defined once: the overview, each --help and the dispatch come from here.</summary>
    private static readonly Command[] Commands =
    [
        new("train", "semi-supervised training on an MSD / nnU-Net dataset folder", TrainCommand.Spec, (a, o, _) => TrainCommand.Run(a, o, Cancellation)),
        new("predict", "segment scans (NIfTI, DICOM series) with a model: masks, labels.json, DICOM SEG", PredictCommand.Spec,
            (a, o, e) => PredictCommand.Run(a, o, e, Cancellation)),
        new("evaluate", "Dice, NSD, Jaccard, HD95, HD, ASD, ASSD of predicted masks against ground truth", EvaluateCommand.Spec, EvaluateCommand.Run),
        new("calibrate-fast", "decide on labelled cases which fast-prediction parts a model keeps within bounds; writes them into the model", CalibrateFastCommand.Spec, (a, o, _) => CalibrateFastCommand.Run(a, o)),
        new("stats", "per-organ volume, intensity, bounding box and edge contact of a mask on its scan", StatsCommand.Spec, (a, o, _) => StatsCommand.Run(a, o)),
        new("synth", "write a synthetic phantom dataset (tests, demos, experiments)", SynthCommand.Spec, (a, o, _) => SynthCommand.Run(a, o)),
        new("convert", "a DICOM series or a NumPy (z, y, x) volume to NIfTI; the authors' network to a model file", ConvertCommand.Spec, (a, o, _) => ConvertCommand.Run(a, o)),
        new("bench predict", "speed and memory of prediction (--ct: a whole clinical CT, exact and fast modes)", BenchCommand.Spec, (a, o, _) => BenchCommand.Run(a, o)),
        new("bench train", "seconds per training step and peak memory", TrainBenchmark.Spec, (a, o, _) => TrainBenchmark.Run(a, o)),
        new("bench data", "training from a large unlabeled pool: step time, loader wait, memory", DataBenchmark.Spec, (a, o, _) => DataBenchmark.Run(a, o)),
        new("bench validate", "the pipeline's validation of a clinical-size case: time and memory", ValidationBenchmark.Spec, (a, o, _) => ValidationBenchmark.Run(a, o)),
        new("bench agreement", "fast mode's masks against exact prediction's and the truth", AgreementBenchmark.Spec, (a, o, _) => AgreementBenchmark.Run(a, o)),
        new("upload", "put a dataset or scans into the pipeline's blob storage", TransferCommands.UploadSpec, (a, o, _) => TransferCommands.Upload(a, o, Cancellation)),
        new("download", "copy results (or any prefix) from the pipeline's blob storage", TransferCommands.DownloadSpec, (a, o, _) => TransferCommands.Download(a, o, Cancellation)),
        new("worker", "the GPU job worker: runs training / prediction jobs from the job queue", WorkerCommand.Spec, (a, o, _) => WorkerCommand.Run(a, o, Cancellation)),
    ];

    /// <summary>Each command's words and spec, for tests and documentation.</summary>
    public static IReadOnlyList<(string Words, CommandSpec Spec)> Specs => Commands.Select(c => (c.Words, c.Spec)).ToList();

    private static string Overview =>
        "guidednet — GuidedNet semi-supervised 3D segmentation\n\ncommands:\n" +
        string.Concat(Commands.Select(c => $"  {c.Words,-17} {c.Summary}\n")) +
        "run 'guidednet <command> --help' for its options, 'guidednet --version' for this build's version\n";

    /// <summary>Cancelled by Ctrl+C / SIGTERM in the program; long commands stop cleanly (training checkpoints).</summary>
    public static CancellationToken Cancellation { get; set; }

    /// <summary>This build's version with its commit (e.g. 1.0.0+53e011f…), as recorded in what it writes.</summary>
    public static string Version { get; } =
        typeof(GuidedNetCli).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "unknown";

    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        if (args is ["--version"])
        {
            output.WriteLine($"guidednet {Version}");
            return 0;
        }
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            output.Write(Overview);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            // The longest command whose words begin the line ("bench predict" before "bench").
            var command = Commands.Where(c => c.Words.Split(' ') is var words && args.Length >= words.Length && words.SequenceEqual(args.Take(words.Length)))
                .MaxBy(c => c.Words.Length);
            if (command is null)
            {
                if (args[0] == "bench")
                {
                    output.Write(string.Concat(Commands.Where(c => c.Words.StartsWith("bench ", StringComparison.Ordinal)).Select(c => c.Spec.Usage + "\n")));
                    return args.Length == 1 ? 2 : args.Skip(1).Any(a => a is "--help" or "-h") ? 0 : 2;
                }
                error.WriteLine($"error: unknown command '{args[0]}'");
                output.Write(Overview);
                return 2;
            }
            var rest = args.Skip(command.Words.Split(' ').Length).ToArray();
            if (WantsHelp(rest))
            {
                output.Write(command.Spec.Usage);
                return 0;
            }
            return command.Run(command.Spec.Parse(rest), output, error);
        }
        catch (UsageException e)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return 2;
        }
        catch (Exception e) when (e is ScanFormatException or FileNotFoundException or InvalidDataException or InvalidOperationException or ArgumentException
                                       or Imaging.Geometry.GeometryLimitException)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return 1;
        }
    }

    /// <summary>An error is one line, whatever the message it carries (libtorch's have several).</summary>
    public static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();

    private static bool WantsHelp(string[] args) => args.Contains("--help") || args.Contains("-h");
}
