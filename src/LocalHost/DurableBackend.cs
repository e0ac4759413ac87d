using DurableTask.AzureStorage;
using DurableTask.Core;
using GuidedNet.Pipeline.Options;

namespace GuidedNet.LocalHost;

/// <summary>
/// The durable backend of the workstation: Azure Storage (Azurite) tables, queues and blobs under
/// the task hub's name — the provider Durable Functions uses by default, so state survives restarts.
/// They live beside the pipeline's blobs unless LocalHost:DurableStorageConnectionString names another Azurite.
/// </summary>
public static class DurableBackend
{
    public static async Task<AzureStorageOrchestrationService> CreateAsync(StorageOptions storage, LocalHostOptions host, ILoggerFactory loggers)
    {
        string? connection = string.IsNullOrEmpty(host.DurableStorageConnectionString) ? storage.ConnectionString : host.DurableStorageConnectionString;
        if (string.IsNullOrEmpty(connection))
            throw new ArgumentException("the local host needs Storage:ConnectionString (Azurite), or LocalHost:DurableStorageConnectionString for its durable backend");
        var service = new AzureStorageOrchestrationService(new AzureStorageOrchestrationServiceSettings
        {
            TaskHubName = host.TaskHub,
            StorageAccountClientProvider = new StorageAccountClientProvider(connection),
            LoggerFactory = loggers,
            CustomMessageTypeBinder = new ProtobufTagsTypeBinder(),
            PartitionCount = 1,
            UseTablePartitionManagement = true,
            // Short polling and leases: a workstation wants seconds of latency, and a restarted host
            // must take its partition back quickly.
            MaxQueuePollingInterval = TimeSpan.FromMilliseconds(250),
            LeaseInterval = TimeSpan.FromSeconds(10),
            LeaseRenewInterval = TimeSpan.FromSeconds(3),
            LeaseAcquireInterval = TimeSpan.FromSeconds(2),
            PartitionTableOperationTimeout = TimeSpan.FromSeconds(10),
            // A message a stopped host was working on comes back after this long (default 5 min):
            // a restarted host picks its orchestrations up within half a minute.
            ControlQueueVisibilityTimeout = TimeSpan.FromSeconds(30),
            WorkItemQueueVisibilityTimeout = TimeSpan.FromSeconds(30),
            MaxConcurrentTaskActivityWorkItems = host.MaxConcurrentActivities,
            MaxConcurrentTaskOrchestrationWorkItems = host.MaxConcurrentOrchestrations,
        });
        await service.CreateIfNotExistsAsync();
        return service;
    }
}
