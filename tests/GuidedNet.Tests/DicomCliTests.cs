using System.IO.Compression;
using GuidedNet.Imaging.Dicom;
using GuidedNet.Imaging.Nifti;
using GuidedNet.TestSupport;
using GuidedNet.TestSupport.Dicom;
using static GuidedNet.Tests.InProcessCli;

namespace GuidedNet.Tests;

/// <summary>DICOM series in through the command line: <c>convert</c> to NIfTI, and <c>predict</c> on a series zip or folder.</summary>
public sealed class DicomCliTests
{
    [Fact]
    public void A_series_zip_and_a_series_folder_are_segmented_exactly_as_their_NIfTI_conversion()
    {
        using var tmp = new TempFolder();
        string series = tmp.File("exports/ct_042");
        DicomSeriesScript.Write(series, "--oblique", "--shuffle", "--extra-series");
        Directory.CreateDirectory(tmp.File("zips"));
        ZipFile.CreateFromDirectory(series, tmp.File("zips/ct_042.zip"));

        var (converted, convertOut, convertErr) = Run("convert", "--input", tmp.File("zips/ct_042.zip"), "--output", tmp.File("nifti/ct_042_0000.nii.gz"));
        Assert.True(converted == 0, convertErr + convertOut);
        Assert.Contains("the largest", convertOut);
        var nifti = NiftiReader.Read(tmp.File("nifti/ct_042_0000.nii.gz"));
        var dicom = DicomSeriesReader.Read(series).Volume;
        Assert.Equal(dicom.Voxels, nifti.Voxels);
        Assert.True(dicom.Affine.ApproximatelyEquals(nifti.Affine, 1e-4));
        Assert.Equal((short)NiftiDataType.Int16, nifti.SourceHeader!.DataType);

        string[] common = ["--model", Reference.File("unet_gmm_k14.pth"), "--preset", "flare22", "--patch", "16,32,32", "--overlap", "0.25",
            "--device", "cpu", ReproducibleCpuKernels.Flag];
        var masks = new Dictionary<string, float[]>();
        foreach (var (input, output) in new[] { ("zips", "from-zip"), ("exports", "from-folder"), ("nifti", "from-nifti") })
        {
            var (code, stdout, stderr) = Run(["predict", "--input", tmp.File(input), "--output", tmp.File(output), .. common]);
            Assert.True(code == 0, stderr + stdout);
            var mask = NiftiReader.Read(tmp.File($"{output}/ct_042.nii.gz"));
            Assert.Equal((dicom.SizeX, dicom.SizeY, dicom.SizeZ), (mask.SizeX, mask.SizeY, mask.SizeZ));
            Assert.True(mask.Affine.ApproximatelyEquals(dicom.Affine, 1e-4));
            masks[output] = mask.Voxels;
        }
        // DICOM in, DICOM SEG out (valid by dciodvfy), beside the mask; NIfTI in, none.
        foreach (string output in new[] { "from-zip", "from-folder" })
        {
            var (errors, report) = DicomChecks.Dciodvfy(tmp.File($"{output}/ct_042.seg.dcm"));
            Assert.True(errors.Count == 0, report);
        }
        Assert.False(File.Exists(tmp.File("from-nifti/ct_042.seg.dcm")));
        Assert.Equal(masks["from-nifti"], masks["from-zip"]);
        Assert.Equal(masks["from-nifti"], masks["from-folder"]);
        Assert.Contains(masks["from-zip"], v => v > 0);
    }

    [Fact]
    public void A_broken_series_fails_its_case_with_the_reason_and_convert_refuses_it()
    {
        using var tmp = new TempFolder();
        DicomSeriesScript.Write(tmp.File("in/gappy"), "--gap");
        var (code, _, error) = Run("convert", "--input", tmp.File("in/gappy"), "--output", tmp.File("gappy.nii.gz"));
        Assert.Equal(1, code);
        Assert.Contains("non-uniform slice spacing: 5 mm between", error);
        Assert.False(File.Exists(tmp.File("gappy.nii.gz")));

        var (predicted, _, predictError) = Run("predict", "--model", Reference.File("unet_gmm_k14.pth"), "--input", tmp.File("in"),
            "--output", tmp.File("out"), "--patch", "16,32,32", "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.Equal(1, predicted);
        Assert.Contains("gappy: non-uniform slice spacing", predictError.Replace(tmp.File("in") + "/", ""));
        Assert.Contains("gappy", File.ReadAllText(tmp.File("out/predictions.csv")));
    }

    [Fact]
    public void A_dataset_case_may_be_a_series_zip_which_trains_as_an_unlabeled_case()
    {
        using var tmp = new TempFolder();
        var (made, _, madeError) = Run("synth", "--out", tmp.File("ds"), "--cases", "3", "--labeled", "2", "--classes", "3", "--size", "32,32,16", "--seed", "2");
        Assert.True(made == 0, madeError);
        DicomSeriesScript.Write(tmp.File("series"));
        ZipFile.CreateFromDirectory(tmp.File("series"), tmp.File("ds/imagesTr/scanner_007.zip"));

        var dataset = Data.MsdDataset.Open(tmp.File("ds"));
        Assert.Contains(dataset.Unlabeled, c => c.Name == "scanner_007" && c.ImagePath.EndsWith(".zip"));
        var (code, output, error) = Run("train", "--dataset", tmp.File("ds"), "--out", tmp.File("out"), "--mode", "guidednet", "--iterations", "2",
            "--patch", "16,16,16", "--batch", "2", "--labeled-batch", "1", "--base-channels", "2", "--val-cases", "phantom_001",
            "--validate-every", "2", "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.True(code == 0, error + output);
        using var training = System.Text.Json.JsonDocument.Parse(File.ReadAllText(tmp.File("out/training.json")));
        var unlabeled = training.RootElement.GetProperty("data").GetProperty("unlabeled").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains("scanner_007", unlabeled);
        Assert.Equal(2, unlabeled.Count);
    }
}
