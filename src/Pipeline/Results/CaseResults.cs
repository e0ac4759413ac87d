using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Results;

/// <summary>
/// A project's results: one folder per run under each case, <c>latest.json</c> naming the run of
/// the case's newest drop (the project summary's rows: <see cref="ProjectSummary"/>).
/// </summary>
public static class CaseResults
{
    /// <summary>
    /// Points the case's latest.json at <paramref name="candidate"/> unless it names a newer drop.
    /// The write is conditional on the version read, so of two runs publishing at once the one of
    /// the newer drop ends up named, whichever finishes first. Returns whether it now names the candidate.
    /// </summary>
    public static async Task<bool> AdvanceLatestAsync(PipelineStorage storage, string project, string caseName, LatestResult candidate,
        CancellationToken cancellation = default)
    {
        string path = BlobLayout.LatestResult(project, caseName);
        while (true)
        {
            var current = await storage.ReadVersionedJsonAsync<LatestResult>(path, cancellation);
            if (current is not null && !candidate.IsNewerDropThan(current.Value))
                return current.Value.Run == candidate.Run;
            if (await storage.TryWriteJsonAsync(path, candidate, current?.ETag, cancellation) is not null) return true;
        }
    }
}
