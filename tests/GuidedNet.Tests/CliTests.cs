using System.Text.Json;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Numpy;
using GuidedNet.TestSupport;
using static GuidedNet.Tests.InProcessCli;

namespace GuidedNet.Tests;

public class CliTests
{
    /// <summary>The reference's sliding-window volume as a NIfTI file: (z, y, x) array = NIfTI x-fastest order.</summary>
    private static string WriteReferenceVolume(TempFolder tmp, string name, Affine affine)
    {
        var v = Reference.Npy("sw_volume");
        string path = tmp.File(name);
        NiftiWriter.Write(path, new Volume((int)v.Shape[2], (int)v.Shape[1], (int)v.Shape[0], v.AsFloat(), affine), NiftiDataType.Float32);
        return path;
    }

    [Fact]
    public void Predict_raw_with_the_authors_weights_gives_the_authors_labels()
    {
        using var tmp = new TempFolder();
        var affine = new Affine(new double[,] { { -0.8, 0, 0, 10 }, { 0, -0.8, 0, 20 }, { 0, 0, 2.5, -30 }, { 0, 0, 0, 1 } });
        Directory.CreateDirectory(tmp.File("in"));
        WriteReferenceVolume(tmp, "in/case_001_0000.nii.gz", affine);
        var (code, output, error) = Run("predict", "--model", Reference.File("unet_gmm_k14.pth"), "--input", tmp.File("in"),
            "--output", tmp.File("out"), "--raw", "--patch", "16,32,32", "--stride", "8,16,16", "--device", "cpu", ReproducibleCpuKernels.Flag, "--preview");
        Assert.True(code == 0, error + output);
        Assert.Contains("windows 12/12", output);
        var mask = NiftiReader.Read(tmp.File("out/case_001.nii.gz"));
        Assert.Equal((short)NiftiDataType.UInt8, mask.SourceHeader!.DataType);
        Assert.Equal(Reference.Npy("sw_labels").AsInt(), mask.Voxels.Select(v => (int)v).ToArray());
        Assert.True(mask.Affine.ApproximatelyEquals(affine, 1e-6));
        Assert.True(new FileInfo(tmp.File("out/case_001.png")).Length > 1000);
    }

    [Fact]
    public void The_authors_network_converted_to_a_model_file_is_served_by_the_worker_s_loader_and_still_gives_the_authors_labels()
    {
        using var tmp = new TempFolder();
        var (code, output, error) = Run("convert", "--model", Reference.File("unet_gmm_k14.pth"), "--output", tmp.File("authors.guidednet"),
            "--preset", "flare22", "--patch", "64,160,160");
        Assert.True(code == 0, error + output);
        Assert.Contains("width 16, 14 classes, plan 'flare22', patch 64x160x160", output);
        // The worker loads only GuidedNet model files; the converted one is one, with the plan and window stored.
        using (var served = Models.ModelFile.Load(tmp.File("authors.guidednet"), TorchSharp.torch.CPU, guidedNetFormatOnly: true))
        {
            Assert.Equal((14, 16, "flare22"), (served.Metadata.NumClasses, served.Metadata.BaseChannels, served.Metadata.Preset));
            Assert.Equal(new[] { 64, 160, 160 }, served.Metadata.Patch);
        }
        Directory.CreateDirectory(tmp.File("in"));
        WriteReferenceVolume(tmp, "in/case_001_0000.nii.gz", Affine.Scaling(0.8, 0.8, 2.5));
        (code, output, error) = Run("predict", "--model", tmp.File("authors.guidednet"), "--input", tmp.File("in"),
            "--output", tmp.File("out"), "--raw", "--patch", "16,32,32", "--stride", "8,16,16", "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.True(code == 0, error + output);
        Assert.Equal(Reference.Npy("sw_labels").AsInt(), NiftiReader.Read(tmp.File("out/case_001.nii.gz")).Voxels.Select(v => (int)v).ToArray());
        // A state dict that is not one is refused with its name.
        File.WriteAllText(tmp.File("bad.pth"), "not a model");
        (code, _, error) = Run("convert", "--model", tmp.File("bad.pth"), "--output", tmp.File("bad.guidednet"));
        Assert.NotEqual(0, code);
        Assert.Contains("bad.pth", error);
        Assert.False(File.Exists(tmp.File("bad.guidednet")));
    }

    [Fact]
    public void Predict_with_a_preset_writes_masks_in_the_grid_and_affine_of_an_oblique_flipped_scan()
    {
        using var tmp = new TempFolder();
        double c = Math.Cos(0.3), s = Math.Sin(0.3);
        // Flipped x, z running inferior, rotated in-plane: nothing like the model grid.
        var affine = new Affine(new double[,] { { -0.9 * c, 0.9 * s, 0, 50 }, { 0.9 * s, 0.9 * c, 0, -20 }, { 0, 0, -3, 60 }, { 0, 0, 0, 1 } });
        string scan = WriteReferenceVolume(tmp, "oblique.nii.gz", affine);
        var (code, output, error) = Run("predict", "--model", Reference.File("unet_gmm_k14.pth"), "--input", scan,
            "--output", tmp.File("out"), "--preset", "flare22", "--patch", "16,32,32", "--overlap", "0.5", "--gaussian", "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.True(code == 0, error + output);
        var input = NiftiReader.Read(scan);
        var mask = NiftiReader.Read(tmp.File("out/oblique.nii.gz"));
        Assert.Equal((input.SizeX, input.SizeY, input.SizeZ), (mask.SizeX, mask.SizeY, mask.SizeZ));
        Assert.Equal(input.SourceHeader!.SRowX, mask.SourceHeader!.SRowX);
        Assert.Equal(input.SourceHeader.SRowY, mask.SourceHeader.SRowY);
        Assert.Equal(input.SourceHeader.SRowZ, mask.SourceHeader.SRowZ);
        Assert.Equal(input.SourceHeader.PixDim, mask.SourceHeader.PixDim);
        Assert.All(mask.Voxels, v => Assert.InRange(v, 0, 13));
        Assert.Contains("preprocessing 'flare22'", output);
    }

    [Fact]
    public void Evaluate_writes_json_and_csv_with_absent_classes_left_out()
    {
        using var tmp = new TempFolder();
        var gt = Reference.Npy("metric_gt");
        var pred = Reference.Npy("metric_pred");
        var affine = Affine.Scaling(1.2225, 1.2225, 2.5);
        (int x, int y, int z) = ((int)gt.Shape[2], (int)gt.Shape[1], (int)gt.Shape[0]);
        NiftiWriter.Write(tmp.File("truth/a.nii.gz"), new Volume(x, y, z, gt.AsFloat(), affine), NiftiDataType.UInt8);
        NiftiWriter.Write(tmp.File("pred/a.nii.gz"), new Volume(x, y, z, pred.AsFloat(), affine), NiftiDataType.UInt8);
        File.WriteAllText(tmp.File("dataset.json"), """{"labels": {"background": 0, "liver": 1, "kidney": 2, "spleen": 3, "pancreas": 4}}""");

        var (code, output, error) = Run("evaluate", "--pred", tmp.File("pred"), "--truth", tmp.File("truth"), "--labels", tmp.File("dataset.json"));
        Assert.True(code == 0, error + output);
        Assert.Contains("liver", output);
        using var json = JsonDocument.Parse(File.ReadAllText(tmp.File("pred/metrics.json")));
        var classes = json.RootElement.GetProperty("classes").EnumerateArray().ToList();
        var liver = classes.Single(e => e.GetProperty("label").GetInt32() == 1);
        Assert.Equal(0.804177545691906, liver.GetProperty("dice").GetProperty("mean").GetDouble(), 1e-9);
        Assert.Equal(3.4968593051479777, liver.GetProperty("hd95").GetProperty("mean").GetDouble(), 1e-4);
        var pancreas = classes.Single(e => e.GetProperty("label").GetInt32() == 4);
        Assert.Equal(0, pancreas.GetProperty("dice").GetProperty("cases").GetInt32());
        Assert.False(pancreas.GetProperty("dice").TryGetProperty("mean", out _));
        // Mean over classes leaves the absent pancreas out: (dice1 + dice2 + dice3) / 3.
        Assert.Equal((0.804177545691906 + 0.6338912133891214 + 0.0) / 3, json.RootElement.GetProperty("meanDice").GetDouble(), 1e-9);
        var csv = File.ReadAllLines(tmp.File("pred/metrics.csv"));
        Assert.Equal("case,label,name,absent,dice,jaccard,hd95_mm,hd_mm,asd_mm,assd_mm,nsd_1mm", csv[0]);
        Assert.Contains(csv, l => l.StartsWith("a,4,pancreas,1,,", StringComparison.Ordinal));
        Assert.Contains(csv, l => l.StartsWith("mean,1,liver,,0.804177545691906", StringComparison.Ordinal));
    }

    [Fact]
    public void Bad_input_is_reported_with_the_file_name_and_other_cases_still_run()
    {
        using var tmp = new TempFolder();
        Directory.CreateDirectory(tmp.File("in"));
        WriteReferenceVolume(tmp, "in/good.nii.gz", Affine.Scaling(1, 1, 1));
        File.WriteAllText(tmp.File("in/broken.nii.gz"), "garbage");
        var (code, output, error) = Run("predict", "--model", Reference.File("unet_gmm_k14.pth"), "--input", tmp.File("in"),
            "--output", tmp.File("out"), "--raw", "--patch", "16,32,32", "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.Equal(1, code);
        Assert.Contains(tmp.File("in/broken.nii.gz"), error);
        Assert.True(File.Exists(tmp.File("out/good.nii.gz")), output);
        Assert.False(File.Exists(tmp.File("out/broken.nii.gz")));
    }

    [Fact]
    public void Predict_refuses_an_output_that_would_replace_an_input_and_writes_nothing()
    {
        using var tmp = new TempFolder();
        Directory.CreateDirectory(tmp.File("in"));
        string scan = WriteReferenceVolume(tmp, "in/case.nii.gz", Affine.Scaling(1, 1, 1));
        byte[] before = File.ReadAllBytes(scan);
        Directory.CreateSymbolicLink(tmp.File("linked"), tmp.File("in"));
        foreach (string outputFolder in new[] { tmp.File("in"), tmp.File("linked"), tmp.File("in/../in") })
        {
            var (code, _, error) = Run("predict", "--model", Reference.File("unet_gmm_k14.pth"), "--input", tmp.File("in"),
                "--output", outputFolder, "--raw", "--patch", "16,32,32", "--device", "cpu", ReproducibleCpuKernels.Flag);
            Assert.Equal(2, code);
            Assert.Contains($"would replace the input scan {scan}", error);
        }
        Assert.Equal(before, File.ReadAllBytes(scan));
        Assert.Equal(new[] { scan }, Directory.GetFiles(tmp.File("in")));

        // Two scans of one case would write one mask: refused before anything runs.
        WriteReferenceVolume(tmp, "in/case_0000.nii.gz", Affine.Scaling(1, 1, 1));
        var (twice, _, twiceError) = Run("predict", "--model", Reference.File("unet_gmm_k14.pth"), "--input", tmp.File("in"),
            "--output", tmp.File("out"), "--raw", "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.Equal(2, twice);
        Assert.Contains("are all case 'case'", twiceError);
        Assert.False(Directory.Exists(tmp.File("out")));
    }

    [Fact]
    public void A_failing_case_is_one_line_the_batch_goes_on_and_predictions_csv_lists_every_outcome()
    {
        using var tmp = new TempFolder();
        Directory.CreateDirectory(tmp.File("in"));
        WriteReferenceVolume(tmp, "in/good.nii.gz", Affine.Scaling(1, 1, 1));
        File.WriteAllText(tmp.File("in/broken.nii.gz"), "garbage");
        // A geometry bomb: 8³ voxels of 400 mm, which the flare22 spacing would make gigavoxels (an OverflowException ended the batch before).
        NiftiWriter.Write(tmp.File("in/huge_voxels.nii.gz"), new Volume(8, 8, 8, new float[512], Affine.Scaling(400, 400, 400)), NiftiDataType.Int16);
        string[] predict = ["predict", "--model", Reference.File("unet_gmm_k14.pth"), "--input", tmp.File("in"), "--output", tmp.File("out"),
            "--preset", "flare22", "--patch", "16,32,32", "--device", "cpu", ReproducibleCpuKernels.Flag];

        var (code, output, error) = Run(predict);
        Assert.Equal(1, code);
        var errors = error.Split('\n').Where(l => l.StartsWith("error:")).ToList();
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, l => l.Contains(tmp.File("in/broken.nii.gz")));
        Assert.Contains(errors, l => l.Contains(tmp.File("in/huge_voxels.nii.gz")) && l.Contains("outside 0.05–20 mm"));
        Assert.True(File.Exists(tmp.File("out/good.nii.gz")), output);
        Assert.Equal(new[] { "good.nii.gz", "labels.json", "predictions.csv" }, Directory.GetFiles(tmp.File("out")).Select(Path.GetFileName).Order());
        var rows = Outcomes(tmp.File("out/predictions.csv"));
        Assert.Equal(("failed", "failed", "done"), (rows["broken"], rows["huge_voxels"], rows["good"]));

        // Resumed: the finished case is left as it is, the failing ones are tried again.
        var written = File.GetLastWriteTimeUtc(tmp.File("out/good.nii.gz"));
        var (again, againOutput, _) = Run([.. predict, "--skip-existing"]);
        Assert.Equal(1, again);
        Assert.Contains("good: ", againOutput);
        Assert.Equal(written, File.GetLastWriteTimeUtc(tmp.File("out/good.nii.gz")));
        Assert.Equal("skipped", Outcomes(tmp.File("out/predictions.csv"))["good"]);
    }

    private static Dictionary<string, string> Outcomes(string csv)
    {
        var lines = File.ReadAllLines(csv);
        Assert.Equal("case,scan,mask,status,seconds,error", lines[0]);
        return lines.Skip(1).Select(l => l.Split(',')).ToDictionary(f => f[0], f => f[3]);
    }

    [Fact]
    public void Synth_writes_an_msd_dataset_with_the_requested_split()
    {
        using var tmp = new TempFolder();
        var (code, output, error) = Run("synth", "--out", tmp.File("ds"), "--cases", "4", "--labeled", "2", "--test", "1",
            "--classes", "5", "--size", "32,32,16", "--seed", "4");
        Assert.True(code == 0, error + output);
        Assert.Equal(4, Directory.GetFiles(tmp.File("ds/imagesTr")).Length);
        Assert.Equal(2, Directory.GetFiles(tmp.File("ds/labelsTr")).Length);
        Assert.Single(Directory.GetFiles(tmp.File("ds/imagesTs")));
        var image = NiftiReader.Read(tmp.File("ds/imagesTr/phantom_000_0000.nii.gz"));
        var label = NiftiReader.Read(tmp.File("ds/labelsTr/phantom_000.nii.gz"));
        Assert.True(image.SameGrid(label));
        Assert.Equal((32, 32, 16), (image.SizeX, image.SizeY, image.SizeZ));
        // Every organ class appears, with very different sizes; air, body and organs differ in intensity.
        var counts = Enumerable.Range(1, 4).Select(k => label.Voxels.Count(v => v == k)).ToArray();
        Assert.All(counts, c => Assert.True(c > 0));
        Assert.True(counts[0] > 5 * counts[3], $"organ sizes {string.Join(",", counts)} should differ strongly");
        Assert.True(image.Voxels.Min() < -800 && image.Voxels.Max() > 0);
        using var json = JsonDocument.Parse(File.ReadAllText(tmp.File("ds/dataset.json")));
        Assert.Equal(5, json.RootElement.GetProperty("labels").EnumerateObject().Count());
        // The same seed gives the same data.
        Run("synth", "--out", tmp.File("again"), "--cases", "1", "--classes", "5", "--size", "32,32,16", "--seed", "4");
        Assert.Equal(image.Voxels, NiftiReader.Read(tmp.File("again/imagesTr/phantom_000_0000.nii.gz")).Voxels);
    }

    [Theory]
    [InlineData("predict --model m.pth --input x --output y --patch 10,32,32", "multiples of 16")]
    [InlineData("predict --model m.pth --input x --output y --patch 16,a,32", "three positive integers")]
    [InlineData("convert --input a.npy --output b.nii --spacing 2.5,-1,1", "three positive numbers")]
    [InlineData("predict --model m.pth --input x --output y --threads 1.5", "expects an integer")]
    [InlineData("predict --model m.pth --input x --output y --stride 8,8,8 --overlap 0.5", "not both")]
    [InlineData("predict --model m.pth --input x --output y --raw --tta", "--raw")]
    [InlineData("predict --model m.pth --input x --output y --devise cpu", "--devise")]
    [InlineData("predict --input x --output y", "--model is required")]
    [InlineData("evaluate --pred a", "--truth is required")]
    [InlineData("train --dataset d --out o --mode guidednet --batch 4 --labeled-batch 1", "--labeled-batch: GuidedNet pairs each unlabeled sample with a labeled one")]
    [InlineData("train --dataset d --out o --iterations 2147483647", "--iterations: must be within [1, 1000000]")]
    [InlineData("train --dataset d --out o --rampup-iterations -7", "--rampup-iterations: must be within")]
    [InlineData("train --dataset d --out o --checkpoint-every 0", "--checkpoint-every: must be within")]
    [InlineData("train --dataset d --out o --base-channels 1000000", "--base-channels: must be within [1, 64]")]
    [InlineData("train --dataset d --out o --patch 512,512,512", "--patch: must hold at most")]
    [InlineData("train --dataset d --out o --val-fraction 1", "--val-fraction: must be in [0, 1)")]
    [InlineData("train --dataset d --out o --lr 0", "--lr: must be finite and positive")]
    [InlineData("train --dataset d --out o --mode fast", "--mode: must be guidednet, supervised, cps")]
    [InlineData("train --dataset d --out o --preset nnunet", "--preset: must be auto, flare22, amos")]
    [InlineData("predict --model m.pth --input x --output y --batch-windows 1000", "windows per batch must be within [1, 64]")]
    [InlineData("train --dataset d --out o --labeled 3 --labeled-fraction 0.1", "not both")]
    [InlineData("synth --out x --cases 2 --labeled 3", "--labeled must be within")]
    public void Usage_errors_are_explained(string line, string message)
    {
        var (code, _, error) = Run(line.Split(' '));
        Assert.NotEqual(0, code);
        Assert.Contains(message, error);
    }

    [Fact]
    public void Version_names_this_build_and_predict_help_lists_every_preset_predict_takes()
    {
        var (code, output, _) = Run("--version");
        Assert.Equal(0, code);
        Assert.Equal($"guidednet {GuidedNet.GpuJob.Cli.GuidedNetCli.Version}", output.Trim());
        Assert.Matches(@"^guidednet \d+\.\d+\.\d+", output);
        (code, output, _) = Run("predict", "--help");
        Assert.Equal(0, code);
        string presetLine = output.Split('\n').Single(l => l.TrimStart().StartsWith("--preset", StringComparison.Ordinal));
        foreach (string preset in new[] { "flare22", "amos", "auto", "none" })
        {
            Assert.Contains(preset, presetLine);
            Assert.Equal(preset, Imaging.Preprocessing.PreprocessingPlan.FromName(preset).Name);
        }
    }

    [Theory]
    [InlineData("VmHWM:\t  987654 kB", 987654)]
    [InlineData("VmHWM:\t12345678 kB", 12345678)]
    public void Peak_rss_reads_short_and_long_numbers(string line, long kilobytes) =>
        Assert.Equal(kilobytes, GuidedNet.GpuJob.Commands.BenchCommand.StatusKilobytes(line));
}
