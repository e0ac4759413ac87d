using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>Where a training run stands once its job is dispatched; carried across continue-as-new.</summary>
public sealed record TrainingStage(JobMessage Job, string ManifestPath, int CasesTotal, int Cases, int Quarantined);

/// <summary>Input of <see cref="TrainDatasetOrchestrator"/>: the run, the configuration captured when it started, and its stage.</summary>
/// <param name="Pool">the unlabeled pool's policy when the run started (null: every case, as runs started before the policy existed)</param>
public sealed record TrainDatasetInput(string Dataset, string Version, TrainRequest Request, MonitorSettings Monitor, double PromotionMargin,
    TrainingStage? Stage = null, PoolPolicy? Pool = null);

/// <summary>
/// Dataset to model: validate every case in parallel (quarantining the bad), write the versioned
/// manifest that pins every accepted case's bytes, run one GPU training job and watch it, commit
/// its outputs to the model's version folder, then register the model and promote it when it beats
/// production. At most one such run is active per dataset (<see cref="Datasets.TrainingRuns"/>).
/// </summary>
public sealed class TrainDatasetOrchestrator : TaskOrchestrator<TrainDatasetInput, TrainRunResult>
{
    /// <summary>Cases per validation activity: the fan-out stays a few dozen tasks even for large datasets.</summary>
    public const int CasesPerBatch = 8;

    public override async Task<TrainRunResult> RunAsync(TaskOrchestrationContext context, TrainDatasetInput input)
    {
        var stage = input.Stage;
        if (stage is null)
        {
            stage = await PrepareAsync(context, input);
            await JobMonitor.DispatchAsync(context, stage.Job);
        }

        context.SetCustomStatus(new RunProgress("training", stage.Job.JobId, stage.CasesTotal, stage.CasesTotal, stage.Quarantined, stage.Job.Attempt));
        var (status, job) = await JobMonitor.WatchAsync(context, stage.Job, input.Monitor);
        if (status is null)
        {
            context.ContinueAsNew(input with { Stage = stage with { Job = job } });
            return null!; // not observed: the run continues as new
        }
        if (status.State != JobState.Succeeded)
            throw new InvalidOperationException($"training job {job.JobId} {status.State.ToString().ToLowerInvariant()}: {status.Error}");

        context.SetCustomStatus(new RunProgress("registering", job.JobId, stage.CasesTotal, stage.CasesTotal, stage.Quarantined, job.Attempt));
        await context.CallActivityAsync<string[]>(TaskNames.CommitJobOutputs, job.JobId, JobMonitor.ActivityRetry);
        var registration = await context.CallActivityAsync<ModelRegistration>(TaskNames.RegisterModel,
            new RegisterModelInput(input.Dataset, input.Version, job.Train!.ModelPrefix, stage.ManifestPath, input.Request, input.Request.PromotionMargin ?? input.PromotionMargin),
            JobMonitor.ActivityRetry);
        context.SetCustomStatus(new RunProgress("done", job.JobId, stage.CasesTotal, stage.CasesTotal, stage.Quarantined, job.Attempt));
        return new TrainRunResult(input.Dataset, input.Version, job.Train.ModelPrefix, stage.Cases, stage.Quarantined,
            registration.ValidationMeanDice, registration.ProductionMeanDice, registration.Promoted, registration.Decision);
    }

    /// <summary>Lists and validates the cases (fan-out), writes the manifest; returns the job to run.</summary>
    private static async Task<TrainingStage> PrepareAsync(TaskOrchestrationContext context, TrainDatasetInput input)
    {
        var retry = JobMonitor.ActivityRetry;
        context.SetCustomStatus(new RunProgress("listing"));
        var listing = await context.CallActivityAsync<DatasetListing>(TaskNames.ListDatasetCases, input.Dataset, retry);
        var (pool, outsidePool) = input.Pool is { } policy ? policy.Select(listing.Cases) : (listing.Cases, Array.Empty<string>());

        int total = pool.Count;
        context.SetCustomStatus(new RunProgress("validating", CasesTotal: total, CasesDone: 0));
        var pending = pool.Chunk(CasesPerBatch)
            .Select(batch => context.CallActivityAsync<CaseCheck[]>(TaskNames.ValidateCases, new ValidateCasesInput(input.Dataset, input.Version, listing.NumClasses, batch), retry))
            .ToList();
        var checks = new List<CaseCheck>();
        while (pending.Count > 0)
        {
            var finished = await Task.WhenAny(pending);
            pending.Remove(finished);
            checks.AddRange(await finished);
            context.SetCustomStatus(new RunProgress("validating", CasesTotal: total, CasesDone: checks.Count, Quarantined: checks.Count(c => c.Outcome == CaseOutcome.Quarantined)));
        }

        var cases = checks.Where(c => c.Outcome == CaseOutcome.Accepted).Select(c => c.Case!).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        var quarantined = checks.Where(c => c.Outcome == CaseOutcome.Quarantined).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        var skipped = checks.Where(c => c.Outcome == CaseOutcome.Skipped).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        if (!cases.Any(c => c.Label is not null))
            throw new InvalidOperationException($"{BlobLayout.DatasetPrefix(input.Dataset)}: no labeled case passed validation ({quarantined.Count} quarantined, {skipped.Count} changed while checked)");

        var manifest = new DatasetManifest(input.Dataset, input.Version, context.CurrentUtcDateTime, listing.NumClasses, listing.DatasetJson, cases, quarantined, skipped,
            outsidePool);
        string manifestPath = await context.CallActivityAsync<string>(TaskNames.WriteManifest, manifest, retry);
        var job = new JobMessage
        {
            JobId = JobIds.For(context.InstanceId, JobKind.Train),
            Kind = JobKind.Train,
            OrchestrationId = context.InstanceId,
            Train = new TrainJob(input.Dataset, input.Version, manifestPath, BlobLayout.ModelPrefix(input.Dataset, input.Version), input.Request),
        };
        return new TrainingStage(job, manifestPath, total, cases.Count, quarantined.Count);
    }
}
