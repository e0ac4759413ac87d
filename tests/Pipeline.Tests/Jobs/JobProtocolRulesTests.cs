using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Options;

namespace GuidedNet.Pipeline.Tests.Jobs;

/// <summary>
/// The job protocol's rules as pure functions: every transition from every state, the ownership
/// rule a worker applies to a delivery, and the monitor's decision at given times (the clock is a
/// parameter, so heartbeat timeouts are tested to the millisecond without waiting).
/// </summary>
public sealed class JobProtocolRulesTests
{
    private static readonly DateTime T0 = new(2026, 11, 29, 12, 0, 0, DateTimeKind.Utc);

    private static readonly JobMessage Message = new()
    {
        JobId = "train~ds~v1~train", Kind = JobKind.Train, OrchestrationId = "train~ds~v1",
        Train = new TrainJob("ds", "v1", "datasets/ds/manifests/v1.json", "models/ds/v1/", new Contracts.TrainRequest()),
    };

    private static JobStatus Queued(int attempt = 1) => JobTransitions.Queued(Message with { Attempt = attempt }, null, T0);
    private static JobStatus Running(int attempt = 1, string owner = "w1#a", DateTime? beat = null) =>
        JobTransitions.Started(Queued(attempt), "w1", owner, T0) with { HeartbeatUtc = beat ?? T0 };

    public static TheoryData<string> States => new() { "none", "queued", "released", "retrying", "running", "succeeded", "failed", "poisoned", "cancelled" };

    private static JobStatus? State(string name)
    {
        var running = Running();
        return name switch
        {
            "none" => null,
            "queued" => Queued(),
            "released" => JobTransitions.Released(running, T0),
            "retrying" => JobTransitions.Retrying(running, "IOException: disk", T0),
            "running" => running,
            "succeeded" => JobTransitions.Succeeded(running, Array.Empty<JobOutput>(), T0),
            "failed" => JobTransitions.Failed(running, "dead", T0),
            "poisoned" => JobTransitions.Poisoned(running, "too many deliveries", T0),
            "cancelled" => JobTransitions.Cancelled(running, T0),
            _ => throw new ArgumentException(name),
        };
    }

    private static readonly Dictionary<JobEvent, Func<JobStatus?, JobStatus>> Fire = new()
    {
        [JobEvent.Queued] = s => JobTransitions.Queued(Message with { Attempt = (s?.Attempt ?? 0) + 1 }, s, T0),
        [JobEvent.Started] = s => JobTransitions.Started(s!, "w2", "w2#b", T0),
        [JobEvent.Heartbeat] = s => JobTransitions.Heartbeat(s!, T0.AddSeconds(1)),
        [JobEvent.Released] = s => JobTransitions.Released(s!, T0),
        [JobEvent.Retrying] = s => JobTransitions.Retrying(s!, "error", T0),
        [JobEvent.Poisoned] = s => JobTransitions.Poisoned(s!, "reason", T0),
        [JobEvent.Failed] = s => JobTransitions.Failed(s!, "reason", T0),
        [JobEvent.Succeeded] = s => JobTransitions.Succeeded(s!, new[] { new JobOutput("jobs/j/attempts/1/outputs/m", "models/ds/v1/m", "00") }, T0),
        [JobEvent.Cancelled] = s => JobTransitions.Cancelled(s!, T0),
    };

    // The life cycle of docs/pipeline.md: which events each state allows, and where each leads.
    private static readonly Dictionary<string, Dictionary<JobEvent, (JobState State, string Phase)>> Allowed = new()
    {
        ["none"] = new() { [JobEvent.Queued] = (JobState.Queued, JobPhases.Queued) },
        ["queued"] = QueuedMoves(),
        ["released"] = QueuedMoves(),
        ["retrying"] = QueuedMoves(),
        ["running"] = new()
        {
            [JobEvent.Queued] = (JobState.Queued, JobPhases.Queued),
            [JobEvent.Heartbeat] = (JobState.Running, JobPhases.Starting),
            [JobEvent.Released] = (JobState.Queued, JobPhases.Released),
            [JobEvent.Retrying] = (JobState.Queued, JobPhases.Retrying),
            [JobEvent.Poisoned] = (JobState.Failed, JobPhases.Poisoned),
            [JobEvent.Failed] = (JobState.Failed, JobPhases.Failed),
            [JobEvent.Succeeded] = (JobState.Succeeded, JobPhases.Done),
            [JobEvent.Cancelled] = (JobState.Cancelled, JobPhases.Cancelled),
        },
        ["succeeded"] = new(),
        ["failed"] = new(),
        ["poisoned"] = new(),
        ["cancelled"] = new(),
    };

    private static Dictionary<JobEvent, (JobState, string)> QueuedMoves() => new()
    {
        [JobEvent.Queued] = (JobState.Queued, JobPhases.Queued),
        [JobEvent.Started] = (JobState.Running, JobPhases.Starting),
        [JobEvent.Poisoned] = (JobState.Failed, JobPhases.Poisoned),
        [JobEvent.Failed] = (JobState.Failed, JobPhases.Failed),
        [JobEvent.Cancelled] = (JobState.Cancelled, JobPhases.Cancelled),
    };

    [Theory]
    [MemberData(nameof(States))]
    public void Every_event_from_every_state_follows_the_life_cycle(string state)
    {
        foreach (var e in Enum.GetValues<JobEvent>())
        {
            var from = State(state);
            bool allowed = Allowed[state].TryGetValue(e, out var to);
            Assert.Equal(allowed, JobTransitions.IsAllowed(e, from));
            if (allowed)
            {
                var next = Fire[e](from);
                Assert.Equal(to.State, next.State);
                Assert.Equal(to.Phase, next.Phase);
                Assert.Equal(next.State == JobState.Running, next.Owner is not null);
            }
            else
            {
                var error = Assert.Throws<JobProtocolException>(() => Fire[e](from));
                Assert.Contains(e.ToString().ToLowerInvariant(), error.Message);
            }
        }
    }

    [Fact]
    public void A_new_attempt_carries_the_checkpoint_and_the_reason_the_last_one_ended_and_cannot_go_backwards()
    {
        var running = Running() with { LastCheckpoint = "jobs/j/attempts/1/checkpoint.zip", ResumedFromIteration = 40, Error = "worker died" };
        var next = JobTransitions.Queued(Message with { Attempt = 2 }, running, T0.AddMinutes(1));
        Assert.Equal(2, next.Attempt);
        Assert.Null(next.Owner);
        Assert.Equal("jobs/j/attempts/1/checkpoint.zip", next.LastCheckpoint);
        Assert.Equal("worker died", next.Error);
        Assert.Null(next.ResumedFromIteration);
        Assert.Throws<JobProtocolException>(() => JobTransitions.Queued(Message with { Attempt = 2 }, next, T0));
        Assert.Throws<JobProtocolException>(() => JobTransitions.Queued(Message with { Attempt = 1 }, next, T0));
        var started = JobTransitions.Started(next, "w2", "w2#x", T0.AddMinutes(3));
        Assert.Equal(120, started.Timings["queueWait"], 6);
    }

    [Fact]
    public void The_ownership_rule_decides_every_delivery()
    {
        var message = Message with { Attempt = 2 };
        DeliveryDecision Decide(JobStatus? status, bool cancel = false, int deliveries = 1) => JobOwnership.OnDelivery(status, message, cancel, deliveries, 3);

        Assert.Equal(DeliveryAction.Drop, Decide(null).Action);
        Assert.Equal(DeliveryAction.Run, Decide(Queued(2)).Action);
        Assert.Equal(DeliveryAction.Run, Decide(JobTransitions.Released(Running(2), T0)).Action);
        Assert.Equal(DeliveryAction.Run, Decide(Queued(2), deliveries: 3).Action);
        Assert.Equal(DeliveryAction.Poison, Decide(Queued(2), deliveries: 4).Action);
        Assert.Equal(DeliveryAction.Cancel, Decide(Queued(2), cancel: true).Action);

        var stale = Decide(Queued(3));
        Assert.Equal(DeliveryAction.Drop, stale.Action);
        Assert.Contains("superseded by attempt 3", stale.Reason);
        Assert.Equal(DeliveryAction.Drop, Decide(Queued(1)).Action); // this attempt was never recorded
        var duplicate = Decide(Running(2));
        Assert.Equal(DeliveryAction.Drop, duplicate.Action);
        Assert.Contains("running on w1", duplicate.Reason);
        Assert.Equal(DeliveryAction.Drop, Decide(Running(2), cancel: true).Action); // its owner handles the cancel
        foreach (var ended in new[] { "succeeded", "failed", "poisoned", "cancelled" })
            Assert.Equal(DeliveryAction.Drop, Decide(State(ended)! with { Attempt = 2 }, cancel: true).Action);
    }

    [Fact]
    public void A_claim_holds_the_job_only_while_its_attempt_runs_under_its_owner_token()
    {
        var running = Running(2, owner: "w1#a");
        Assert.True(JobOwnership.Holds(running, 2, "w1#a"));
        Assert.False(JobOwnership.Holds(running, 2, "w1#b"));   // another claim of the same attempt
        Assert.False(JobOwnership.Holds(running, 1, "w1#a"));
        Assert.False(JobOwnership.Holds(JobTransitions.Queued(Message with { Attempt = 3 }, running, T0), 2, "w1#a"));
        Assert.False(JobOwnership.Holds(JobTransitions.Released(running, T0), 2, "w1#a"));
        Assert.False(JobOwnership.Holds(JobTransitions.Failed(running, "gave up", T0), 2, "w1#a"));
        Assert.True(JobOwnership.IsOver(JobTransitions.Queued(Message with { Attempt = 3 }, running, T0), 2));
        Assert.Contains("superseded by attempt 3", JobOwnership.WhyNotHeld(JobTransitions.Queued(Message with { Attempt = 3 }, running, T0), 2));
        Assert.Contains("has ended", JobOwnership.WhyNotHeld(JobTransitions.Cancelled(running, T0), 2));
    }

    [Fact]
    public void The_monitor_waits_redispatches_after_the_heartbeat_timeout_and_gives_up_after_the_last_attempt()
    {
        var settings = MonitorSettings.From(new JobOptions { PollInterval = TimeSpan.FromSeconds(1), HeartbeatTimeout = TimeSpan.FromSeconds(6), MaxAttempts = 3 });
        MonitorDecision Decide(JobStatus? status, int watched, double secondsLater) =>
            JobMonitorRules.Decide(status, Message with { Attempt = watched }, T0.AddSeconds(secondsLater), settings);

        Assert.Equal(MonitorAction.Resend, Decide(null, 1, 0).Action);
        Assert.Equal(MonitorAction.Wait, Decide(Queued(1), 1, 3600).Action);   // waiting for a worker is not a death
        Assert.Equal(MonitorAction.Wait, Decide(Running(1), 1, 6.0).Action);
        var dead = Decide(Running(1), 1, 6.001);
        Assert.Equal(MonitorAction.Redispatch, dead.Action);
        Assert.Equal(2, dead.Message.Attempt);
        Assert.Contains("stopped sending heartbeats", dead.Reason);
        var last = Decide(Running(3), 3, 7);
        Assert.Equal(MonitorAction.GiveUp, last.Action);
        Assert.Contains("all 3 attempts used", last.Reason);
        Assert.Equal(3, last.Message.Attempt);

        var follow = Decide(Queued(2), 1, 0);
        Assert.Equal(MonitorAction.Follow, follow.Action);
        Assert.Equal(2, follow.Message.Attempt);
        Assert.Equal(MonitorAction.Resend, Decide(Queued(1), 2, 0).Action);
        var finished = Decide(JobTransitions.Succeeded(Running(2), Array.Empty<JobOutput>(), T0), 1, 0);
        Assert.Equal(MonitorAction.Finish, finished.Action);
        Assert.Equal(2, finished.Message.Attempt);
    }

    [Fact]
    public void Without_notices_the_monitor_polls_soon_at_first_and_while_the_job_runs_and_at_the_poll_interval_while_it_waits_for_a_worker()
    {
        var settings = MonitorSettings.From(new JobOptions { PollInterval = TimeSpan.FromSeconds(5), HeartbeatTimeout = TimeSpan.FromSeconds(120), Notices = false });
        Assert.False(settings.Notified);
        Assert.Equal(0.25, settings.PollDelaySeconds(0, -1));
        // Queued: the poll interval, however many polls.
        Assert.Equal(new[] { 5.0, 5, 5 }, new[] { 1, 2, 40 }.Select(p => settings.PollDelaySeconds(p, -1)));
        // Running: doubling from 0.25 s from the first poll that saw it running, up to the interval.
        Assert.Equal(new[] { 0.25, 0.5, 1, 2, 4, 5, 5 }, Enumerable.Range(0, 7).Select(r => settings.PollDelaySeconds(3 + r, r)));
        // A poll interval shorter than the first delay caps it.
        Assert.Equal(0.1, MonitorSettings.From(new JobOptions { PollInterval = TimeSpan.FromMilliseconds(100), Notices = false }).PollDelaySeconds(0, -1), 9);
    }

    [Fact]
    public void With_notices_the_timer_is_the_heartbeat_check_while_the_job_runs_and_the_heartbeat_timeout_while_it_waits_for_a_worker()
    {
        var settings = MonitorSettings.From(new JobOptions { PollInterval = TimeSpan.FromSeconds(5), HeartbeatTimeout = TimeSpan.FromSeconds(120) });
        Assert.True(settings.Notified); // the default
        // A generation's first look: one poll interval (a status that went missing is found then).
        Assert.Equal(5, settings.PollDelaySeconds(0, -1));
        // Waiting for a worker: the heartbeat timeout, however many polls — a notice wakes the run sooner.
        Assert.Equal(new[] { 120.0, 120, 120 }, new[] { 1, 2, 40 }.Select(p => settings.PollDelaySeconds(p, -1)));
        // Running: the poll interval, the heartbeat check; no fast polls, the finish comes as a notice.
        Assert.Equal(new[] { 5.0, 5, 5, 5 }, Enumerable.Range(0, 4).Select(r => settings.PollDelaySeconds(3 + r, r)));
    }
}
