using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Contracts;

/// <summary>
/// One blob dropped under scans/incoming/&lt;project&gt;/, as the drop zone (or the blob trigger) saw
/// it: the version of the scan (ETag, MD5), its last-modified time and when the pipeline saw it —
/// the two times order drops of one case, so the newest drop's result is the case's latest.
/// </summary>
public sealed record ScanDrop(string Project, string Case, BlobPin Scan, DateTimeOffset LastModified, DateTime ObservedUtc)
{
    /// <summary>The order of drops of one case: the scan's last-modified time, then when it was seen.</summary>
    public static int CompareOrder(DateTimeOffset lastModifiedA, DateTime observedA, DateTimeOffset lastModifiedB, DateTime observedB)
    {
        int byTime = lastModifiedA.CompareTo(lastModifiedB);
        return byTime != 0 ? byTime : observedA.CompareTo(observedB);
    }
}

public enum ScanOutcome
{
    Accepted,

    /// <summary>The scan is bad: moved to the quarantine with its reason.</summary>
    Quarantined,

    /// <summary>The scan was replaced (or removed) before its bytes could be pinned; the new content has its own run.</summary>
    Superseded,
}

/// <summary>What validating a dropped scan found: the pinned scan (a snapshot of the dropped version) and its pinned ground truth when usable.</summary>
public sealed record ScanCheck(ScanOutcome Outcome, string? Reason, BlobPin? Scan, BlobPin? Label, string? LabelProblem);

/// <summary>Output of the scan orchestration.</summary>
public sealed record ScanRunResult(string Project, string Case, string Run, string State, string? ResultPrefix, string? ModelVersion, string? Reason);

/// <summary>The states a scan run ends in (<see cref="ScanRunResult.State"/>).</summary>
public static class ScanRunStates
{
    public const string Segmented = "segmented";
    public const string Quarantined = "quarantined";
    public const string Superseded = "superseded";
}

/// <summary>Per-organ figures of one segmented scan.</summary>
/// <param name="Statistics">The organ's intensities (the scan's units: HU for CT), world bounding box and edge contact; null when absent from the mask.</param>
public sealed record OrganReport(int Label, string Name, double VolumeMl, long Voxels, double? Dice, double? Hd95, double? Asd,
    Imaging.Labels.OrganStatistics? Statistics = null);

/// <summary>
/// <c>results/&lt;project&gt;/&lt;case&gt;/&lt;run&gt;/report.json</c>: the run's result and exactly what it came
/// from — the scan blob with the ETag and snapshot it was read at and the MD5 of the bytes read, the
/// ground truth likewise, the model version, and the MD5 of the mask beside it.
/// </summary>
public sealed record ScanReport
{
    public required string Project { get; init; }
    public required string Case { get; init; }
    public required string Run { get; init; }
    public required BlobPin Scan { get; init; }
    public BlobPin? Label { get; init; }
    public required string Model { get; init; }
    public required string ModelVersion { get; init; }
    public required string Mask { get; init; }
    public required string MaskMd5 { get; init; }
    public string? Preview { get; init; }

    /// <summary>The mask's label table (<c>labels.json</c>: value → organ name and colour), beside it.</summary>
    public string? Labels { get; init; }

    /// <summary>For a DICOM scan, the mask as DICOM SEG referencing the series (null for NIfTI scans, or when no organ was found).</summary>
    public string? Seg { get; init; }
    public required int[] Size { get; init; }
    public required double[] SpacingMm { get; init; }
    public required IReadOnlyList<OrganReport> Organs { get; init; }
    public double? MeanDice { get; init; }
    public required Dictionary<string, double> TimingsSeconds { get; init; }

    /// <summary>How the mask was computed: <c>exact</c>, or what fast mode changed (e.g. "bf16 network, windows in air skipped").</summary>
    public string Prediction { get; init; } = "exact";
    public DateTime CreatedUtc { get; init; }
    public string? JobId { get; init; }
}

/// <summary>
/// <c>results/&lt;project&gt;/&lt;case&gt;/latest.json</c>: the run of the case's newest drop. Written
/// conditionally and only forward in drop order, so whichever run finishes first, the newest drop wins.
/// </summary>
public sealed record LatestResult(string Run, string ResultPrefix, string Report, BlobPin Scan, DateTimeOffset ScanLastModified,
    DateTime ObservedUtc, DateTime UpdatedUtc)
{
    public bool IsNewerDropThan(LatestResult other)
    {
        int order = ScanDrop.CompareOrder(ScanLastModified, ObservedUtc, other.ScanLastModified, other.ObservedUtc);
        return order != 0 ? order > 0 : string.CompareOrdinal(Run, other.Run) > 0;
    }
}
