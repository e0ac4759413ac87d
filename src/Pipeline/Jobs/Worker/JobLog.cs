using System.Text;

namespace GuidedNet.Pipeline.Jobs.Worker;

/// <summary>
/// The worker's console output, also captured while a job runs so it can be stored as
/// <c>jobs/&lt;id&gt;/log.txt</c> beside the job's status (a worker runs one job at a time).
/// </summary>
public sealed class JobLog(TextWriter console) : TextWriter
{
    private readonly object _gate = new();
    private StringBuilder? _capture;

    public override Encoding Encoding => console.Encoding;

    public void Begin(string header)
    {
        lock (_gate) _capture = new StringBuilder().AppendLine(header);
    }

    /// <summary>Stops capturing and returns what the job printed.</summary>
    public string End()
    {
        lock (_gate)
        {
            string text = _capture?.ToString() ?? "";
            _capture = null;
            return text;
        }
    }

    public override void Write(char value)
    {
        lock (_gate)
        {
            console.Write(value);
            _capture?.Append(value);
        }
    }

    public override void Write(string? value)
    {
        lock (_gate)
        {
            console.Write(value);
            _capture?.Append(value);
        }
    }

    public override void WriteLine(string? value)
    {
        lock (_gate)
        {
            console.WriteLine(value);
            _capture?.Append(value).Append('\n');
        }
    }
}
