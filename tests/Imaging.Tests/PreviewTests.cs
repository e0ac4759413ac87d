using System.Buffers.Binary;
using System.IO.Compression;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Rendering;
using GuidedNet.TestSupport;

namespace GuidedNet.Imaging.Tests;

public class PreviewTests
{
    [Fact]
    public void Png_encoder_writes_a_decodable_image()
    {
        var rgb = new byte[3 * 2 * 3];
        for (int i = 0; i < rgb.Length; i++) rgb[i] = (byte)(i * 10);
        using var ms = new MemoryStream();
        PngEncoder.WriteRgb(ms, 3, 2, rgb);
        var png = ms.ToArray();
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal(3, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(2, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        int idatLength = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(33));
        Assert.Equal("IDAT", System.Text.Encoding.ASCII.GetString(png, 37, 4));
        using var z = new ZLibStream(new MemoryStream(png, 41, idatLength), CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        var rows = raw.ToArray();
        Assert.Equal(2 * (1 + 9), rows.Length);
        Assert.Equal(rgb[..9], rows[1..10]);
        Assert.Equal(rgb[9..], rows[11..20]);
    }

    [Fact]
    public void Preview_colours_the_mask_over_the_mid_slices()
    {
        using var tmp = new TempFolder();
        var image = new Volume(32, 32, 16, Enumerable.Range(0, 32 * 32 * 16).Select(i => (float)(i % 32)).ToArray(), Affine.Scaling(1, 1, 2));
        var mask = new float[image.VoxelCount];
        for (int z = 4; z < 12; z++)
            for (int y = 8; y < 24; y++)
                for (int x = 8; x < 24; x++)
                    mask[x + 32 * (y + 32 * z)] = 1;
        string path = tmp.File("p.png");
        SegmentationPreview.Write(path, image, image.WithVoxels(mask));
        var png = File.ReadAllBytes(path);
        int width = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16));
        int height = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20));
        Assert.Equal(256, height);
        Assert.Equal(256 + 2 + 256 + 2 + 256, width);
        // The centre pixel of the axial panel is the class-1 colour blended with grey.
        int idatLength = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(33));
        using var z2 = new ZLibStream(new MemoryStream(png, 41, idatLength), CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z2.CopyTo(raw);
        var rows = raw.ToArray();
        int stride = 1 + width * 3;
        int o = 128 * stride + 1 + 128 * 3;
        Assert.True(rows[o] > rows[o + 1] && rows[o] > rows[o + 2], "class 1 is drawn red over grey");
        int corner = 2 * stride + 1 + 2 * 3;
        Assert.Equal(rows[corner], rows[corner + 1]);
        Assert.Equal(rows[corner + 1], rows[corner + 2]);
    }
}
