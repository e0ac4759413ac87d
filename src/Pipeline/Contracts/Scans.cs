namespace GuidedNet.Pipeline.Contracts;

/// <summary>Input of the scan orchestration: one blob dropped under scans/incoming/&lt;project&gt;/.</summary>
public sealed record ScanDrop(string Project, string Case, string ScanPath);

/// <summary>What validating a dropped scan found.</summary>
public sealed record ScanCheck(bool Accepted, string? Reason, string? LabelPath);

/// <summary>Output of the scan orchestration.</summary>
public sealed record ScanRunResult(string Project, string Case, string State, string? ResultPrefix, string? ModelVersion, string? Reason);

/// <summary>Per-organ figures of one segmented scan.</summary>
public sealed record OrganReport(int Label, string Name, double VolumeMl, long Voxels, double? Dice, double? Hd95, double? Asd);

/// <summary><c>results/&lt;project&gt;/&lt;case&gt;/report.json</c>.</summary>
public sealed record ScanReport
{
    public required string Project { get; init; }
    public required string Case { get; init; }
    public required string Model { get; init; }
    public required string ModelVersion { get; init; }
    public required string Mask { get; init; }
    public string? Preview { get; init; }
    public required int[] Size { get; init; }
    public required double[] SpacingMm { get; init; }
    public required IReadOnlyList<OrganReport> Organs { get; init; }
    public double? MeanDice { get; init; }
    public required Dictionary<string, double> TimingsSeconds { get; init; }
    public DateTime CreatedUtc { get; init; }
    public string? JobId { get; init; }
}
