using GuidedNet.GpuJob.Cli;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.GpuJob.Commands;

/// <summary><c>guidednet upload</c> / <c>download</c>: files between a local folder and the pipeline's storage.</summary>
public static class TransferCommands
{
    public static readonly IReadOnlySet<string> Flags = new HashSet<string>();

    public const string UploadUsage = """
        guidednet upload --from FILE|DIR --to CONTAINER/PATH [--storage CONN]
          --from       a file, or a folder uploaded with its relative paths (a dataset: dataset.json, imagesTr/, labelsTr/)
          --to         destination: datasets/<name> for a dataset, scans/incoming/<project> to have scans segmented
          --storage    connection string (default: the Storage__ConnectionString environment variable)
        """;

    public const string DownloadUsage = """
        guidednet download --from CONTAINER/PREFIX --to DIR [--storage CONN]
          copies every blob under the prefix (e.g. results/<project>) into DIR, keeping relative paths
        """;

    public static int Upload(CommandLineArguments args, TextWriter output, CancellationToken cancellation)
    {
        string from = args.Required("from");
        string to = args.Required("to").TrimEnd('/');
        var storage = Connect(args, cancellation);
        if (!to.Contains('/') && !BlobLayout.Containers.Contains(to)) throw new UsageException($"--to must start with one of the containers {string.Join(", ", BlobLayout.Containers)}");
        var files = File.Exists(from)
            ? new[] { (File: from, Blob: $"{to}/{Path.GetFileName(from)}") }
            : Directory.Exists(from)
                ? Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                    .Select(f => (File: f, Blob: $"{to}/{Path.GetRelativePath(from, f).Replace('\\', '/')}")).ToArray()
                : throw new UsageException($"--from {from}: no such file or folder");
        foreach (var (file, blob) in files)
            storage.UploadFileAsync(blob, file, cancellation: cancellation).GetAwaiter().GetResult();
        output.WriteLine($"uploaded {files.Length} file(s) to {to}/");
        return 0;
    }

    public static int Download(CommandLineArguments args, TextWriter output, CancellationToken cancellation)
    {
        string from = args.Required("from").TrimEnd('/') + "/";
        string to = args.Required("to");
        var storage = Connect(args, cancellation);
        var blobs = storage.ListAsync(from, cancellation).GetAwaiter().GetResult();
        foreach (var blob in blobs)
            storage.DownloadFileAsync(blob.Path, Path.Combine(to, blob.Path[from.Length..]), cancellation).GetAwaiter().GetResult();
        output.WriteLine($"downloaded {blobs.Count} file(s) from {from} to {to}");
        return 0;
    }

    private static PipelineStorage Connect(CommandLineArguments args, CancellationToken cancellation)
    {
        string? connection = args.String("storage") ?? Environment.GetEnvironmentVariable("Storage__ConnectionString");
        args.EnsureAllUsed();
        if (string.IsNullOrEmpty(connection)) throw new UsageException("--storage or Storage__ConnectionString is required");
        var storage = PipelineStorage.Create(new StorageOptions { ConnectionString = connection });
        storage.EnsureContainersAsync(cancellation).GetAwaiter().GetResult();
        return storage;
    }
}
