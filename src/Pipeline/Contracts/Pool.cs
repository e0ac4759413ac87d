namespace GuidedNet.Pipeline.Contracts;

/// <summary>Which unlabeled cases a capped pool keeps, by when their image arrived.</summary>
public enum PoolOrder { Newest, Oldest }

/// <summary>
/// The unlabeled pool of a project: whether segmented drops join it, and how many of its cases a
/// training run uses. Every dropped scan joining every retrain would grow training (and its
/// memory and time) without bound; a run keeps every labeled case and at most
/// <see cref="MaxUnlabeledCases"/> unlabeled ones, the newest by default (the scans most like what
/// the scanners produce now).
/// </summary>
public sealed record PoolPolicy(bool JoinDroppedScans, int MaxUnlabeledCases, PoolOrder Keep)
{
    /// <summary>The most unlabeled cases a setting may ask for.</summary>
    public const int Limit = 100_000;

    public static PoolOrder ParseOrder(string value) => value.ToLowerInvariant() switch
    {
        "newest" => PoolOrder.Newest,
        "oldest" => PoolOrder.Oldest,
        _ => throw new Training.TrainingSettingException("keepUnlabeled", "must be newest or oldest"),
    };

    /// <summary>
    /// The cases a run uses: every case with a label file (and any without an image, which
    /// validation then quarantines), and of the unlabeled ones the first
    /// <see cref="MaxUnlabeledCases"/> in <see cref="Keep"/> order of their image's arrival (name
    /// breaks ties, so the choice is deterministic); the names of those left out.
    /// </summary>
    public (IReadOnlyList<CaseFiles> Kept, IReadOnlyList<string> LeftOut) Select(IReadOnlyList<CaseFiles> cases)
    {
        bool IsUnlabeled(CaseFiles c) => c.Labels.Count == 0 && c.Images.Count > 0;
        var unlabeled = cases.Where(IsUnlabeled);
        var ordered = Keep == PoolOrder.Newest
            ? unlabeled.OrderByDescending(c => c.Added ?? DateTimeOffset.MinValue).ThenBy(c => c.Name, StringComparer.Ordinal)
            : unlabeled.OrderBy(c => c.Added ?? DateTimeOffset.MinValue).ThenBy(c => c.Name, StringComparer.Ordinal);
        var kept = ordered.Take(MaxUnlabeledCases).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        return (cases.Where(c => !IsUnlabeled(c) || kept.Contains(c.Name)).ToList(),
                cases.Where(c => IsUnlabeled(c) && !kept.Contains(c.Name)).Select(c => c.Name).ToList());
    }
}
