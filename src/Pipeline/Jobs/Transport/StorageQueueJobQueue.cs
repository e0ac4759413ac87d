using Azure.Identity;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using GuidedNet.Pipeline.Options;

namespace GuidedNet.Pipeline.Jobs.Transport;

/// <summary>
/// Job messages on an Azure Storage queue (Azurite locally). A received message is hidden for
/// the visibility timeout and the worker extends it while the job runs; poisoned messages go to
/// <c>&lt;queue&gt;-poison</c>, the name Functions' queue trigger uses too.
/// </summary>
public sealed class StorageQueueJobQueue : IJobQueue
{
    private readonly QueueClient _queue;
    private readonly QueueClient _poison;
    private readonly TimeSpan _visibility;
    private bool _created;

    public StorageQueueJobQueue(QueueClient queue, QueueClient poison, TimeSpan visibility)
    {
        _queue = queue;
        _poison = poison;
        _visibility = visibility;
    }

    public static StorageQueueJobQueue Create(StorageOptions storage, JobOptions jobs) =>
        new(Client(storage, jobs.QueueName), Client(storage, jobs.QueueName + "-poison"), jobs.VisibilityTimeout);

    /// <summary>A queue of the pipeline's account: by connection string (Azurite) or by managed identity; bodies as plain text.</summary>
    public static QueueClient Client(StorageOptions storage, string name)
    {
        storage.Validate();
        var options = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None };
        return storage.ConnectionString is { Length: > 0 } cs
            ? new QueueClient(cs, name, options)
            : new QueueClient(new Uri($"https://{storage.AccountName}.queue.core.windows.net/{name}"), new DefaultAzureCredential(), options);
    }

    private async Task EnsureAsync(CancellationToken cancellation)
    {
        if (_created) return;
        await _queue.CreateIfNotExistsAsync(cancellationToken: cancellation);
        await _poison.CreateIfNotExistsAsync(cancellationToken: cancellation);
        _created = true;
    }

    public async Task SendAsync(JobMessage message, CancellationToken cancellation = default)
    {
        await EnsureAsync(cancellation);
        await _queue.SendMessageAsync(JobQueue.Serialize(message), cancellation);
    }

    public async Task<IJobDelivery?> ReceiveAsync(CancellationToken cancellation = default)
    {
        await EnsureAsync(cancellation);
        QueueMessage? message = (await _queue.ReceiveMessageAsync(_visibility, cancellation)).Value;
        return message is null ? null : new Delivery(this, message);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class Delivery(StorageQueueJobQueue owner, QueueMessage message) : IJobDelivery
    {
        private string _popReceipt = message.PopReceipt;

        public JobMessage? Message { get; } = JobQueue.TryParse(message.Body.ToString());
        public string Body => message.Body.ToString();
        public int DeliveryCount => (int)message.DequeueCount;

        public async Task RenewAsync(CancellationToken cancellation = default) =>
            _popReceipt = (await owner._queue.UpdateMessageAsync(message.MessageId, _popReceipt, visibilityTimeout: owner._visibility, cancellationToken: cancellation)).Value.PopReceipt;

        public async Task CompleteAsync(CancellationToken cancellation = default) =>
            await owner._queue.DeleteMessageAsync(message.MessageId, _popReceipt, cancellation);

        public async Task ReleaseAsync(CancellationToken cancellation = default) =>
            _popReceipt = (await owner._queue.UpdateMessageAsync(message.MessageId, _popReceipt, visibilityTimeout: TimeSpan.Zero, cancellationToken: cancellation)).Value.PopReceipt;

        public async Task PoisonAsync(string reason, CancellationToken cancellation = default)
        {
            await owner._poison.SendMessageAsync(Body, cancellation);
            await CompleteAsync(cancellation);
        }
    }
}
