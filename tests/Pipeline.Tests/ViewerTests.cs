using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;
using GuidedNet.TestSupport;
using GuidedNet.TestSupport.Browser;
using Xunit;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// The results viewer on the real local stack (guidednet-local, a worker, Azurite) with a trained
/// model and one segmented scan: first the API routes the page reads, then the page itself in Debian's
/// chromium — the case table lists the case, and the viewer draws the mask in its organs' colours.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class ViewerTests
{
    private const string Project = "abdomen";
    private const string CaseName = "patient-042";

    /// <summary>Where the screenshots are kept for people to look at (an artifact of the test run).</summary>
    public static string ScreenshotFolder => Path.Combine(Reference.RepositoryRoot, "artifacts", "test-screenshots");

    [Fact]
    public async Task The_viewer_lists_the_case_and_draws_its_mask_over_the_scan()
    {
        await using var pipeline = new PipelineHarness("viewer");
        // The run's spans go to the console, where the processes' output shows them (checked at the end).
        pipeline.Settings["Telemetry__Exporters"] = "console";
        await pipeline.UploadDatasetAsync(Project, cases: 6, labeled: 4, seed: 21);
        await pipeline.StartHostAsync(withWorker: true);
        string training = await pipeline.StartTrainingAsync(Project, PipelineHarness.TinyTraining(iterations: 30));
        var run = await pipeline.WaitForRunAsync(training, TimeSpan.FromMinutes(3));
        Assert.True(run.GetProperty("state").GetString() == "Completed", run.ToString());
        var (image, label) = pipeline.Phantom(CaseName, seed: 77);
        await pipeline.Storage.UploadFileAsync(BlobLayout.ScanLabel(Project, CaseName), label);
        await pipeline.Storage.UploadFileAsync(BlobLayout.IncomingScan(Project, CaseName + ".nii.gz"), image);
        var latest = await pipeline.WaitForAsync(() => pipeline.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(Project, CaseName)),
            TimeSpan.FromMinutes(2), "the scan's result");
        var report = (await pipeline.Storage.ReadJsonAsync<ScanReport>(latest.Report))!;

        // A drop that is not a scan is quarantined with its reason, which the project's page lists.
        string broken = Path.Combine(Path.GetTempPath(), $"broken-{Guid.NewGuid():N}.nii.gz");
        await File.WriteAllBytesAsync(broken, "not a NIfTI file"u8.ToArray());
        await pipeline.Storage.UploadFileAsync(BlobLayout.IncomingScan(Project, "broken.nii.gz"), broken);
        File.Delete(broken);
        var quarantined = await pipeline.WaitForAsync(async () =>
        {
            var list = await Json(pipeline, $"api/projects/{Project}/quarantine");
            return list.GetProperty("quarantined").GetArrayLength() > 0 ? list.GetProperty("quarantined").EnumerateArray().ToArray() : null;
        }, TimeSpan.FromMinutes(1), "the broken drop's quarantine");
        var record = quarantined[0];
        Assert.Equal("broken", record.GetProperty("case").GetString());
        Assert.Contains("broken.nii.gz", record.GetProperty("reason").GetString());

        // The API the page reads: lists, the case, and its files — the scan exactly as dropped, the mask exactly as reported.
        Assert.Contains(Project, (await Json(pipeline, "api/projects")).GetProperty("projects").EnumerateArray().Select(p => p.GetString()));
        Assert.Contains(Project, (await Json(pipeline, "api/models")).GetProperty("datasets").EnumerateArray().Select(p => p.GetString()));
        var cases = await Json(pipeline, $"api/projects/{Project}/cases");
        Assert.Equal(CaseName, cases.GetProperty("rows")[0].GetProperty("case").GetString());
        var detail = await Json(pipeline, $"api/projects/{Project}/cases/{CaseName}");
        Assert.Equal(latest.Run, detail.GetProperty("runId").GetString());
        Assert.True(detail.GetProperty("viewable").GetBoolean());
        var files = detail.GetProperty("files");
        Assert.Equal(Md5(await File.ReadAllBytesAsync(image)), Md5(await pipeline.Http.GetByteArrayAsync(files.GetProperty("scan").GetString()!.TrimStart('/'))));
        Assert.Equal(report.MaskMd5, Md5(await pipeline.Http.GetByteArrayAsync(files.GetProperty("mask").GetString()!.TrimStart('/'))));
        var models = await Json(pipeline, $"api/models/{Project}");
        string version = models.GetProperty("production").GetProperty("version").GetString()!;
        var curves = await pipeline.Http.GetAsync($"api/models/{Project}/{version}/curves");
        Assert.Equal("image/png", curves.Content.Headers.ContentType!.MediaType);
        Assert.Contains(training, (await Json(pipeline, "api/runs?kind=train")).GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("id").GetString()));
        // Bounded and checked like every route: names that are not names, files that are not files, pages too large.
        Assert.Equal(HttpStatusCode.BadRequest, (await pipeline.Http.GetAsync($"api/projects/{Project}/cases/..%2Fmodels")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await pipeline.Http.GetAsync($"api/projects/{Project}/cases/{CaseName}/runs/{Orchestrations.RunIds.LastPart(latest.Run)}/model")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await pipeline.Http.GetAsync($"api/projects/{Project}/cases?take=100000")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await pipeline.Http.GetAsync($"api/projects/{Project}/cases/nobody")).StatusCode);
        var page = await pipeline.Http.GetAsync("");
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        Assert.Contains("frame-ancestors 'none'", page.Headers.GetValues("Content-Security-Policy").Single());

        // The page in a real browser: the project's case table lists the case.
        string origin = $"http://127.0.0.1:{pipeline.ApiPort}/";
        string projectDom = await HeadlessChromium.DumpDomAsync($"{origin}#/projects/{Project}");
        Assert.Contains("data-page=\"ready\"", projectDom);
        Assert.Contains($">{CaseName}</a>", projectDom);
        Assert.Contains("Quarantined drops", projectDom);
        Assert.Contains("<td>broken</td>", projectDom);

        // The training run's page: its state and iterations; the model's page: its versions, curves and card.
        string runDom = await HeadlessChromium.DumpDomAsync($"{origin}#/runs/{Uri.EscapeDataString(training)}");
        Assert.Contains("data-page=\"ready\"", runDom);
        Assert.Contains("Completed", runDom);
        Assert.Contains("iteration 30 of 30", runDom);
        Assert.Matches("<button(?=[^>]*id=\"cancel\")(?=[^>]*hidden)[^>]*>", runDom); // an ended run offers no cancel
        string modelDom = await HeadlessChromium.DumpDomAsync($"{origin}#/models/{Project}");
        Assert.Contains($"{version} (production)", modelDom);
        Assert.Contains("Model card", modelDom);
        Assert.Contains("## Validation", modelDom);
        Assert.Contains("<img class=\"figure\"", modelDom);

        // The case: the viewer is ready, its organ table names the organs; with the mask shown, the
        // pixels that differ from the same view without it are the organs' colours blended over the scan.
        string caseUrl = $"{origin}#/projects/{Project}/cases/{CaseName}";
        string caseDom = await HeadlessChromium.DumpDomAsync(caseUrl);
        Assert.Contains("data-viewer=\"ready\"", caseDom);
        Assert.All(report.Organs, o => Assert.Contains(o.Name, caseDom));
        await HeadlessChromium.ScreenshotAsync(caseUrl, Path.Combine(ScreenshotFolder, "viewer-case.png"));
        // One axial slice for the colour check (the 3D rendering of the default view shades what it draws).
        var withMask = await HeadlessChromium.ScreenshotAsync(caseUrl + "?view=axial", Path.Combine(ScreenshotFolder, "viewer-case-axial.png"));
        var withoutMask = await HeadlessChromium.ScreenshotAsync(caseUrl + "?view=axial&mask=off", Path.Combine(ScreenshotFolder, "viewer-case-axial-no-mask.png"));
        var colours = LabelColours(await pipeline.Storage.ReadBytesAsync(report.Labels!, 1 << 20));
        var changed = ChangedPixels(withMask, withoutMask).ToList();
        Assert.True(changed.Count > 300, $"only {changed.Count} pixels change when the mask is shown");
        // What a pixel's colour must be if it is the mask (opacity 0.6) over the scan's grey.
        var organOf = changed.Select(p => NearestLabel(colours, Unblend(withMask[p.X, p.Y], withoutMask[p.X, p.Y], 0.6))).ToList();
        double matched = organOf.Count(o => o.Distance < 48) / (double)changed.Count;
        Assert.True(matched > 0.95, $"{matched:P1} of the {changed.Count} changed pixels have an organ's colour; the others: " +
            string.Join(", ", changed.Zip(organOf).Where(p => p.Second.Distance >= 48).Take(12)
                .Select(p => $"{withMask[p.First.X, p.First.Y]} over {withoutMask[p.First.X, p.First.Y]} at ({p.First.X}, {p.First.Y})")));
        var drawn = organOf.Where(o => o.Distance < 48).GroupBy(o => o.Label).Where(g => g.Count() > 50).Select(g => g.Key).ToHashSet();
        Assert.NotEmpty(drawn);
        Assert.All(drawn, l => Assert.Contains(report.Organs, o => o.Label == l && o.Voxels > 0));

        // Telemetry from both real processes: the host's activities and the worker's job with its stages, in the run's trace.
        foreach (string span in new[] { "activity ValidateScan", "activity PublishScanResult", "job predict", "stage downloading", "stage predicting", "stage model", "stage uploading" })
            Assert.True(pipeline.Printed(span), $"no span '{span}' was exported");
        Assert.True(pipeline.Printed(Telemetry.PipelineTelemetry.RunContext(latest.Run).TraceId.ToHexString()), "no span of the run's trace was exported");
    }

    private static async Task<JsonElement> Json(PipelineHarness pipeline, string path)
    {
        var response = await pipeline.Http.GetAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static string Md5(byte[] bytes) => Convert.ToHexString(MD5.HashData(bytes)).ToLowerInvariant();

    private static Dictionary<int, (int R, int G, int B)> LabelColours(byte[] labelsJson)
    {
        using var doc = JsonDocument.Parse(labelsJson);
        return doc.RootElement.GetProperty("colours").EnumerateObject().ToDictionary(p => int.Parse(p.Name),
            p => (p.Value[0].GetInt32(), p.Value[1].GetInt32(), p.Value[2].GetInt32()));
    }

    private static IEnumerable<(int X, int Y)> ChangedPixels(PngImage a, PngImage b)
    {
        Assert.Equal((a.Width, a.Height), (b.Width, b.Height));
        for (int y = 0; y < a.Height; y++)
            for (int x = 0; x < a.Width; x++)
            {
                var (p, q) = (a[x, y], b[x, y]);
                if (Math.Abs(p.R - q.R) + Math.Abs(p.G - q.G) + Math.Abs(p.B - q.B) > 30) yield return (x, y);
            }
    }

    // shown = opacity·colour + (1 − opacity)·under  ⇒  colour = (shown − (1 − opacity)·under) / opacity
    private static (double R, double G, double B) Unblend((byte R, byte G, byte B) shown, (byte R, byte G, byte B) under, double opacity) =>
        ((shown.R - (1 - opacity) * under.R) / opacity, (shown.G - (1 - opacity) * under.G) / opacity, (shown.B - (1 - opacity) * under.B) / opacity);

    private static (int Label, double Distance) NearestLabel(Dictionary<int, (int R, int G, int B)> colours, (double R, double G, double B) c) =>
        colours.Select(kv => (kv.Key, Math.Sqrt(Math.Pow(kv.Value.R - c.R, 2) + Math.Pow(kv.Value.G - c.G, 2) + Math.Pow(kv.Value.B - c.B, 2))))
            .MinBy(t => t.Item2);
}
