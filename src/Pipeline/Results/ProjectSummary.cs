using System.Globalization;
using System.Text;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Results;

/// <summary>An organ in a summary row: its volume and, where the scan came with a label, its Dice.</summary>
public sealed record OrganSummary(double VolumeMl, double? Dice);

/// <summary>One case's row of the project summary: the result its latest.json names, in brief.</summary>
public sealed record SummaryRow(string Case, LatestResult Latest, string ModelVersion, double? MeanDice,
    Dictionary<string, OrganSummary> Organs, DateTime CreatedUtc)
{
    public static SummaryRow From(LatestResult latest, ScanReport report) => new(report.Case, latest, report.ModelVersion, report.MeanDice,
        report.Organs.ToDictionary(o => o.Name, o => new OrganSummary(o.VolumeMl, o.Dice)), report.CreatedUtc);
}

/// <summary>
/// <c>results/&lt;project&gt;/summary.json</c> (and the CSV beside it, made from the same rows): one
/// row per case, for the case's newest drop.
/// </summary>
public sealed record ProjectSummary(string Project, DateTime UpdatedUtc, int Cases, double? MeanDice, IReadOnlyList<SummaryRow> Reports)
{
    /// <summary>
    /// Puts one case's row into the summary: the files are read and written once per scan (a
    /// constant number of requests, whatever the number of cases; the bytes grow with the rows), never
    /// rebuilt from every report. A row replaces the case's row only for a newer drop (or the same run
    /// published again), so of two runs of one case publishing at once the newer drop's stays. Both
    /// files are written conditionally on the versions read; a writer that loses either race starts
    /// over from the newer state, so the last writer to succeed wrote both from one state. Returns the
    /// number of cases.
    /// </summary>
    public static async Task<int> UpdateAsync(PipelineStorage storage, string project, SummaryRow row, DateTime now,
        CancellationToken cancellation = default)
    {
        string path = BlobLayout.Summary(project), csvPath = BlobLayout.SummaryCsv(project);
        for (int attempt = 0; ; attempt++)
        {
            var before = await storage.ReadVersionedJsonAsync<ProjectSummary>(path, cancellation);
            var csvBefore = await storage.GetAsync(csvPath, cancellation);
            var rows = (before?.Value.Reports ?? []).ToDictionary(r => r.Case);
            if (rows.TryGetValue(row.Case, out var existing) && existing.Latest.Run != row.Latest.Run && !row.Latest.IsNewerDropThan(existing.Latest))
                return rows.Count; // a newer drop of the case is already summarised
            rows[row.Case] = row;
            var ordered = rows.Values.OrderBy(r => r.Case, StringComparer.Ordinal).ToList();
            var labeled = ordered.Where(r => r.MeanDice.HasValue).ToList();
            var summary = new ProjectSummary(project, now, ordered.Count, labeled.Count > 0 ? labeled.Average(r => r.MeanDice!.Value) : null, ordered);
            if (await storage.TryWriteJsonAsync(path, summary, before?.ETag, cancellation) is not null
                && await storage.TryWriteBytesAsync(csvPath, Encoding.UTF8.GetBytes(summary.ToCsv()), csvBefore?.ETag, "text/csv", cancellation) is not null)
                return ordered.Count;
            if (attempt >= 50) throw new IOException($"{path}: could not be updated after {attempt + 1} tries (other scans kept updating it)");
            // Many scans of one project finishing together: spread the retries out.
            await Task.Delay(Random.Shared.Next(5, 50 + 10 * attempt), cancellation);
        }
    }

    /// <summary>One line per case; an organ column pair (volume, Dice) for every organ any case has, in order of first appearance.</summary>
    public string ToCsv()
    {
        var organs = Reports.SelectMany(r => r.Organs.Keys).Distinct().ToList();
        var csv = new StringBuilder("case,run,model_version,mean_dice,scan,scan_md5");
        foreach (string o in organs) csv.Append(CultureInfo.InvariantCulture, $",{o}_ml,{o}_dice");
        csv.AppendLine();
        foreach (var r in Reports)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{r.Case},{r.Latest.Run},{r.ModelVersion},{r.MeanDice?.ToString("F4", CultureInfo.InvariantCulture)},{r.Latest.Scan.Path},{r.Latest.Scan.Md5}");
            foreach (string o in organs)
            {
                var organ = r.Organs.GetValueOrDefault(o);
                csv.Append(CultureInfo.InvariantCulture, $",{organ?.VolumeMl.ToString("F2", CultureInfo.InvariantCulture)},{organ?.Dice?.ToString("F4", CultureInfo.InvariantCulture)}");
            }
            csv.AppendLine();
        }
        return csv.ToString();
    }
}
