using GuidedNet.GpuJob.Cli;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.GpuJob.Commands;

/// <summary><c>guidednet upload</c> / <c>download</c>: files between a local folder and the pipeline's storage.</summary>
public static class TransferCommands
{
    /// <summary>The storage options of every command that reaches blob storage.</summary>
    public static readonly IReadOnlyList<OptionSpec> StorageOptions =
    [
        new("storage-file", "FILE", "a file holding the storage connection string (never on the command line, where other users can read it)", DefaultText: "the Storage__ConnectionString environment variable"),
        new("storage", "CONN", "refused: the connection string would show in the process list", Hidden: true),
    ];

    public static readonly CommandSpec UploadSpec = new("guidednet upload --from FILE|DIR --to CONTAINER/PATH [--storage-file FILE]", CommandSpec.With(
    [
        new("from", "FILE|DIR", "a file, or a folder uploaded with its relative paths (a dataset: dataset.json, imagesTr/, labelsTr/)"),
        new("to", "PATH", "destination: datasets/<name> for a dataset, scans/incoming/<project> to have scans segmented"),
    ], StorageOptions));

    public static readonly CommandSpec DownloadSpec = new("guidednet download --from CONTAINER/PREFIX --to DIR [--storage-file FILE]", CommandSpec.With(
    [
        new("from", "PREFIX", "every blob under the prefix (e.g. results/<project>) is copied, keeping relative paths"),
        new("to", "DIR", "the folder to copy into; a blob whose name would land outside it is refused, and nothing is written then"),
    ], StorageOptions));

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
        // Every name is checked before anything is written: a refused one stops the upload whole.
        foreach (var (_, blob) in files) BlobLayout.Split(blob);
        foreach (var (file, blob) in files)
            storage.UploadFileAsync(blob, file, cancellation: cancellation).GetAwaiter().GetResult();
        output.WriteLine($"uploaded {files.Length} file(s) to {to}/");
        return 0;
    }

    public static int Download(CommandLineArguments args, TextWriter output, CancellationToken cancellation)
    {
        string from = args.Required("from").TrimEnd('/') + "/";
        string to = Path.GetFullPath(args.Required("to"));
        var storage = Connect(args, cancellation);
        var blobs = storage.ListAsync(from, cancellation).GetAwaiter().GetResult();
        var targets = blobs.Select(b => (Blob: b.Path, File: Target(to, b.Path[from.Length..], b.Path))).ToList();
        foreach (var (blob, file) in targets)
            storage.DownloadFileAsync(blob, file, cancellation).GetAwaiter().GetResult();
        output.WriteLine($"downloaded {blobs.Count} file(s) from {from} to {to}");
        return 0;
    }

    /// <summary>Where a blob goes under <paramref name="root"/>; a name that resolves outside it (absolute, '..') is refused.</summary>
    public static string Target(string root, string relative, string blob)
    {
        string full = Path.GetFullPath(Path.Combine(root, relative));
        string inside = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        if (relative.Length == 0 || Path.IsPathRooted(relative) || !full.StartsWith(inside, StringComparison.Ordinal))
            throw new InvalidDataException($"{BlobLayout.Shown(blob)}: its name would be written outside {root}; nothing was downloaded");
        return full;
    }

    private static PipelineStorage Connect(CommandLineArguments args, CancellationToken cancellation)
    {
        string? connection = StorageConnection.Resolve(args);
        args.EnsureAllUsed();
        if (connection is null) throw new UsageException($"set {StorageConnection.Variable} or pass --storage-file FILE");
        var storage = PipelineStorage.Create(new StorageOptions { ConnectionString = connection });
        storage.EnsureContainersAsync(cancellation).GetAwaiter().GetResult();
        return storage;
    }
}
