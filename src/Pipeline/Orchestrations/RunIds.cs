using System.Globalization;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>
/// Run ids (the orchestration instance ids). Their parts are joined by '~', which no project,
/// dataset or case name may contain (<see cref="BlobLayout.IsValidName"/>), so two runs of
/// different names can never share an id and a prefix query of one dataset never matches another
/// (<c>train~a~</c> is not a prefix of <c>train~a-v2~…</c>).
/// </summary>
public static class RunIds
{
    public const char Separator = '~';
    private const string Train = "train";
    private const string Scan = "scan";

    /// <summary><c>train~&lt;dataset&gt;~&lt;version&gt;</c>.</summary>
    public static string Training(string dataset, string version) => $"{TrainingPrefix(dataset)}{version}";

    /// <summary>The prefix of every training run of one dataset, and of no other dataset's.</summary>
    public static string TrainingPrefix(string dataset) => $"{Train}{Separator}{Checked(dataset)}{Separator}";

    /// <summary>
    /// A model version for a new training run: its start time to the millisecond and a random
    /// suffix, so two requests never share a version (nor the run id made from it).
    /// </summary>
    public static string NewVersion(DateTime nowUtc) =>
        "v" + nowUtc.ToString("yyyyMMdd-HHmmss-fff", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];

    /// <summary>
    /// <c>scan~&lt;project&gt;~&lt;case&gt;~&lt;content key&gt;</c>: one run per content of a case, so the same
    /// bytes dropped twice (or seen by the trigger and a poll) are one run and one result.
    /// </summary>
    public static string ScanRun(string project, string caseName, BlobPin scan) => $"{ScanPrefix(project, caseName)}{ContentKey(scan)}";

    /// <summary>The prefix of every run of one case of one project.</summary>
    public static string ScanPrefix(string project, string caseName) => $"{Scan}{Separator}{Checked(project)}{Separator}{Checked(caseName)}{Separator}";

    /// <summary>
    /// The run's part of the id that names its content: 16 hex digits of the scan's MD5, or its ETag
    /// where the service kept no MD5 (then a re-upload of the same bytes counts as new content).
    /// </summary>
    public static string ContentKey(BlobPin scan) =>
        scan.Md5 is { Length: >= 16 } md5 ? md5[..16] : "e" + scan.ETag.Trim('"').Replace("0x", "", StringComparison.OrdinalIgnoreCase).ToLowerInvariant();

    /// <summary>The prefix of every run that dispatches jobs of <paramref name="kind"/>.</summary>
    public static string KindPrefix(JobKind kind) => (kind == JobKind.Train ? Train : Scan) + Separator;

    /// <summary>The kind of job a run dispatches, read from its id; null for an id that is not a run's.</summary>
    public static JobKind? JobKindOf(string runId) =>
        runId.StartsWith(KindPrefix(JobKind.Train), StringComparison.Ordinal) ? JobKind.Train
        : runId.StartsWith(KindPrefix(JobKind.Predict), StringComparison.Ordinal) ? JobKind.Predict
        : null;

    /// <summary>The dataset (training run) or project (scan run) a run id names, and a scan run's case; nulls for an id that is not a run's.</summary>
    public static (string? Name, string? Case) NamesOf(string runId)
    {
        if (JobKindOf(runId) is not { } kind) return (null, null);
        string[] parts = runId.Split(Separator);
        return (parts.ElementAtOrDefault(1), kind == JobKind.Predict ? parts.ElementAtOrDefault(2) : null);
    }

    /// <summary>The run's last part: the model version of a training run, the content key of a scan run (its result folder).</summary>
    public static string LastPart(string runId) => runId[(runId.LastIndexOf(Separator) + 1)..];

    private static string Checked(string name) =>
        BlobLayout.IsValidName(name) ? name : throw new ArgumentException($"'{name}' is not a valid name (letters, digits, '-', '_', '.')");
}
