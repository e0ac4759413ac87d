using System.Text.Json;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Jobs.Transport;

/// <summary>
/// The queue between orchestrations and GPU workers. Two real implementations: Azure Storage
/// queues (Azurite locally) and Azure Service Bus; configuration (<see cref="JobOptions.Transport"/>) picks one.
/// </summary>
public interface IJobQueue : IAsyncDisposable
{
    Task SendAsync(JobMessage message, CancellationToken cancellation = default);

    /// <summary>The next message, hidden from other workers until completed, released or its lease runs out; null when the queue is empty.</summary>
    Task<IJobDelivery?> ReceiveAsync(CancellationToken cancellation = default);
}

/// <summary>One received message and what a worker can do with it.</summary>
public interface IJobDelivery
{
    /// <summary>The job, or null when the body is not a job message (it is then poisoned at once).</summary>
    JobMessage? Message { get; }

    string Body { get; }

    /// <summary>How many times this message has been delivered, this delivery included.</summary>
    int DeliveryCount { get; }

    /// <summary>Keeps the message hidden (storage queue visibility, Service Bus lock) while the job runs.</summary>
    Task RenewAsync(CancellationToken cancellation = default);

    /// <summary>Done with it: removes the message.</summary>
    Task CompleteAsync(CancellationToken cancellation = default);

    /// <summary>Gives the message back for another worker now (shutdown, transient failure).</summary>
    Task ReleaseAsync(CancellationToken cancellation = default);

    /// <summary>Moves the message to the poison queue / dead-letter queue with the reason.</summary>
    Task PoisonAsync(string reason, CancellationToken cancellation = default);
}

public static class JobQueue
{
    public static IJobQueue Create(JobOptions jobs, StorageOptions storage)
    {
        jobs.Validate();
        return jobs.Transport switch
        {
            JobTransport.StorageQueue => StorageQueueJobQueue.Create(storage, jobs),
            JobTransport.ServiceBus => ServiceBusJobQueue.Create(jobs),
            _ => throw new ArgumentException($"unknown job transport {jobs.Transport}"),
        };
    }

    public static string Serialize(JobMessage message) => JsonSerializer.Serialize(message, PipelineStorage.Json);

    public static JobMessage? TryParse(string body)
    {
        try
        {
            var message = JsonSerializer.Deserialize<JobMessage>(body, PipelineStorage.Json);
            return message is { JobId.Length: > 0 } && (message.Train is not null || message.Predict is not null) ? message : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
