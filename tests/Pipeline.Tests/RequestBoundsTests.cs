using System.Text;
using System.Text.Json;
using GuidedNet.Pipeline.Api;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs.Worker;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;
using GuidedNet.Training;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// Training requests are held to the bounds the worker applies, at the API: a request the worker
/// would refuse (or that would run for days) is a 400 naming the field before anything runs, the
/// answer never echoes the value, and a body over 64 KB is a 413 read no further than the limit.
/// </summary>
public sealed class RequestBoundsTests(Azurite azurite) : IClassFixture<Azurite>
{
    private static JsonElement Body(ApiResult result) => JsonSerializer.SerializeToElement(result.Body, PipelineStorage.Json);

    private static readonly (string Body, string Field)[] Hostile =
    [
        ("""{"iterations": 2147483647}""", "iterations"),
        ("""{"patch": [4096, 4096, 4096]}""", "patch"),
        ("""{"patch": [256, 512, 512]}""", "patch"),
        ("""{"patch": [16, 16]}""", "patch"),
        ("""{"baseChannels": 1000000}""", "baseChannels"),
        ("""{"batch": 2e9}""", "$.batch"),
        ("""{"batch": 64, "labeledBatch": 32, "patch": [128, 128, 128]}""", "batch"),
        ("""{"validateEvery": 0}""", "validateEvery"),
        ("""{"checkpointEvery": -1}""", "checkpointEvery"),
        ("""{"rampupIterations": -7}""", "rampupIterations"),
        ("""{"batch": 4, "labeledBatch": 1}""", "labeledBatch"),
        ("""{"mode": "cps", "batch": 2, "labeledBatch": 2}""", "labeledBatch"),
        ("""{"labeledFraction": "NaN"}""", "labeledFraction"),
        ("""{"labeled": 3, "labeledFraction": 0.5}""", "labeled"),
        ("""{"validationFraction": 1}""", "validationFraction"),
        ("""{"promotionMargin": 7}""", "promotionMargin"),
        ("""{"foregroundFraction": 2}""", "foregroundFraction"),
        ("""{"augmentation": "heavy"}""", "augmentation"),
        ("""{"normalization": "minmax"}""", "normalization"),
        ("""{"mode": null}""", "mode"),
        ("""{"iteration": 10}""", "$.iteration"),
        ("""{"iterations": "ten"}""", "$.iterations"),
    ];

    [Fact]
    public async Task A_request_out_of_bounds_is_refused_naming_the_field_and_nothing_starts()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        string dataset = InProcessPipeline.UniqueName("bounds");
        await p.UploadDatasetAsync(dataset);
        foreach (var (body, field) in Hostile)
        {
            var answer = await p.Api.StartTrainingAsync(dataset, body);
            Assert.True(answer.StatusCode == 400, $"{body}: {answer.StatusCode}");
            string error = Body(answer).GetProperty("error").GetString()!;
            Assert.True(error.Contains(field), $"{body}: '{error}' does not name {field}");
            if (!field.StartsWith('$')) Assert.Equal(field, Body(answer).GetProperty("field").GetString());
        }
        Assert.False(await p.Storage.ExistsAsync(BlobLayout.ActiveTrainingRun(dataset)));
    }

    [Fact]
    public async Task An_error_never_echoes_the_value_and_the_preset_rule_names_the_choices()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        string dataset = InProcessPipeline.UniqueName("echo");
        string hostile = new('x', 60_000);
        foreach (string body in new[] { $$"""{"preset": "{{hostile}}"}""", $$"""{"mode": "{{hostile}}"}""", $$"""{"{{hostile}}": 1}""",
                     $$"""{"augmentation": "{{hostile}}"}""", $$"""{"normalization": "{{hostile}}"}""" })
        {
            var answer = await p.Api.StartTrainingAsync(dataset, body);
            Assert.Equal(400, answer.StatusCode);
            string json = JsonSerializer.Serialize(answer.Body, PipelineStorage.Json);
            Assert.DoesNotContain("xxxxxxxx", json);
            Assert.True(json.Length < 400, json);
        }
        Assert.Contains("auto, flare22, amos", Body(await p.Api.StartTrainingAsync(dataset, """{"preset": "nnunet"}""")).GetProperty("error").GetString());
        var badName = await p.Api.StartTrainingAsync(new string('d', 5000), "{}");
        Assert.Equal(400, badName.StatusCode);
        Assert.DoesNotContain("ddddddd", JsonSerializer.Serialize(badName.Body));
        var noRun = await p.Api.GetRunAsync("train-" + new string('r', 5000));
        Assert.Equal(404, noRun.StatusCode);
        Assert.DoesNotContain("rrrrrrr", JsonSerializer.Serialize(noRun.Body));
    }

    [Fact]
    public async Task A_body_over_64_KB_is_a_413_and_is_read_no_further_than_the_limit()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        string dataset = InProcessPipeline.UniqueName("large");
        await p.UploadDatasetAsync(dataset);

        // 31 MB of valid-looking JSON, without a Content-Length (chunked): read up to the limit, then refused.
        var large = new CountingStream(Encoding.UTF8.GetBytes("{\"preset\": \"" + new string(' ', 31 << 20) + "auto\"}"));
        var answer = await p.Api.StartTrainingAsync(dataset, large, contentLength: null);
        Assert.Equal(413, answer.StatusCode);
        Assert.InRange(large.BytesRead, PipelineApi.MaxRequestBytes + 1, PipelineApi.MaxRequestBytes + 1);

        // A declared length over the limit is refused without reading at all.
        var declared = new CountingStream(new byte[16]);
        Assert.Equal(413, (await p.Api.StartTrainingAsync(dataset, declared, contentLength: 31 << 20)).StatusCode);
        Assert.Equal(0, declared.BytesRead);

        // Exactly at the limit is read and judged on its content.
        string padded = """{"iterations": 10}""".PadRight(PipelineApi.MaxRequestBytes);
        var atLimit = await p.Api.StartTrainingAsync(dataset, new CountingStream(Encoding.UTF8.GetBytes(padded)), contentLength: null);
        Assert.Equal(202, atLimit.StatusCode);
        await p.Api.CancelRunAsync(Body(atLimit).GetProperty("id").GetString()!);
    }

    [Fact]
    public void The_worker_rechecks_a_job_message_and_fails_it_as_invalid_rather_than_retrying()
    {
        // A job message written by an older API or by hand: the same bounds, and not a retry loop.
        var settings = new TrainRequest { Iterations = int.MaxValue };
        var refused = Assert.Throws<TrainingSettingException>(() => settings.ToOptions(numClasses: 4));
        Assert.Equal("iterations", refused.Field);
        Assert.True(JobWorkerHost.IsInvalidJob(refused));
        Assert.Throws<TrainingSettingException>(() => new TrainRequest().ToOptions(numClasses: 100_000));
        // The pipeline's own defaults and the paper's recipe are inside every bound.
        var paper = new TrainRequest { Preset = "flare22" }.ToOptions(numClasses: 14);
        Assert.Equal((20_000, 8, 4, 16), (paper.Iterations, paper.BatchSize, paper.LabeledBatchSize, paper.BaseChannels));
        Assert.Equal(4, new TrainRequest { Mode = "supervised" }.ToOptions(3).BatchSize);
    }

    /// <summary>A request body that records how much of it was read (MemoryStream's async reads go through these).</summary>
    private sealed class CountingStream(byte[] content) : MemoryStream(content)
    {
        public long BytesRead { get; private set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = base.Read(buffer, offset, count);
            BytesRead += n;
            return n;
        }

        public override int Read(Span<byte> buffer)
        {
            int n = base.Read(buffer);
            BytesRead += n;
            return n;
        }
    }
}
