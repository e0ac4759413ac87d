using System.Diagnostics;
using System.Runtime.InteropServices;
using GuidedNet.Pipeline.Options;

namespace GuidedNet.LocalHost;

/// <summary>
/// Starts a <c>guidednet worker</c> process beside the host (CPU or local GPU) and stops it with
/// the host: SIGTERM first, so a training job checkpoints and releases its message, then a kill.
/// </summary>
public sealed partial class LocalWorkerProcess(LocalHostOptions host, StorageOptions storage, JobOptions jobs,
    ILogger<LocalWorkerProcess> log) : IHostedService
{
    private Process? _process;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        string command = host.WorkerCommand!;
        var parts = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var info = new ProcessStartInfo(parts[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string p in parts.Skip(1)) info.ArgumentList.Add(p);
        foreach (string a in new[] { "worker", "--queue", jobs.QueueName, "--max-deliveries", jobs.MaxDeliveryCount.ToString() })
            info.ArgumentList.Add(a);
        foreach (string a in host.WorkerArguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)) info.ArgumentList.Add(a);
        // The connection string travels in the environment, not on a command line other users can read.
        info.Environment["Storage__ConnectionString"] = storage.ConnectionString;
        _process = Process.Start(info) ?? throw new InvalidOperationException($"could not start the worker: {command}");
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) log.LogInformation("[worker] {Line}", e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.LogWarning("[worker] {Line}", e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        log.LogInformation("worker process {Pid} started: {Command}", _process.Id, command);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_process is null || _process.HasExited) return;
        _ = Kill(_process.Id, 15);
        using var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        grace.CancelAfter(TimeSpan.FromSeconds(20));
        try
        {
            await _process.WaitForExitAsync(grace.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
        log.LogInformation("worker process stopped");
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
