using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.TestSupport;

namespace GuidedNet.Imaging.Tests;

public class NiftiWriterTests
{
    public static TheoryData<NiftiDataType, string> Types => new()
    {
        { NiftiDataType.UInt8, "a.nii" }, { NiftiDataType.Int8, "a.nii.gz" }, { NiftiDataType.Int16, "a.nii.gz" },
        { NiftiDataType.UInt16, "a.nii" }, { NiftiDataType.Int32, "a.nii.gz" }, { NiftiDataType.Float32, "a.nii" },
        { NiftiDataType.Float64, "a.nii.gz" },
    };

    [Theory]
    [MemberData(nameof(Types))]
    public void Round_trips_every_datatype(NiftiDataType type, string name)
    {
        using var tmp = new TempFolder();
        var affine = new Affine(new double[,] { { 0, -0.7, 0, 10 }, { 0, 0, 1.5, -20 }, { -2, 0, 0, 30 }, { 0, 0, 0, 1 } });
        var voxels = Enumerable.Range(0, 5 * 4 * 3).Select(i => (float)(i % 100 - (type is NiftiDataType.UInt8 or NiftiDataType.UInt16 ? 0 : 50))).ToArray();
        var volume = new Volume(5, 4, 3, voxels, affine);
        string path = tmp.File(name);
        NiftiWriter.Write(path, volume, type);
        var back = NiftiReader.Read(path);
        Assert.Equal(voxels, back.Voxels);
        Assert.Equal((short)type, back.SourceHeader!.DataType);
        Assert.True(back.Affine.ApproximatelyEquals(affine, 1e-6));
        Assert.True(back.SourceHeader.QFormAffine().ApproximatelyEquals(affine, 1e-5), "qform and sform must agree");
        Assert.Equal(new[] { path }, Directory.GetFiles(Path.GetDirectoryName(path)!, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void A_write_that_fails_leaves_the_old_file_whole_and_no_temporary_file()
    {
        using var tmp = new TempFolder();
        string path = tmp.File("mask.nii.gz");
        NiftiWriter.Write(path, new Volume(2, 2, 2, new float[8], Affine.Scaling(1, 1, 1)), NiftiDataType.UInt8);
        byte[] before = File.ReadAllBytes(path);
        // 300 does not fit uint8: the writer throws halfway through the voxels.
        Assert.Throws<ArgumentException>(() => NiftiWriter.Write(path, new Volume(2, 2, 2, [1, 2, 3, 300, 5, 6, 7, 8], Affine.Scaling(1, 1, 1)), NiftiDataType.UInt8));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(Path.GetDirectoryName(path)!, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Writing_from_a_source_keeps_its_geometry_fields_bit_for_bit()
    {
        using var tmp = new TempFolder();
        string source = "/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz";
        var scan = NiftiReader.Read(source);
        var mask = scan.WithVoxels(scan.Voxels.Select(v => v > 100 ? 1f : 0f).ToArray());
        string path = tmp.File("mask.nii.gz");
        NiftiWriter.Write(path, mask, NiftiDataType.UInt8);

        var a = scan.SourceHeader!;
        var b = NiftiReader.ReadHeader(path);
        Assert.Equal(a.Dim, b.Dim);
        Assert.Equal(a.PixDim, b.PixDim);
        Assert.Equal((a.QFormCode, a.SFormCode), (b.QFormCode, b.SFormCode));
        Assert.Equal((a.QuaternB, a.QuaternC, a.QuaternD), (b.QuaternB, b.QuaternC, b.QuaternD));
        Assert.Equal((a.QOffsetX, a.QOffsetY, a.QOffsetZ), (b.QOffsetX, b.QOffsetY, b.QOffsetZ));
        Assert.Equal(a.SRowX, b.SRowX);
        Assert.Equal(a.SRowY, b.SRowY);
        Assert.Equal(a.SRowZ, b.SRowZ);
        Assert.Equal(a.XyztUnits, b.XyztUnits);
        Assert.Equal((short)NiftiDataType.UInt8, b.DataType);
        Assert.Equal(mask.Voxels, NiftiReader.Read(path).Voxels);
    }

    [Fact]
    public void Integer_overflow_is_an_error_not_a_wrap()
    {
        using var tmp = new TempFolder();
        var volume = new Volume(2, 1, 1, new[] { 1f, 300f }, Affine.Identity);
        Assert.Throws<ArgumentException>(() => NiftiWriter.Write(tmp.File("x.nii"), volume, NiftiDataType.UInt8));
    }
}
