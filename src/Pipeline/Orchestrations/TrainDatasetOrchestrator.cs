using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>Input of <see cref="TrainDatasetOrchestrator"/>: the run, and the configuration captured when it started.</summary>
public sealed record TrainDatasetInput(string Dataset, string Version, TrainRequest Request, MonitorSettings Monitor, double PromotionMargin);

/// <summary>
/// Dataset to model: validate every case in parallel (quarantining the bad), write the versioned
/// manifest, run one GPU training job under the monitor, then register the model and promote it
/// when it beats production.
/// </summary>
public sealed class TrainDatasetOrchestrator : TaskOrchestrator<TrainDatasetInput, TrainRunResult>
{
    /// <summary>Cases per validation activity: the fan-out stays a few dozen tasks even for large datasets.</summary>
    public const int CasesPerBatch = 8;

    public override async Task<TrainRunResult> RunAsync(TaskOrchestrationContext context, TrainDatasetInput input)
    {
        var retry = MonitorJobOrchestrator.ActivityRetry;
        context.SetCustomStatus(new RunProgress("listing"));
        var listing = await context.CallActivityAsync<DatasetListing>(TaskNames.ListDatasetCases, input.Dataset, retry);

        int total = listing.Cases.Count, done = 0;
        context.SetCustomStatus(new RunProgress("validating", CasesTotal: total, CasesDone: 0));
        var pending = listing.Cases.Chunk(CasesPerBatch)
            .Select(batch => context.CallActivityAsync<CaseCheck[]>(TaskNames.ValidateCases, new ValidateCasesInput(input.Dataset, input.Version, listing.NumClasses, batch), retry))
            .ToList();
        var checks = new List<CaseCheck>();
        while (pending.Count > 0)
        {
            var finished = await Task.WhenAny(pending);
            pending.Remove(finished);
            checks.AddRange(await finished);
            done = checks.Count;
            context.SetCustomStatus(new RunProgress("validating", CasesTotal: total, CasesDone: done, Quarantined: checks.Count(c => !c.Accepted)));
        }

        var accepted = checks.Where(c => c.Accepted).Select(c => c.Name).ToHashSet();
        var cases = listing.Cases.Where(c => accepted.Contains(c.Name)).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        var quarantined = checks.Where(c => !c.Accepted).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        if (!cases.Any(c => c.LabelPath is not null))
            throw new InvalidOperationException($"{BlobLayout.DatasetPrefix(input.Dataset)}: no labeled case passed validation ({quarantined.Count} quarantined)");

        var manifest = new DatasetManifest(input.Dataset, input.Version, context.CurrentUtcDateTime, listing.NumClasses, cases, quarantined);
        string manifestPath = await context.CallActivityAsync<string>(TaskNames.WriteManifest, manifest, retry);

        string jobId = $"{context.InstanceId}-train";
        string modelPrefix = BlobLayout.ModelPrefix(input.Dataset, input.Version);
        var message = new JobMessage
        {
            JobId = jobId,
            Kind = JobKind.Train,
            OrchestrationId = context.InstanceId,
            Train = new TrainJob(input.Dataset, input.Version, manifestPath, modelPrefix, input.Request),
        };
        context.SetCustomStatus(new RunProgress("training", jobId, total, done, quarantined.Count));
        var status = await context.CallSubOrchestratorAsync<JobStatus>(TaskNames.MonitorJob, new MonitorJobInput(message, input.Monitor),
            new SubOrchestrationOptions { InstanceId = jobId + "-monitor" });
        if (status.State != JobState.Succeeded)
            throw new InvalidOperationException($"training job {jobId} {status.State.ToString().ToLowerInvariant()}: {status.Error}");

        context.SetCustomStatus(new RunProgress("registering", jobId, total, done, quarantined.Count));
        var registration = await context.CallActivityAsync<ModelRegistration>(TaskNames.RegisterModel,
            new RegisterModelInput(input.Dataset, input.Version, modelPrefix, manifestPath, input.Request, input.Request.PromotionMargin ?? input.PromotionMargin), retry);
        context.SetCustomStatus(new RunProgress("done", jobId, total, done, quarantined.Count));
        return new TrainRunResult(input.Dataset, input.Version, modelPrefix, cases.Count, quarantined.Count,
            registration.ValidationMeanDice, registration.ProductionMeanDice, registration.Promoted, registration.Decision);
    }
}
