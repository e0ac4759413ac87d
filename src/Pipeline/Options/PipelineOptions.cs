using NCrontab;

namespace GuidedNet.Pipeline.Options;

/// <summary>Where the pipeline's blobs and queues live (section <c>Storage</c>).</summary>
public sealed class StorageOptions : IValidatedOptions
{
    public const string Section = "Storage";

    /// <summary>A connection string (Azurite locally). In Azure leave it empty and give the account name.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Storage account name, reached with the managed identity (no keys).</summary>
    public string? AccountName { get; set; }

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString) == string.IsNullOrWhiteSpace(AccountName))
            throw new ArgumentException($"{Section}: give exactly one of ConnectionString (Azurite, development) or AccountName (managed identity)");
    }
}

public enum JobTransport { StorageQueue, ServiceBus }

/// <summary>How job messages reach GPU workers (section <c>Jobs</c>).</summary>
public sealed class JobOptions : IValidatedOptions
{
    public const string Section = "Jobs";

    public JobTransport Transport { get; set; } = JobTransport.StorageQueue;
    public string QueueName { get; set; } = "guidednet-jobs";

    /// <summary>Service Bus namespace host (<c>name.servicebus.windows.net</c>), reached with the managed identity.</summary>
    public string? ServiceBusNamespace { get; set; }

    /// <summary>Service Bus connection string (development only; Azure uses the namespace and identity).</summary>
    public string? ServiceBusConnectionString { get; set; }

    /// <summary>Deliveries after which a message that keeps failing goes to the poison queue and its job is failed.</summary>
    public int MaxDeliveryCount { get; set; } = 3;

    /// <summary>How long a received message stays hidden; the worker extends it while the job runs.</summary>
    public TimeSpan VisibilityTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the monitor reads a job's status.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A running job whose heartbeat is older than this is taken as dead and re-dispatched.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Dispatches of one job in all (the first and the re-dispatches).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>
    /// Whether workers send a notice at each change of a job's status and orchestrations wake on it
    /// (<see cref="Jobs.JobNotices"/>); the monitor then polls only as the heartbeat check. Off:
    /// the monitor learns of every change by polling.
    /// </summary>
    public bool Notices { get; set; } = true;

    /// <summary>The storage queue of job notices; empty: <see cref="QueueName"/> + <c>-notices</c>.</summary>
    public string? NoticeQueueName { get; set; }

    public string EffectiveNoticeQueueName => string.IsNullOrWhiteSpace(NoticeQueueName) ? QueueName + "-notices" : NoticeQueueName;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(QueueName)) throw new ArgumentException($"{Section}:QueueName is empty");
        if (Transport == JobTransport.ServiceBus && string.IsNullOrWhiteSpace(ServiceBusNamespace) && string.IsNullOrWhiteSpace(ServiceBusConnectionString))
            throw new ArgumentException($"{Section}: the ServiceBus transport needs ServiceBusNamespace (or a development ServiceBusConnectionString)");
        if (MaxDeliveryCount < 1) throw new ArgumentException($"{Section}:MaxDeliveryCount must be at least 1");
        if (MaxAttempts < 1) throw new ArgumentException($"{Section}:MaxAttempts must be at least 1");
        if (PollInterval <= TimeSpan.Zero || HeartbeatTimeout <= TimeSpan.Zero || VisibilityTimeout < TimeSpan.FromSeconds(10))
            throw new ArgumentException($"{Section}: PollInterval and HeartbeatTimeout must be positive, VisibilityTimeout at least 10 s");
        if (HeartbeatTimeout < 2 * PollInterval) throw new ArgumentException($"{Section}: HeartbeatTimeout must be at least two poll intervals");
    }
}

/// <summary>When a newly trained model replaces production (section <c>Promotion</c>).</summary>
public sealed class PromotionOptions : IValidatedOptions
{
    public const string Section = "Promotion";

    /// <summary>Validation mean Dice the candidate must gain over production to be promoted.</summary>
    public double Margin { get; set; } = 0.0;

    public void Validate()
    {
        if (Margin is < -1 or > 1) throw new ArgumentException($"{Section}:Margin must be within [-1, 1]");
    }
}

/// <summary>
/// The unlabeled pool (section <c>Pool</c>): whether segmented drops join a project's dataset, and
/// how many unlabeled cases a training run uses, newest first by default; <c>Projects</c> overrides
/// any of them per project (<c>Pool__Projects__liver-ct__MaxUnlabeledCases=200</c>).
/// </summary>
public sealed class PoolOptions : IValidatedOptions
{
    public const string Section = "Pool";

    public bool JoinDroppedScans { get; set; } = true;

    /// <summary>Default 1000: a few times what a GPU trains on in a day at the paper's batch, and a bounded download.</summary>
    public int MaxUnlabeledCases { get; set; } = 1000;

    public Contracts.PoolOrder Keep { get; set; } = Contracts.PoolOrder.Newest;

    public Dictionary<string, ProjectPoolOptions> Projects { get; set; } = new();

    /// <summary>The policy of a project, with a training request's own choices on top.</summary>
    public Contracts.PoolPolicy For(string project, Contracts.TrainRequest? request = null)
    {
        var own = Projects.GetValueOrDefault(project);
        return new Contracts.PoolPolicy(
            own?.JoinDroppedScans ?? JoinDroppedScans,
            request?.MaxUnlabeled ?? own?.MaxUnlabeledCases ?? MaxUnlabeledCases,
            request?.KeepUnlabeled is { } keep ? Contracts.PoolPolicy.ParseOrder(keep) : own?.Keep ?? Keep);
    }

    public void Validate()
    {
        static void Within(int? value, string name)
        {
            if (value is < 0 or > Contracts.PoolPolicy.Limit) throw new ArgumentException($"{Section}:{name} must be within [0, {Contracts.PoolPolicy.Limit}]");
        }
        Within(MaxUnlabeledCases, nameof(MaxUnlabeledCases));
        foreach (var (project, own) in Projects) Within(own.MaxUnlabeledCases, $"Projects:{project}:{nameof(MaxUnlabeledCases)}");
    }
}

/// <summary>One project's pool settings; unset ones follow <see cref="PoolOptions"/>.</summary>
public sealed class ProjectPoolOptions
{
    public bool? JoinDroppedScans { get; set; }
    public int? MaxUnlabeledCases { get; set; }
    public Contracts.PoolOrder? Keep { get; set; }
}

/// <summary>Scheduled retraining and the drop-zone poll of the local host (section <c>Schedule</c>).</summary>
public sealed class ScheduleOptions : IValidatedOptions
{
    public const string Section = "Schedule";

    /// <summary>NCRONTAB with seconds (as Functions timers): default 02:00 every day.</summary>
    public string Retrain { get; set; } = "0 0 2 * * *";

    /// <summary>How often the local host lists the drop zone (Azure uses the blob trigger).</summary>
    public TimeSpan DropZonePoll { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How many blobs one poll lists at most (per area: scans, labels); the next poll goes on from
    /// there, so a poll's cost stays bounded however many scans the drop zone keeps.
    /// </summary>
    public int DropZonePageSize { get; set; } = DefaultDropZonePageSize;

    public const int DefaultDropZonePageSize = 1000;

    public CrontabSchedule RetrainSchedule() =>
        CrontabSchedule.Parse(Retrain, new CrontabSchedule.ParseOptions { IncludingSeconds = true });

    public void Validate()
    {
        try
        {
            RetrainSchedule();
        }
        catch (CrontabException e)
        {
            throw new ArgumentException($"{Section}:Retrain '{Retrain}' is not an NCRONTAB expression with seconds: {e.Message}");
        }
        if (DropZonePoll <= TimeSpan.Zero) throw new ArgumentException($"{Section}:DropZonePoll must be positive");
        if (DropZonePageSize is < 1 or > 5000) throw new ArgumentException($"{Section}:DropZonePageSize must be within 1..5000 (the blob service's page limit), not {DropZonePageSize}");
    }
}
