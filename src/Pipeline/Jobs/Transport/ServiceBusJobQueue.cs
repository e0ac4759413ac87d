using Azure.Identity;
using Azure.Messaging.ServiceBus;
using GuidedNet.Pipeline.Options;

namespace GuidedNet.Pipeline.Jobs.Transport;

/// <summary>
/// Job messages on an Azure Service Bus queue (peek-lock). The message id is the job id and
/// attempt, so the queue's duplicate detection drops a dispatch sent twice (an activity retried)
/// while a deliberate re-dispatch (next attempt) goes through. Poisoned messages are dead-lettered
/// with the reason; the queue's own max delivery count is the backstop.
/// </summary>
public sealed class ServiceBusJobQueue : IJobQueue
{
    private readonly ServiceBusClient _client;
    private readonly ServiceBusSender _sender;
    private readonly ServiceBusReceiver _receiver;
    private readonly TimeSpan _wait;

    public ServiceBusJobQueue(ServiceBusClient client, string queue, TimeSpan wait)
    {
        _client = client;
        _sender = client.CreateSender(queue);
        _receiver = client.CreateReceiver(queue, new ServiceBusReceiverOptions { ReceiveMode = ServiceBusReceiveMode.PeekLock });
        _wait = wait;
    }

    public static ServiceBusJobQueue Create(JobOptions jobs)
    {
        var client = jobs.ServiceBusConnectionString is { Length: > 0 } cs
            ? new ServiceBusClient(cs)
            : new ServiceBusClient(jobs.ServiceBusNamespace, new DefaultAzureCredential());
        return new ServiceBusJobQueue(client, jobs.QueueName, TimeSpan.FromSeconds(5));
    }

    /// <summary>The Service Bus message for a job: JSON body, id = job id + attempt, subject = the job kind.</summary>
    public static ServiceBusMessage ToMessage(JobMessage message) => new(JobQueue.Serialize(message))
    {
        MessageId = $"{message.JobId}.{message.Attempt}",
        Subject = message.Kind.ToString(),
        ContentType = "application/json",
        CorrelationId = message.OrchestrationId,
    };

    public Task SendAsync(JobMessage message, CancellationToken cancellation = default) =>
        _sender.SendMessageAsync(ToMessage(message), cancellation);

    public async Task<IJobDelivery?> ReceiveAsync(CancellationToken cancellation = default)
    {
        var message = await _receiver.ReceiveMessageAsync(_wait, cancellation);
        return message is null ? null : new Delivery(_receiver, message);
    }

    public async ValueTask DisposeAsync()
    {
        await _receiver.DisposeAsync();
        await _sender.DisposeAsync();
        await _client.DisposeAsync();
    }

    private sealed class Delivery(ServiceBusReceiver receiver, ServiceBusReceivedMessage message) : IJobDelivery
    {
        public JobMessage? Message { get; } = JobQueue.TryParse(message.Body.ToString());
        public string Body => message.Body.ToString();
        public int DeliveryCount => message.DeliveryCount;
        public Task RenewAsync(CancellationToken cancellation = default) => receiver.RenewMessageLockAsync(message, cancellation);
        public Task CompleteAsync(CancellationToken cancellation = default) => receiver.CompleteMessageAsync(message, cancellation);
        public Task ReleaseAsync(CancellationToken cancellation = default) => receiver.AbandonMessageAsync(message, cancellationToken: cancellation);

        public Task PoisonAsync(string reason, CancellationToken cancellation = default) =>
            receiver.DeadLetterMessageAsync(message, "PoisonJob", reason.Length > 4000 ? reason[..4000] : reason, cancellation);
    }
}
