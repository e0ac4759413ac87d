using System.Globalization;
using System.Text;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Results;

/// <summary>
/// A project's results: one folder per run under each case, <c>latest.json</c> naming the run of
/// the case's newest drop, and the project summary built from the latest runs.
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

    /// <summary>
    /// Rebuilds <c>summary.json</c> and <c>summary.csv</c>: one row per case, from the report its
    /// latest.json names. The JSON is written conditionally on the version read when the rebuild
    /// began; when another scan rebuilt either file meanwhile, the rebuild starts over from the newer state.
    /// </summary>
    public static async Task<int> RebuildSummaryAsync(PipelineStorage storage, string project, DateTime now, CancellationToken cancellation = default)
    {
        string path = BlobLayout.Summary(project);
        for (int attempt = 0; ; attempt++)
        {
            var before = await storage.GetAsync(path, cancellation);
            var csvBefore = await storage.GetAsync(BlobLayout.SummaryCsv(project), cancellation);
            var rows = new List<(LatestResult Latest, ScanReport Report)>();
            foreach (string caseName in await storage.ListFoldersAsync($"{BlobLayout.Results}/{project}/", cancellation))
                if (await storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(project, caseName), cancellation) is { } latest
                    && await storage.ReadJsonAsync<ScanReport>(latest.Report, cancellation) is { } report)
                    rows.Add((latest, report));
            var labeled = rows.Where(r => r.Report.MeanDice.HasValue).ToList();
            var summary = new
            {
                project,
                updatedUtc = now,
                cases = rows.Count,
                meanDice = labeled.Count > 0 ? labeled.Average(r => r.Report.MeanDice!.Value) : (double?)null,
                reports = rows.Select(r => new
                {
                    r.Report.Case, r.Report.Run, report = r.Latest.Report, scan = r.Report.Scan, r.Report.ModelVersion, r.Report.MeanDice,
                    volumesMl = r.Report.Organs.ToDictionary(o => o.Name, o => o.VolumeMl), r.Report.CreatedUtc,
                }),
            };
            byte[] csv = Encoding.UTF8.GetBytes(Csv(rows.Select(r => r.Report).ToList()));
            // Both files conditionally: a rebuild that loses either race starts over, so the last
            // rebuild to succeed has written both from one state.
            if (await storage.TryWriteJsonAsync(path, summary, before?.ETag, cancellation) is not null
                && await storage.TryWriteBytesAsync(BlobLayout.SummaryCsv(project), csv, csvBefore?.ETag, "text/csv", cancellation) is not null)
                return rows.Count;
            if (attempt >= 20) throw new IOException($"{path}: could not be updated after {attempt + 1} tries (other scans kept rebuilding it)");
        }
    }

    private static string Csv(List<ScanReport> reports)
    {
        var organs = reports.SelectMany(r => r.Organs.Select(o => o.Name)).Distinct().ToList();
        var csv = new StringBuilder("case,run,model_version,mean_dice,scan,scan_md5");
        foreach (string o in organs) csv.Append(CultureInfo.InvariantCulture, $",{o}_ml,{o}_dice");
        csv.AppendLine();
        foreach (var r in reports)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{r.Case},{r.Run},{r.ModelVersion},{r.MeanDice?.ToString("F4", CultureInfo.InvariantCulture)},{r.Scan.Path},{r.Scan.Md5}");
            foreach (string o in organs)
            {
                var organ = r.Organs.FirstOrDefault(x => x.Name == o);
                csv.Append(CultureInfo.InvariantCulture, $",{organ?.VolumeMl.ToString("F2", CultureInfo.InvariantCulture)},{organ?.Dice?.ToString("F4", CultureInfo.InvariantCulture)}");
            }
            csv.AppendLine();
        }
        return csv.ToString();
    }
}
