using System.Diagnostics;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Telemetry;

/// <summary>
/// An activity run inside a span of its run's trace (<see cref="PipelineTelemetry.StartRunSpan"/>):
/// how both hosts run every pipeline activity, so each step of a run shows in its trace with its
/// duration and, when it throws, the error.
/// </summary>
public sealed class TracedActivity(string name, ITaskActivity inner) : ITaskActivity
{
    public Type InputType => inner.InputType;
    public Type OutputType => inner.OutputType;

    public async Task<object?> RunAsync(TaskActivityContext context, object? input)
    {
        using var span = PipelineTelemetry.StartRunSpan("activity " + name, context.InstanceId);
        span?.SetTag(PipelineTelemetry.Tags.Task, name);
        try
        {
            return await inner.RunAsync(context, input);
        }
        catch (Exception e)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            span?.AddException(e);
            throw;
        }
    }
}
