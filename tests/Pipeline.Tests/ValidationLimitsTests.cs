using System.Globalization;
using System.IO.Compression;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Tests.Infrastructure;
using GuidedNet.Pipeline.Validation;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// Validation, which runs in the Functions app with several cases at once, holds no volume: a
/// clinical-size CT with its label is checked in bounded memory (measured in a child process),
/// and decompression and geometry bombs are refused with the limit they hit.
/// </summary>
public sealed class ValidationLimitsTests
{
    [Fact]
    public void A_512x512x1000_CT_with_its_label_is_validated_within_300_MB_in_a_child_process()
    {
        using var bench = new ChildProcess(Processes.GuidedNet, ["bench", "validate", "--size", "512,512,1000", "--checks", "streaming"], new Dictionary<string, string>());
        Assert.Equal(0, bench.WaitForExit(TimeSpan.FromMinutes(5)));
        var row = bench.Output.Split('\n').Single(l => l.StartsWith("| streaming |")).Split('|', StringSplitOptions.TrimEntries);
        double peakMb = double.Parse(row[3], CultureInfo.InvariantCulture);
        Assert.True(peakMb <= 300, $"validation peaked at {peakMb} MB:\n{bench.Output}");
        Assert.Equal("accepted", row[4]);
    }

    [Fact]
    public void Decompression_and_geometry_bombs_are_quarantine_reasons_naming_the_file_and_the_limit()
    {
        using var temp = new Storage.TempFolder();
        string bomb = temp.File("bomb.nii.gz");
        using (var file = File.Create(bomb))
        using (var gz = new GZipStream(file, CompressionLevel.SmallestSize))
        {
            var header = NiftiHeader.FromAffine(Affine.Scaling(1, 1, 1), 1024, 1024, 1023);
            header.DataType = (short)NiftiDataType.UInt8;
            header.BitPix = 8;
            gz.Write(header.ToBytes());
            gz.Write(new byte[4]);
            var slice = new byte[1024 * 1024];
            for (int z = 0; z < 1023; z++) gz.Write(slice);
        }
        string? problem = CaseValidator.CheckImage(bomb, "datasets/d/imagesTr/bomb_0000.nii.gz", out var grid);
        Assert.Null(grid);
        Assert.StartsWith("datasets/d/imagesTr/bomb_0000.nii.gz: ", problem);
        Assert.Contains("MaxVoxels", problem);

        string coarse = temp.File("coarse.nii.gz");
        NiftiWriter.Write(coarse, new Volume(8, 8, 8, new float[512], Affine.Scaling(400, 400, 400)), NiftiDataType.Int16);
        Assert.Equal("scans/incoming/p/coarse.nii.gz: voxel spacing (400, 400, 400) mm is outside 0.05–20 mm",
            CaseValidator.CheckImage(coarse, "scans/incoming/p/coarse.nii.gz", out _));

        string fine = temp.File("fine.nii.gz");
        NiftiWriter.Write(fine, new Volume(8, 8, 8, new float[512], Affine.Scaling(0.8, 0.8, 2.5)), NiftiDataType.Int16);
        Assert.Null(CaseValidator.CheckImage(fine, "fine.nii.gz", out var accepted));
        Assert.Equal((8, 8, 8), (accepted!.SizeX, accepted.SizeY, accepted.SizeZ));
        Assert.Equal(0.8, accepted.Spacing.X, 1e-6);
        Assert.Equal(2.5, accepted.Spacing.Z, 1e-6);
    }
}
