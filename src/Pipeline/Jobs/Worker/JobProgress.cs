using System.Diagnostics;
using GuidedNet.Pipeline.Telemetry;

namespace GuidedNet.Pipeline.Jobs.Worker;

/// <summary>
/// The running job's progress, written by the job on its thread and read by the heartbeat loop;
/// <see cref="Apply"/> turns it into the next status.json.
/// </summary>
public sealed class JobProgress
{
    private readonly object _gate = new();
    private readonly Dictionary<string, double> _timings = new();
    private string _phase = JobPhases.Starting;
    private DateTime _phaseStarted = DateTime.UtcNow;
    private int? _iteration, _total, _resumedFrom;
    private Dictionary<string, double>? _losses;
    private double? _validationDice;
    private string? _checkpoint;
    private ActivityContext? _trace;
    private Activity? _stage;

    /// <summary>From now on each phase is a stage span under <paramref name="job"/> (the attempt's span), and each timing a span under its phase.</summary>
    public void Trace(ActivityContext job)
    {
        lock (_gate) _trace = job;
    }

    /// <summary>Ends the last phase's span (the attempt is over).</summary>
    public void EndTrace()
    {
        lock (_gate)
        {
            EndStage();
            _trace = null;
        }
    }

    public void Phase(string phase)
    {
        lock (_gate)
        {
            CloseTiming();
            _phase = phase;
            _phaseStarted = DateTime.UtcNow;
            EndStage();
            if (_trace is { } job)
                WithoutChangingCurrent(() =>
                {
                    _stage = PipelineTelemetry.Source.StartActivity("stage " + phase, ActivityKind.Internal, job);
                    _stage?.SetTag(PipelineTelemetry.Tags.Stage, phase);
                });
        }
    }

    private void EndStage()
    {
        if (_stage is { } stage) WithoutChangingCurrent(stage.Stop);
        _stage = null;
    }

    // Phases begin and end on whatever flow the runner is on: the spans must not become (or clear) that flow's current span.
    private static void WithoutChangingCurrent(Action action)
    {
        var current = Activity.Current;
        action();
        Activity.Current = current;
    }

    public void Training(int iteration, int total, IReadOnlyDictionary<string, double> losses, double? validationDice)
    {
        lock (_gate)
        {
            _iteration = iteration;
            _total = total;
            _losses = new Dictionary<string, double>(losses);
            _validationDice = validationDice;
        }
    }

    public void Resumed(int iteration)
    {
        lock (_gate) _resumedFrom = iteration;
    }

    public void Checkpoint(string path)
    {
        lock (_gate) _checkpoint = path;
    }

    /// <summary>A measured part of the current phase (e.g. the model's share of predicting), ending now.</summary>
    public void AddTiming(string name, double seconds)
    {
        lock (_gate)
        {
            _timings[name] = _timings.GetValueOrDefault(name) + seconds;
            if ((_stage?.Context ?? _trace) is { } parent)
                WithoutChangingCurrent(() => PipelineTelemetry.RecordStage(name, TimeSpan.FromSeconds(seconds), parent));
        }
    }

    public Dictionary<string, double> Timings()
    {
        lock (_gate)
        {
            CloseTiming();
            _phaseStarted = DateTime.UtcNow;
            return new Dictionary<string, double>(_timings);
        }
    }

    public JobStatus Apply(JobStatus status)
    {
        lock (_gate)
            return status with
            {
                Phase = _phase,
                Iteration = _iteration ?? status.Iteration,
                TotalIterations = _total ?? status.TotalIterations,
                Losses = _losses ?? status.Losses,
                ValidationDice = _validationDice ?? status.ValidationDice,
                ResumedFromIteration = _resumedFrom ?? status.ResumedFromIteration,
                LastCheckpoint = _checkpoint ?? status.LastCheckpoint,
            };
    }

    // Time in the phase so far is added to the phase's total when the phase changes or timings are read.
    private void CloseTiming()
    {
        double seconds = (DateTime.UtcNow - _phaseStarted).TotalSeconds;
        if (_phase != JobPhases.Starting) _timings[_phase] = _timings.GetValueOrDefault(_phase) + seconds;
    }
}
