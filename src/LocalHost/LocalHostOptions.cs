using GuidedNet.Pipeline.Options;

namespace GuidedNet.LocalHost;

/// <summary>The workstation host's own settings (section <c>LocalHost</c>).</summary>
public sealed class LocalHostOptions : IValidatedOptions
{
    public const string Section = "LocalHost";

    /// <summary>Durable task hub; give each run its own (letters and digits, 3 to 45 characters).</summary>
    public string TaskHub { get; set; } = "guidednetlocal";

    /// <summary>HTTP API port on 127.0.0.1 (the Functions routes under /api).</summary>
    public int ApiPort { get; set; } = 7071;

    /// <summary>Port of the durable backend's gRPC endpoint on 127.0.0.1 (0: API port + 1).</summary>
    public int GrpcPort { get; set; }

    /// <summary>When set, the host starts a GPU job worker process with this command line (e.g. "dotnet /path/guidednet.dll").</summary>
    public string? WorkerCommand { get; set; }

    /// <summary>Extra worker arguments (device, threads...).</summary>
    public string WorkerArguments { get; set; } = "";

    public int EffectiveGrpcPort => GrpcPort == 0 ? ApiPort + 1 : GrpcPort;

    public void Validate()
    {
        if (TaskHub.Length is < 3 or > 45 || !TaskHub.All(char.IsAsciiLetterOrDigit) || !char.IsAsciiLetter(TaskHub[0]))
            throw new ArgumentException($"{Section}:TaskHub '{TaskHub}' must be 3-45 letters and digits, starting with a letter");
        if (ApiPort is < 1 or > 65535 || EffectiveGrpcPort is < 1 or > 65535 || EffectiveGrpcPort == ApiPort)
            throw new ArgumentException($"{Section}: ApiPort and GrpcPort must be distinct ports");
    }
}
