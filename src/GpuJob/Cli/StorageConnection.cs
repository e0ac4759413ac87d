namespace GuidedNet.GpuJob.Cli;

/// <summary>
/// Where the commands that reach blob storage get the connection string: the environment
/// (<c>Storage__ConnectionString</c>) or a file (<c>--storage-file</c>), never the command line,
/// where every user of the machine can read it in the process list.
/// </summary>
public static class StorageConnection
{
    public const string Variable = "Storage__ConnectionString";
    private const int MaxFileBytes = 8 << 10;

    /// <summary>The connection string from <c>--storage-file</c> or the environment; null when neither gives one.</summary>
    public static string? Resolve(CommandLineArguments args)
    {
        if (args.Has("storage"))
            throw new UsageException($"--storage would put the connection string (and its account key) in the process list: set {Variable}, or pass --storage-file FILE");
        if (args.String("storage-file") is { } file)
        {
            var info = new FileInfo(file);
            if (!info.Exists) throw new UsageException($"--storage-file {file}: no such file");
            if (info.Length > MaxFileBytes) throw new UsageException($"--storage-file {file}: {info.Length} bytes; a connection string is at most {MaxFileBytes}");
            return File.ReadAllText(file).Trim();
        }
        return Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null;
    }
}
