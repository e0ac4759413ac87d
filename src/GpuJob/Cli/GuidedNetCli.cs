using GuidedNet.GpuJob.Commands;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.GpuJob.Cli;

/// <summary>The <c>guidednet</c> command line: dispatches to one command and turns errors into messages and exit codes.</summary>
public static class GuidedNetCli
{
    private const string Overview = """
        guidednet — GuidedNet semi-supervised 3D segmentation

        commands:
          train       semi-supervised training on an MSD / nnU-Net dataset folder
          predict     segment scans (NIfTI, DICOM series) with a model: masks, labels.json, DICOM SEG
          evaluate    Dice, NSD, Jaccard, HD95, HD, ASD, ASSD of predicted masks against ground truth
          stats       per-organ volume, intensity, bounding box and edge contact of a mask on its scan
          synth       write a synthetic phantom dataset (tests, demos, experiments)
          convert     a DICOM series or a NumPy (z, y, x) volume to NIfTI
          bench       bench predict | train | data | validate | agreement: speed, memory, fast mode's accuracy
          upload      put a dataset or scans into the pipeline's blob storage
          download    copy results (or any prefix) from the pipeline's blob storage
          worker      the GPU job worker: runs training / prediction jobs from the job queue
        run 'guidednet <command> --help' for its options, 'guidednet --version' for this build's version
        """;

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
            string command = args[0];
            var rest = args.Skip(1).ToArray();
            switch (command)
            {
                case "predict":
                    if (WantsHelp(rest)) { output.Write(PredictCommand.Usage); return 0; }
                    return PredictCommand.Run(new CommandLineArguments(rest, PredictCommand.Flags), output, error, Cancellation);
                case "evaluate":
                    if (WantsHelp(rest)) { output.Write(EvaluateCommand.Usage); return 0; }
                    return EvaluateCommand.Run(new CommandLineArguments(rest, EvaluateCommand.Flags), output, error);
                case "train":
                    if (WantsHelp(rest)) { output.Write(TrainCommand.Usage); return 0; }
                    return TrainCommand.Run(new CommandLineArguments(rest, TrainCommand.Flags), output, Cancellation);
                case "stats":
                    if (WantsHelp(rest)) { output.Write(StatsCommand.Usage); return 0; }
                    return StatsCommand.Run(new CommandLineArguments(rest, StatsCommand.Flags), output);
                case "synth":
                    if (WantsHelp(rest)) { output.Write(SynthCommand.Usage); return 0; }
                    return SynthCommand.Run(new CommandLineArguments(rest, SynthCommand.Flags), output);
                case "convert":
                    if (WantsHelp(rest)) { output.Write(ConvertCommand.Usage); return 0; }
                    return ConvertCommand.Run(new CommandLineArguments(rest, ConvertCommand.Flags), output);
                case "upload":
                    if (WantsHelp(rest)) { output.Write(TransferCommands.UploadUsage); return 0; }
                    return TransferCommands.Upload(new CommandLineArguments(rest, TransferCommands.Flags), output, Cancellation);
                case "download":
                    if (WantsHelp(rest)) { output.Write(TransferCommands.DownloadUsage); return 0; }
                    return TransferCommands.Download(new CommandLineArguments(rest, TransferCommands.Flags), output, Cancellation);
                case "worker":
                    if (WantsHelp(rest)) { output.Write(WorkerCommand.Usage); return 0; }
                    return WorkerCommand.Run(new CommandLineArguments(rest, WorkerCommand.Flags), output, Cancellation);
                case "bench":
                    if (rest.Length > 0 && rest[0] == "train")
                    {
                        if (WantsHelp(rest)) { output.Write(TrainBenchmark.Usage); return 0; }
                        return TrainBenchmark.Run(new CommandLineArguments(rest.Skip(1), TrainBenchmark.Flags), output);
                    }
                    if (rest.Length > 0 && rest[0] == "data")
                    {
                        if (WantsHelp(rest)) { output.Write(DataBenchmark.Usage); return 0; }
                        return DataBenchmark.Run(new CommandLineArguments(rest.Skip(1), DataBenchmark.Flags), output);
                    }
                    if (rest.Length > 0 && rest[0] == "validate")
                    {
                        if (WantsHelp(rest)) { output.Write(ValidationBenchmark.Usage); return 0; }
                        return ValidationBenchmark.Run(new CommandLineArguments(rest.Skip(1), ValidationBenchmark.Flags), output);
                    }
                    if (rest.Length > 0 && rest[0] == "agreement")
                    {
                        if (WantsHelp(rest)) { output.Write(AgreementBenchmark.Usage); return 0; }
                        return AgreementBenchmark.Run(new CommandLineArguments(rest.Skip(1), AgreementBenchmark.Flags), output);
                    }
                    if (rest.Length == 0 || rest[0] != "predict" || WantsHelp(rest))
                    {
                        output.Write(BenchCommand.Usage + TrainBenchmark.Usage + DataBenchmark.Usage + ValidationBenchmark.Usage + AgreementBenchmark.Usage);
                        return rest.Length == 0 ? 2 : 0;
                    }
                    return BenchCommand.Run(new CommandLineArguments(rest.Skip(1), BenchCommand.Flags), output);
                default:
                    error.WriteLine($"error: unknown command '{command}'");
                    output.Write(Overview);
                    return 2;
            }
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
