using System.Text;
using Microsoft.Extensions.Logging;

namespace GuidedNet.Pipeline.Telemetry;

/// <summary>
/// A console that is also a log: what the worker prints goes to <paramref name="inner"/> as before,
/// and each complete line becomes a log record, so the worker's output reaches the same backend as
/// its traces (Application Insights in Azure) instead of only the container's stdout.
/// </summary>
public sealed class LoggedTextWriter(TextWriter inner, ILogger logger) : TextWriter
{
    private readonly StringBuilder _line = new();
    private readonly object _gate = new();

    public override Encoding Encoding => inner.Encoding;

    public override void Write(char value)
    {
        lock (_gate)
        {
            inner.Write(value);
            Take(value);
        }
    }

    public override void Write(string? value)
    {
        if (value is null) return;
        lock (_gate)
        {
            inner.Write(value);
            foreach (char c in value) Take(c);
        }
    }

    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

    public override void WriteLine(string? value) => Write(value + NewLine);

    public override void Flush() => inner.Flush();

    private void Take(char c)
    {
        if (c == '\n')
        {
            string line = _line.ToString();
            _line.Clear();
            if (line.Length > 0) logger.LogInformation("{Line}", line);
        }
        else if (c != '\r') _line.Append(c);
    }
}
