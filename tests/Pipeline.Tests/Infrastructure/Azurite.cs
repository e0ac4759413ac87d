using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using GuidedNet.TestSupport;

namespace GuidedNet.Pipeline.Tests.Infrastructure;

/// <summary>
/// A private Azurite for the test run: its own ports and folder, bound to 127.0.0.1, with
/// --skipApiVersionCheck (the current SDKs are newer than Azurite's API list). scripts/test.sh
/// installs it into .tools/azurite; AZURITE overrides the executable.
/// </summary>
public sealed class Azurite : IDisposable
{
    private const int Attempts = 3;
    private readonly Process _process;
    private readonly string _folder;

    public Azurite()
    {
        _folder = Path.Combine(Path.GetTempPath(), "guidednet-azurite-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_folder);
        // A port found free can be taken by another test process before Azurite binds it (test
        // assemblies run in parallel, each starting Azurites and hosts): Azurite then exits at once,
        // and a fresh set of ports is tried.
        for (int attempt = 1; ; attempt++)
        {
            int blob = FreePort(), queue = FreePort(), table = FreePort();
            var (process, failure) = Start(blob, queue, table);
            if (failure is null)
            {
                _process = process;
                ConnectionString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
                                   "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
                                   $"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;" +
                                   $"TableEndpoint=http://127.0.0.1:{table}/devstoreaccount1;";
                return;
            }
            process.Dispose();
            if (attempt == Attempts) throw new InvalidOperationException($"azurite did not start in {Attempts} attempts; last: {failure}");
        }
    }

    /// <returns>the process, and null when it listens on all three ports, else why not</returns>
    private (Process Process, string? Failure) Start(int blob, int queue, int table)
    {
        var info = new ProcessStartInfo(Executable()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { "--silent", "--skipApiVersionCheck", "--location", _folder,
                     "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
                     "--blobPort", $"{blob}", "--queuePort", $"{queue}", "--tablePort", $"{table}" })
            info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) errors.Enqueue(line); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        foreach (int port in new[] { blob, queue, table })
            while (!Listening(port))
            {
                if (process.HasExited)
                {
                    process.WaitForExit();   // drains the error stream
                    return (process, $"exited with {process.ExitCode} on ports {blob}/{queue}/{table}: {string.Join(" | ", errors.TakeLast(5))}");
                }
                if (DateTime.UtcNow > deadline)
                {
                    process.Kill(entireProcessTree: true);
                    throw new TimeoutException($"azurite did not listen on {port} within 30 s");
                }
                Thread.Sleep(100);
            }
        return (process, null);
    }

    public string ConnectionString { get; }

    /// <summary>CPU seconds this Azurite has used so far.</summary>
    public double CpuSeconds() => Processes.CpuSeconds(_process);

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string Executable()
    {
        if (Environment.GetEnvironmentVariable("AZURITE") is { Length: > 0 } configured) return configured;
        string local = Path.Combine(Reference.RepositoryRoot, ".tools", "azurite", "node_modules", ".bin", "azurite");
        if (File.Exists(local)) return local;
        throw new InvalidOperationException($"Azurite not found at {local}: run scripts/test.sh (it installs it with npm) or set AZURITE");
    }

    public void Dispose()
    {
        // Azurite may need a second SIGTERM to exit.
        for (int i = 0; i < 2 && !_process.HasExited; i++)
        {
            Processes.Signal(_process, 15);
            _process.WaitForExit(3000);
        }
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
