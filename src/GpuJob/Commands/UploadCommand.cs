using GuidedNet.GpuJob.Cli;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.GpuJob.Commands;

/// <summary><c>guidednet upload</c>: a local file or folder into the pipeline's storage (a dataset, a scan to segment).</summary>
public static class UploadCommand
{
    public static readonly IReadOnlySet<string> Flags = new HashSet<string>();

    public const string Usage = """
        guidednet upload --from FILE|DIR --to CONTAINER/PATH [--storage CONN]
          --from       a file, or a folder uploaded with its relative paths (a dataset: dataset.json, imagesTr/, labelsTr/)
          --to         destination: datasets/<name> for a dataset, scans/incoming/<project> to have scans segmented
          --storage    connection string (default: the Storage__ConnectionString environment variable)
        """;

    public static int Run(CommandLineArguments args, TextWriter output, CancellationToken cancellation)
    {
        string from = args.Required("from");
        string to = args.Required("to").TrimEnd('/');
        string? connection = args.String("storage") ?? Environment.GetEnvironmentVariable("Storage__ConnectionString");
        args.EnsureAllUsed();
        if (string.IsNullOrEmpty(connection)) throw new UsageException("--storage or Storage__ConnectionString is required");
        if (!to.Contains('/') && !BlobLayout.Containers.Contains(to)) throw new UsageException($"--to must start with one of the containers {string.Join(", ", BlobLayout.Containers)}");

        var storage = PipelineStorage.Create(new StorageOptions { ConnectionString = connection });
        storage.EnsureContainersAsync(cancellation).GetAwaiter().GetResult();
        var files = File.Exists(from)
            ? new[] { (File: from, Blob: $"{to}/{Path.GetFileName(from)}") }
            : Directory.Exists(from)
                ? Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                    .Select(f => (File: f, Blob: $"{to}/{Path.GetRelativePath(from, f).Replace('\\', '/')}")).ToArray()
                : throw new UsageException($"--from {from}: no such file or folder");
        foreach (var (file, blob) in files)
            storage.UploadFileAsync(blob, file, cancellation).GetAwaiter().GetResult();
        output.WriteLine($"uploaded {files.Length} file(s) to {to}/");
        return 0;
    }
}
