using System.IO.Compression;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.TestSupport;

namespace GuidedNet.Imaging.Tests;

public class NiftiReaderTests
{
    private static readonly double[,] CtAffine =
    {
        { -0.8, 0, 0, 100 }, { 0, -0.8, 0, 120 }, { 0, 0, 2.5, -300 }, { 0, 0, 0, 1 },
    };

    private static void AssertAffine(double[,] expected, Affine actual, double tolerance = 1e-6)
    {
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
                Assert.True(Math.Abs(expected[r, c] - actual[r, c]) <= tolerance, $"affine[{r},{c}] = {actual[r, c]}, expected {expected[r, c]}");
    }

    [Fact]
    public void Reads_reference_int16_with_scaling()
    {
        var v = NiftiReader.Read(Reference.File("nifti/ct_int16_scaled.nii.gz"));
        Assert.Equal((5, 6, 7), (v.SizeX, v.SizeY, v.SizeZ));
        Assert.Equal(NiftiDataType.Int16, (NiftiDataType)v.SourceHeader!.DataType);
        AssertAffine(CtAffine, v.Affine);
        Assert.Equal(new Vector3d(0.8, 0.8, 2.5), new Vector3d(Math.Round(v.Spacing.X, 6), Math.Round(v.Spacing.Y, 6), Math.Round(v.Spacing.Z, 6)));
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 6; y++)
                for (int z = 0; z < 7; z++)
                    Assert.Equal(2f * (x * 42 + y * 7 + z - 50) - 1024f, v[x, y, z]);
    }

    [Fact]
    public void Reads_reference_uncompressed_uint8_labels()
    {
        var v = NiftiReader.Read(Reference.File("nifti/label_uint8.nii"));
        Assert.Equal((5, 6, 7), (v.SizeX, v.SizeY, v.SizeZ));
        Assert.Equal(NiftiDataType.UInt8, (NiftiDataType)v.SourceHeader!.DataType);
        AssertAffine(CtAffine, v.Affine);
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 6; y++)
                for (int z = 0; z < 7; z++)
                    Assert.Equal((x * 42 + y * 7 + z) % 4, v[x, y, z]);
    }

    [Fact]
    public void Reads_reference_float32()
    {
        var v = NiftiReader.Read(Reference.File("nifti/float32_plain.nii.gz"));
        Assert.Equal((4, 3, 2), (v.SizeX, v.SizeY, v.SizeZ));
        AssertAffine(new double[,] { { 1.5, 0, 0, 0 }, { 0, 1.5, 0, 0 }, { 0, 0, 3, 0 }, { 0, 0, 0, 1 } }, v.Affine);
        for (int x = 0; x < 4; x++)
            for (int y = 0; y < 3; y++)
                for (int z = 0; z < 2; z++)
                    Assert.Equal(-1.0 + 2.0 * (x * 6 + y * 2 + z) / 23, v[x, y, z], 6);
    }

    // Facts of Debian's mricron-data and insighttoolkit5-examples files, read independently
    // of this library (header fields with struct unpacking, voxel sums with exact arithmetic).
    public static TheoryData<string, int[], short, float, double, float, (int, int, int), float> ThirdParty => new()
    {
        { "/usr/share/mricron/templates/ch2.nii.gz", new[] { 181, 217, 181 }, 2, 352, 317151210, 254, (90, 108, 90), 33 },
        { "/usr/share/mricron/templates/aal.nii.gz", new[] { 181, 217, 181 }, 2, 352, 76656511, 116, (10, 20, 30), 0 },
        { "/usr/share/mricron/templates/inia19-NeuroMaps.nii.gz", new[] { 168, 206, 128 }, 4, 32976, 502525881, 1605, (84, 103, 64), 1497 },
        { "/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz", new[] { 128, 128, 62 }, 4, 352, 19533798, 255, (64, 64, 31), 97 },
        { "/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1RawSkullStrip.nii.gz", new[] { 128, 128, 62 }, 2, 352, 754913, 6, (64, 64, 31), 6 },
    };

    [Theory]
    [MemberData(nameof(ThirdParty))]
    public void Reads_third_party_files(string path, int[] size, short datatype, float voxOffset, double sum, float max,
        (int X, int Y, int Z) probe, float probeValue)
    {
        Assert.True(File.Exists(path), $"{path} is missing: .ci/run installs mricron-data and insighttoolkit5-examples");
        var v = NiftiReader.Read(path);
        Assert.Equal(size, new[] { v.SizeX, v.SizeY, v.SizeZ });
        Assert.Equal(datatype, v.SourceHeader!.DataType);
        Assert.Equal(voxOffset, v.SourceHeader.VoxOffset);
        Assert.Equal(sum, v.Voxels.Sum(x => (double)x));
        Assert.Equal(max, v.Voxels.Max());
        Assert.Equal(0f, v.Voxels.Min());
        Assert.Equal(probeValue, v[probe.X, probe.Y, probe.Z]);
    }

    [Fact]
    public void Sform_is_preferred_and_matches_the_files_world_coordinates()
    {
        var ch2 = NiftiReader.Read("/usr/share/mricron/templates/ch2.nii.gz");
        AssertAffine(new double[,] { { 1, 0, 0, -90 }, { 0, 1, 0, -125 }, { 0, 0, 1, -71 }, { 0, 0, 0, 1 } }, ch2.Affine);

        var inia = NiftiReader.Read("/usr/share/mricron/templates/inia19-NeuroMaps.nii.gz");
        AssertAffine(new double[,] { { 0.5, 0, 0, -42 }, { 0, 0.5, 0, -57.5 }, { 0, 0, 0.5, -30 }, { 0, 0, 0, 1 } }, inia.Affine);
    }

    [Fact]
    public void Qform_quaternion_gives_the_same_rotated_affine_as_the_sform()
    {
        // ITK writes both: qform (b, c, d) = (0, √½, √½) is a 180° rotation that swaps j and k.
        var v = NiftiReader.Read("/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz");
        var expected = new double[,] { { -2, 0, 0, 0 }, { 0, 0, 3, -254 }, { 0, 2, 0, 0 }, { 0, 0, 0, 1 } };
        AssertAffine(expected, v.Affine);
        AssertAffine(expected, v.SourceHeader!.QFormAffine(), 1e-5);
        Assert.Equal(new[] { 2.0, 2.0, 3.0 }, new[] { v.Spacing.X, v.Spacing.Y, v.Spacing.Z }.Select(s => Math.Round(s, 5)));
    }

    [Fact]
    public void Reads_big_endian_files()
    {
        using var tmp = new TempFolder();
        var little = NiftiReader.Read(Reference.File("nifti/ct_int16_scaled.nii.gz"));
        string path = tmp.File("big.nii");
        File.WriteAllBytes(path, NiftiTestFiles.BigEndianInt16(little));
        var big = NiftiReader.Read(path);
        Assert.True(big.SourceHeader!.BigEndian);
        Assert.Equal(little.Voxels, big.Voxels);
        AssertAffine(CtAffine, big.Affine);
    }

    [Fact]
    public void Reads_4d_with_a_single_volume()
    {
        using var tmp = new TempFolder();
        var header = NiftiTestFiles.Header(4, 3, 2, NiftiDataType.Float32);
        header.Dim[0] = 4;
        header.Dim[4] = 1;
        string path = tmp.File("4d.nii");
        File.WriteAllBytes(path, NiftiTestFiles.Compose(header, Enumerable.Range(0, 24).Select(i => (float)i).ToArray()));
        var v = NiftiReader.Read(path);
        Assert.Equal((4, 3, 2), (v.SizeX, v.SizeY, v.SizeZ));
        Assert.Equal(23f, v[3, 2, 1]);
    }

    public static TheoryData<string, Func<byte[], byte[]>, string> BadFiles => new()
    {
        { "bad-magic.nii", b => NiftiTestFiles.Patch(b, 344, "XX1\0"u8.ToArray()), "bad magic" },
        { "truncated.nii", b => b[..(b.Length - 10)], "truncated" },
        { "zero-dim.nii", b => NiftiTestFiles.Patch(b, 42, new byte[] { 0, 0 }), "dim[1] = 0" },
        { "negative-dim.nii", b => NiftiTestFiles.Patch(b, 44, BitConverter.GetBytes((short)-3)), "dim[2] = -3" },
        { "huge.nii", b => NiftiTestFiles.Patch(NiftiTestFiles.Patch(NiftiTestFiles.Patch(b, 42, BitConverter.GetBytes((short)30000)),
            44, BitConverter.GetBytes((short)30000)), 46, BitConverter.GetBytes((short)30000)), "over the limit" },
        { "multi-volume.nii", b => NiftiTestFiles.Patch(NiftiTestFiles.Patch(b, 40, BitConverter.GetBytes((short)4)), 48, BitConverter.GetBytes((short)5)), "more than one volume" },
        { "bad-datatype.nii", b => NiftiTestFiles.Patch(b, 70, BitConverter.GetBytes((short)128)), "unsupported datatype" },
        { "not-nifti.nii", _ => "this is a text file, not an image"u8.ToArray(), "shorter than" },
        { "text.nii", _ => Enumerable.Repeat((byte)'a', 400).ToArray(), "not a NIfTI-1 file" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Bad_files_raise_one_exception_naming_file_and_problem(string name, Func<byte[], byte[]> corrupt, string problem)
    {
        using var tmp = new TempFolder();
        var good = NiftiTestFiles.Compose(NiftiTestFiles.Header(4, 3, 2, NiftiDataType.Float32), new float[24]);
        string path = tmp.File(name);
        File.WriteAllBytes(path, corrupt(good));
        var e = Assert.Throws<NiftiFormatException>(() => NiftiReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void Corrupt_and_truncated_gzip_name_the_file()
    {
        using var tmp = new TempFolder();
        byte[] gz = File.ReadAllBytes("/usr/share/mricron/templates/ch2.nii.gz");

        string truncated = tmp.File("truncated.nii.gz");
        File.WriteAllBytes(truncated, gz[..(gz.Length / 2)]);
        var e1 = Assert.Throws<NiftiFormatException>(() => NiftiReader.Read(truncated));
        Assert.Contains(truncated, e1.Message);
        Assert.Contains("truncated", e1.Message);

        string corrupt = tmp.File("corrupt.nii.gz");
        var bytes = (byte[])gz.Clone();
        for (int i = 2000; i < 2400; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(corrupt, bytes);
        var e2 = Assert.Throws<NiftiFormatException>(() => NiftiReader.Read(corrupt));
        Assert.Contains(corrupt, e2.Message);
        Assert.Contains("gzip", e2.Message);
    }

    [Fact]
    public void Oversized_header_is_refused_before_allocating()
    {
        using var tmp = new TempFolder();
        var header = NiftiTestFiles.Header(2000, 2000, 2000, NiftiDataType.Float32);
        string path = tmp.File("huge.nii.gz");
        using (var f = File.Create(path))
        using (var gz = new GZipStream(f, CompressionLevel.Fastest))
        {
            gz.Write(header.ToBytes());
            gz.Write(new byte[4]);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NiftiFormatException>(() => NiftiReader.Read(path));
        Assert.Contains("over the limit", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20, "reader allocated voxel memory before refusing");
    }

    /// <summary>A gzip of a uint8 volume of zeros: about 1000:1, the most one deflate layer gives.</summary>
    private static string ZerosBomb(TempFolder tmp, string name, int x, int y, int z)
    {
        string path = tmp.File(name);
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.SmallestSize);
        gz.Write(NiftiTestFiles.Header(x, y, z, NiftiDataType.UInt8).ToBytes());
        gz.Write(new byte[4]);
        var slice = new byte[x * y];
        for (int k = 0; k < z; k++) gz.Write(slice);
        return path;
    }

    [Fact]
    public void The_issues_decompression_bomb_is_refused_by_name_before_its_voxels_are_allocated()
    {
        using var tmp = new TempFolder();
        // The issue's file: a 1 MB .nii.gz of a 1024×1024×1023 uint8 volume.
        string bomb = ZerosBomb(tmp, "bomb.nii.gz", 1024, 1024, 1023);
        Assert.InRange(new FileInfo(bomb).Length, 500_000, 2_000_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NiftiFormatException>(() => NiftiReader.Read(bomb));
        Assert.Contains("MaxVoxels", e.Message);
        Assert.StartsWith(bomb, e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20, "reader allocated voxel memory before refusing");

        // Within the voxel limit, the ratio gives it away before anything is allocated for it.
        string within = ZerosBomb(tmp, "within.nii.gz", 1024, 1024, 500);
        before = GC.GetAllocatedBytesForCurrentThread();
        var ratio = Assert.Throws<NiftiFormatException>(() => NiftiReader.Read(within));
        Assert.Contains("MaxCompressionRatio", ratio.Message);
        Assert.Contains("header claims", ratio.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20, "reader allocated voxel memory before refusing");

        // From a stream of unknown length the ratio is watched while inflating: refused once 64 MB are inflated.
        long seen = 0;
        using var unknownLength = new NonSeekableStream(File.OpenRead(within));
        var streaming = Assert.Throws<NiftiFormatException>(() => NiftiReader.Scan(unknownLength, "upload",
            (values, _) => seen += values.Length, new NiftiReadOptions { MaxCompressionRatio = 200 }));
        Assert.Contains("decompressing gives", streaming.Message);
        Assert.Contains("MaxCompressionRatio", streaming.Message);
        Assert.InRange(seen, 63L << 20, 66L << 20);
    }

    [Fact]
    public void Each_limit_is_configurable_and_named_when_hit()
    {
        using var tmp = new TempFolder();
        string path = tmp.File("ct.nii.gz");
        var voxels = Enumerable.Range(0, 64 * 64 * 32).Select(i => (float)(i % 2000 - 1000)).ToArray();
        NiftiWriter.Write(path, new Volume(64, 64, 32, voxels, Affine.Scaling(1, 1, 2)), NiftiDataType.Int16);
        Assert.Equal(voxels, NiftiReader.Read(path).Voxels);
        Assert.Contains("MaxVoxels = 1000", Assert.Throws<NiftiFormatException>(() => NiftiReader.Read(path, new NiftiReadOptions { MaxVoxels = 1000 })).Message);
        Assert.Contains("MaxDataBytes = 4096", Assert.Throws<NiftiFormatException>(() => NiftiReader.ReadHeader(path, new NiftiReadOptions { MaxDataBytes = 4096 })).Message);
        Assert.Contains("MaxCompressionRatio = 1.5:1", Assert.Throws<NiftiFormatException>(() =>
            NiftiReader.Read(path, new NiftiReadOptions { MaxCompressionRatio = 1.5, RatioCheckedAfterBytes = 0 })).Message);

        // Streamed in chunks, the values are those of a whole read, in order.
        var streamed = new List<float>();
        long expectedFirst = 0;
        var header = NiftiReader.Scan(path, (values, first) =>
        {
            Assert.Equal(expectedFirst, first);
            expectedFirst += values.Length;
            streamed.AddRange(values.ToArray());
        });
        Assert.Equal(voxels, streamed);
        Assert.Equal(new short[] { 3, 64, 64, 32 }, header.Dim[..4]);
    }

    [Fact]
    public void A_geometry_bomb_is_refused_before_resampling_allocates()
    {
        // The issue's 8×8×8 scan of 400 mm voxels, brought to a 0.8 mm grid, and a fine grid blown up 10×.
        var coarse = new Volume(8, 8, 8, new float[512], Affine.Scaling(400, 400, 400));
        var e = Assert.Throws<GeometryLimitException>(() => Resampler.ToSpacing(coarse, new Vector3d(0.8, 0.8, 2.5), Interpolation.Linear));
        Assert.Contains("outside 0.05–20 mm", e.Message);
        var fine = new Volume(512, 512, 8, new float[512 * 512 * 8], Affine.Scaling(1, 1, 20));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var size = Assert.Throws<GeometryLimitException>(() => Resampler.ToSpacing(fine, new Vector3d(0.1, 0.1, 1), Interpolation.Linear));
        Assert.Contains($"over the limit of {GeometryLimits.MaxResampledVoxels}", size.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Equal((256, 256, 80), Resampler.SizeForSpacing(fine, new Vector3d(2, 2, 2)));
    }

    private sealed class NonSeekableStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
