using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using GuidedNet.TestSupport;

namespace GuidedNet.Pipeline.Tests.Infrastructure;

/// <summary>The built programs the tests run as real processes, and process helpers.</summary>
public static partial class Processes
{
    private static string Configuration => AppContext.BaseDirectory.Contains("/Debug/") ? "Debug" : "Release";

    public static string GuidedNet => Output("GpuJob", "guidednet.dll");
    public static string LocalHost => Output("LocalHost", "guidednet-local.dll");

    private static string Output(string project, string dll)
    {
        string path = Path.Combine(Reference.RepositoryRoot, "src", project, "bin", Configuration, "net10.0", "linux-x64", dll);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path}: build the solution first", path);
    }

    /// <summary>The CPU time (user + system) a running process has used so far, in seconds (/proc/&lt;pid&gt;/stat).</summary>
    public static double CpuSeconds(Process process)
    {
        string stat = File.ReadAllText($"/proc/{process.Id}/stat");
        // After the command name (in parentheses, and it may hold spaces) come the state, then utime and stime as the 12th and 13th fields, in clock ticks of 1/100 s.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture)) / 100.0;
    }

    public static void Signal(Process process, int signal)
    {
        try
        {
            if (!process.HasExited) _ = Kill(process.Id, signal);
        }
        catch (InvalidOperationException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}

/// <summary>A child process whose output is kept for the test's failure message.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    public ChildProcess(string dll, IEnumerable<string> arguments, IDictionary<string, string> environment)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (string a in arguments) info.ArgumentList.Add(a);
        foreach (var (k, v) in environment) info.Environment[k] = v;
        info.Environment["Logging__Console__FormatterName"] = "simple";
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Waits for the process to end; its exit code.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit((int)timeout.TotalMilliseconds)) throw new TimeoutException($"still running after {timeout}:\n{Output}");
        _process.WaitForExit(); // drains the output
        return _process.ExitCode;
    }

    public string Output => string.Join("\n", _lines.TakeLast(200));

    /// <summary>The process's peak resident set so far (VmHWM), in MB; it must still be running.</summary>
    public double PeakRssMb()
    {
        foreach (string line in File.ReadLines($"/proc/{_process.Id}/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
        throw new InvalidOperationException($"/proc/{_process.Id}/status has no VmHWM");
    }

    /// <summary>CPU seconds the process has used so far; it must still be running.</summary>
    public double CpuSeconds() => Processes.CpuSeconds(_process);

    public bool Printed(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>SIGTERM, then wait for a clean exit.</summary>
    public bool Stop(TimeSpan grace)
    {
        Processes.Signal(_process, 15);
        return _process.WaitForExit((int)grace.TotalMilliseconds);
    }

    /// <summary>SIGSTOP: the process is frozen where it is, as a stalled VM or a long GC pause would leave it.</summary>
    public void Freeze() => Processes.Signal(_process, 19);

    /// <summary>SIGCONT: a frozen process carries on from where it stopped.</summary>
    public void Resume() => Processes.Signal(_process, 18);

    /// <summary>SIGKILL: the process dies without any chance to clean up.</summary>
    public void KillHard()
    {
        Processes.Signal(_process, 9);
        _process.WaitForExit(10000);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Stop(TimeSpan.FromSeconds(10));
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }
}
