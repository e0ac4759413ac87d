using Azure.Storage.Blobs;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;
using GuidedNet.TestSupport;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// <c>guidednet upload</c> and <c>download</c> against Azurite: blob names that would land somewhere
/// else than named are refused before anything is written, and the connection string never
/// travels on the command line.
/// </summary>
public sealed class CommandLineSafetyTests(Azurite azurite) : IClassFixture<Azurite>
{
    private (int Exit, string Output) Guidednet(Dictionary<string, string> environment, params string[] arguments)
    {
        using var process = new ChildProcess(Processes.GuidedNet, arguments, environment);
        int exit = process.WaitForExit(TimeSpan.FromMinutes(1));
        return (exit, process.Output);
    }

    private Dictionary<string, string> WithConnection => new() { ["Storage__ConnectionString"] = azurite.ConnectionString };

    [Theory]
    [InlineData("results/p/a/../../../models/x")]
    [InlineData("results/p/./x")]
    [InlineData("results/p//x")]
    [InlineData("results/p/a\\..\\x")]
    public void Blob_paths_with_dot_or_empty_segments_are_refused(string path)
    {
        var error = Assert.Throws<ArgumentException>(() => BlobLayout.Split(path));
        Assert.Contains("not a valid blob path", error.Message);
        Assert.Throws<ArgumentException>(() => BlobLayout.SplitPrefix(path + "/"));
        Assert.Equal(("results", "p/a/x.nii.gz"), BlobLayout.Split("results/p/a/x.nii.gz"));
        Assert.Equal(("results", "p/"), BlobLayout.SplitPrefix("results/p/"));
    }

    [Fact]
    public async Task Upload_to_a_path_with_dot_segments_writes_nothing_and_names_the_path()
    {
        string project = InProcessPipeline.UniqueName("up");
        string file = Path.Combine(Path.GetTempPath(), $"{project}.nii.gz");
        await File.WriteAllBytesAsync(file, new byte[] { 1, 2, 3 });
        var (exit, output) = Guidednet(WithConnection, "upload", "--from", file, "--to", $"results/{project}/a/../../../models/{project}");
        File.Delete(file);
        Assert.Equal(1, exit);
        Assert.Contains($"results/{project}/a/../../../models/{project}", output);
        Assert.Contains("not a valid blob path", output);
        var storage = PipelineStorage.Create(new() { ConnectionString = azurite.ConnectionString });
        Assert.Empty(await storage.ListAsync($"models/{project}/"));
        Assert.Empty(await storage.ListAsync($"results/{project}/"));
    }

    [Fact]
    public async Task Download_refuses_a_blob_name_that_would_be_written_outside_the_target_folder_and_writes_nothing()
    {
        string project = InProcessPipeline.UniqueName("down");
        var results = new BlobContainerClient(azurite.ConnectionString, "results");
        await results.CreateIfNotExistsAsync();
        string outside = Path.Combine(Path.GetTempPath(), $"{project}-escaped");
        await results.GetBlobClient($"{project}/ok.txt").UploadAsync(new BinaryData("fine"));
        // "results/<project>/" followed by an absolute path: joined naively onto --to, it is that absolute path.
        await results.GetBlobClient($"{project}/{outside}").UploadAsync(new BinaryData("escaped"));
        string to = Path.Combine(Path.GetTempPath(), $"{project}-to");

        var (exit, output) = Guidednet(WithConnection, "download", "--from", $"results/{project}", "--to", to);
        Assert.Equal(1, exit);
        Assert.Contains("would be written outside", output);
        Assert.False(File.Exists(outside), $"{outside} was written");
        Assert.False(Directory.Exists(to) && Directory.EnumerateFiles(to, "*", SearchOption.AllDirectories).Any(), "a refused download wrote files");
    }

    [Fact]
    public async Task The_connection_string_is_taken_from_the_environment_or_a_file_never_from_the_command_line()
    {
        string project = InProcessPipeline.UniqueName("secret");
        string file = Path.Combine(Path.GetTempPath(), $"{project}.txt");
        await File.WriteAllTextAsync(file, "scan");
        var (exit, output) = Guidednet(new(), "upload", "--from", file, "--to", $"scans/incoming/{project}", "--storage", azurite.ConnectionString);
        Assert.Equal(2, exit);
        Assert.Contains("--storage would put the connection string", output);
        Assert.DoesNotContain("AccountKey", output);

        string secret = Path.Combine(Path.GetTempPath(), $"{project}.connection");
        await File.WriteAllTextAsync(secret, azurite.ConnectionString + "\n");
        (exit, output) = Guidednet(new(), "upload", "--from", file, "--to", $"scans/incoming/{project}", "--storage-file", secret);
        Assert.True(exit == 0, output);
        Assert.DoesNotContain("AccountKey", output);
        var storage = PipelineStorage.Create(new() { ConnectionString = azurite.ConnectionString });
        Assert.Single(await storage.ListAsync($"scans/incoming/{project}/"));
        File.Delete(file);
        File.Delete(secret);
    }

    [Fact]
    public void The_local_host_refuses_a_connection_string_on_its_command_line_without_printing_it()
    {
        using var host = new ChildProcess(Processes.LocalHost, new[] { $"--Storage:ConnectionString={azurite.ConnectionString}" }, new Dictionary<string, string>());
        Assert.Equal(2, host.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Contains("--Storage:ConnectionString on the command line would show the connection string", host.Output);
        Assert.DoesNotContain("AccountKey", host.Output);
    }

    [Fact]
    public void The_local_host_refuses_a_durable_backend_concurrency_out_of_range_naming_the_setting()
    {
        using var host = new ChildProcess(Processes.LocalHost, Array.Empty<string>(), new Dictionary<string, string>
        {
            ["Storage__ConnectionString"] = azurite.ConnectionString,
            ["LocalHost__MaxConcurrentOrchestrations"] = "0",
        });
        Assert.Equal(2, host.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Contains("error: configuration: LocalHost: MaxConcurrentOrchestrations and MaxConcurrentActivities must be 1 to 1000", host.Output);
    }

    [Fact]
    public void A_worker_with_an_unknown_fast_mode_refuses_to_start_naming_the_setting()
    {
        using var worker = new ChildProcess(Processes.GuidedNet, ["worker"], new Dictionary<string, string>
        {
            ["Storage__ConnectionString"] = "UseDevelopmentStorage=true",
            ["Worker__Fast"] = "bf16,turbo",
        });
        Assert.Equal(2, worker.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Contains("Worker:Fast", worker.Output);
        Assert.Contains("'bf16,turbo'", worker.Output);
    }

    [Fact]
    public void Predict_stops_within_a_window_on_SIGTERM_leaving_no_partial_mask_and_a_record_of_what_is_left()
    {
        using var temp = new Storage.TempFolder();
        string input = temp.File("in"), output = temp.File("out");
        Directory.CreateDirectory(input);
        // 1,024 windows of 16×32×32: minutes on a CPU, so the signal always arrives mid-volume.
        NiftiWriter.Write(Path.Combine(input, "large.nii"), new Volume(512, 512, 64, new float[512 * 512 * 64], Affine.Scaling(1, 1, 1)), NiftiDataType.Float32);
        using var predict = new ChildProcess(Processes.GuidedNet, ["predict", "--model", Reference.File("unet_gmm_k14.pth"), "--input", input,
            "--output", output, "--raw", "--patch", "16,32,32", "--stride", "16,32,32", "--device", "cpu", "--threads", "1"], new Dictionary<string, string>());
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!predict.Printed("large: windows ") && !predict.HasExited && DateTime.UtcNow < deadline) Thread.Sleep(50);
        Assert.True(predict.Printed("large: windows "), predict.Output);

        Assert.True(predict.Stop(TimeSpan.FromSeconds(60)), "predict went on after SIGTERM:\n" + predict.Output);
        Assert.Equal(130, predict.WaitForExit(TimeSpan.FromSeconds(5)));
        Assert.Contains("continue with --skip-existing", predict.Output);
        Assert.Equal(new[] { "labels.json", "predictions.csv" }, Directory.GetFiles(output).Select(Path.GetFileName).Order());
        Assert.Contains(",stopped,", File.ReadAllText(Path.Combine(output, "predictions.csv")));
    }
}
