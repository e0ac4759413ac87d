using System.Text.Json;
using GuidedNet.Imaging.Labels;
using GuidedNet.Imaging.Nifti;
using GuidedNet.TestSupport;
using GuidedNet.TestSupport.Dicom;
using static GuidedNet.Tests.InProcessCli;

namespace GuidedNet.Tests;

/// <summary>Organ names travel with every mask: labels.json, the FLARE22 preset's names for the authors' weights, --roi and --per-organ.</summary>
public sealed class OrganNameTests
{
    [Fact]
    public void The_authors_weights_name_flare22_organs_and_roi_and_per_organ_masks_follow_the_names()
    {
        using var tmp = new TempFolder();
        DicomSeriesScript.Write(tmp.File("in/abdomen"));
        string[] predict = ["predict", "--model", Reference.File("unet_gmm_k14.pth"), "--input", tmp.File("in"), "--preset", "flare22",
            "--patch", "16,32,32", "--overlap", "0.25", "--device", "cpu", ReproducibleCpuKernels.Flag];

        var (code, output, error) = Run([.. predict, "--output", tmp.File("all")]);
        Assert.True(code == 0, error + output);
        var names = Data.MsdDataset.ReadLabels(tmp.File("all/" + LabelTable.FileName));
        Assert.Equal(14, names.Count);
        Assert.Equal("liver", names[1]);
        Assert.Equal("right kidney", names[2]);
        Assert.Equal("left kidney", names[13]);
        var all = NiftiReader.Read(tmp.File("all/abdomen.nii.gz"));

        (code, output, error) = Run([.. predict, "--output", tmp.File("roi"), "--roi", "Liver, spleen", "--per-organ"]);
        Assert.True(code == 0, error + output);
        var roi = NiftiReader.Read(tmp.File("roi/abdomen.nii.gz"));
        Assert.True(roi.Voxels.Count(v => v == 1) > 0 && roi.Voxels.Count(v => v == 3) > 0 && all.Voxels.Any(v => v is not (0 or 1 or 3)),
            string.Join(", ", all.Voxels.GroupBy(v => v).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        // The subset is the full mask with every other label set to 0.
        Assert.Equal(all.Voxels.Select(v => v is 1 or 3 ? v : 0), roi.Voxels);
        Assert.Equal(new[] { 0, 1, 3 }, Data.MsdDataset.ReadLabels(tmp.File("roi/" + LabelTable.FileName)).Keys.Order());
        var liver = NiftiReader.Read(tmp.File("roi/abdomen/liver.nii.gz"));
        Assert.Equal(roi.Voxels.Select(v => v == 1 ? 1f : 0f), liver.Voxels);
        Assert.True(liver.Affine.ApproximatelyEquals(roi.Affine, 0));
        Assert.True(File.Exists(tmp.File("roi/abdomen/spleen.nii.gz")));
        Assert.Equal(2, Directory.GetFiles(tmp.File("roi/abdomen")).Length);

        // evaluate finds the names beside the masks.
        (code, output, error) = Run("evaluate", "--pred", tmp.File("roi"), "--truth", tmp.File("all"), "--output", tmp.File("metrics"));
        Assert.True(code == 0, error + output);
        using var metrics = JsonDocument.Parse(File.ReadAllText(tmp.File("metrics/metrics.json")));
        Assert.Contains(metrics.RootElement.GetProperty("classes").EnumerateArray(), c => c.GetProperty("name").GetString() == "liver");

        // stats on the scan (the DICOM series) and its mask, named by the labels.json beside the mask.
        (code, output, error) = Run("stats", "--image", tmp.File("in/abdomen"), "--mask", tmp.File("roi/abdomen.nii.gz"));
        Assert.True(code == 0, error + output);
        Assert.Contains("1 liver", output);
        using var stats = JsonDocument.Parse(File.ReadAllText(tmp.File("roi/abdomen.stats.json")));
        var organs = stats.RootElement.GetProperty("organs").EnumerateArray().ToList();
        Assert.Equal(new[] { "liver", "spleen" }, organs.Select(o => o.GetProperty("name").GetString()));
        var s = roi.Spacing;
        // The scan's spacing (exact, from DICOM) against the mask's (float32 in NIfTI): equal to 1e-7 relative.
        Assert.Equal(roi.Voxels.Count(v => v == 1) * s.X * s.Y * s.Z / 1000, organs[0].GetProperty("volumeMl").GetDouble(), 4);
        Assert.Equal(roi.Voxels.Count(v => v == 1), organs[0].GetProperty("voxels").GetInt64());

        (code, _, error) = Run([.. predict, "--output", tmp.File("bad"), "--roi", "livre"]);
        Assert.Equal(2, code);
        Assert.Contains("--roi: unknown label name(s) 'livre'; this model's labels are liver, right kidney, spleen", error);
    }
}
