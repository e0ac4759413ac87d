using System.Diagnostics;
using Azure.Storage.Queues;
using GuidedNet.Pipeline.Tests.Infrastructure;

namespace GuidedNet.PipelineBenchmark;

/// <summary>
/// <c>guidednet-pipeline-bench azurite-queues</c>: what one queue request costs Azurite as other
/// queues of the same Azurite fill. A receive on an empty queue and a send + delete are timed
/// while a second queue holds 0 to 8,000 invisible messages — the pipeline's case when a batch of
/// scans waits for workers (job messages) and their runs wait on durable timers (control-queue
/// messages).
/// </summary>
public static class AzuriteQueues
{
    private const int Requests = 300;

    public static async Task<int> RunAsync()
    {
        using var azurite = new Azurite();
        var empty = new QueueClient(azurite.ConnectionString, "empty");
        var backlog = new QueueClient(azurite.ConnectionString, "backlog");
        await empty.CreateIfNotExistsAsync();
        await backlog.CreateIfNotExistsAsync();

        Console.WriteLine($"({Environment.ProcessorCount} cores; one Azurite; {Requests} requests per row, one at a time; {DateTime.UtcNow:yyyy-MM-dd})");
        Console.WriteLine();
        Console.WriteLine("| messages in the other queue | receive (32) on an empty queue, ms | send + delete, ms |");
        Console.WriteLine("|---:|---:|---:|");
        int held = 0;
        foreach (int target in new[] { 0, 1000, 2000, 4000, 8000 })
        {
            while (held < target)
            {
                int batch = Math.Min(32, target - held);
                await Task.WhenAll(Enumerable.Range(0, batch).Select(_ => backlog.SendMessageAsync("job", visibilityTimeout: TimeSpan.FromHours(1))));
                held += batch;
            }
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < Requests; i++) await empty.ReceiveMessagesAsync(32);
            double receive = clock.Elapsed.TotalMilliseconds / Requests;
            clock.Restart();
            for (int i = 0; i < Requests; i++)
            {
                var sent = (await empty.SendMessageAsync("notice")).Value;
                await empty.DeleteMessageAsync(sent.MessageId, sent.PopReceipt);
            }
            double sendDelete = clock.Elapsed.TotalMilliseconds / Requests;
            Console.WriteLine($"| {target:N0} | {receive:F2} | {sendDelete:F2} |");
        }
        return 0;
    }
}
