using System.Buffers.Binary;
using System.IO.Compression;

namespace GuidedNet.TestSupport;

/// <summary>
/// An 8-bit RGB or RGBA PNG read into RGB pixels: what a browser's screenshot is, so tests can look
/// at what the page drew. Non-interlaced only (browsers do not interlace screenshots).
/// </summary>
public sealed class PngImage
{
    private readonly byte[] _rgb;

    private PngImage(int width, int height, byte[] rgb)
    {
        Width = width;
        Height = height;
        _rgb = rgb;
    }

    public int Width { get; }
    public int Height { get; }

    public (byte R, byte G, byte B) this[int x, int y]
    {
        get
        {
            int i = 3 * (y * Width + x);
            return (_rgb[i], _rgb[i + 1], _rgb[i + 2]);
        }
    }

    public static PngImage Read(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        if (file.Length < 8 || !file.AsSpan(0, 8).SequenceEqual(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }))
            throw new InvalidDataException($"{path}: not a PNG file");
        int width = 0, height = 0, channels = 0;
        using var compressed = new MemoryStream();
        for (int at = 8; at + 8 <= file.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(file, at + 4, 4);
            var data = file.AsSpan(at + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                if (data[8] != 8 || data[12] != 0) throw new InvalidDataException($"{path}: only 8-bit non-interlaced PNGs are read");
                channels = data[9] switch { 2 => 3, 6 => 4, _ => throw new InvalidDataException($"{path}: colour type {data[9]} (only RGB and RGBA are read)") };
            }
            else if (type == "IDAT") compressed.Write(data);
            else if (type == "IEND") break;
            at += 12 + length;
        }
        compressed.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionMode.Decompress)) zlib.CopyTo(inflated);
        return new PngImage(width, height, Unfilter(inflated.ToArray(), width, height, channels));
    }

    // PNG's per-row filters (specification section 9), undone row by row.
    private static byte[] Unfilter(byte[] raw, int width, int height, int channels)
    {
        int stride = width * channels;
        var previous = new byte[stride];
        var row = new byte[stride];
        var rgb = new byte[3 * width * height];
        for (int y = 0; y < height; y++)
        {
            int at = y * (stride + 1);
            byte filter = raw[at];
            for (int i = 0; i < stride; i++)
            {
                int left = i >= channels ? row[i - channels] : 0, up = previous[i], upLeft = i >= channels ? previous[i - channels] : 0;
                int x = raw[at + 1 + i];
                row[i] = (byte)(filter switch
                {
                    0 => x,
                    1 => x + left,
                    2 => x + up,
                    3 => x + (left + up) / 2,
                    4 => x + Paeth(left, up, upLeft),
                    _ => throw new InvalidDataException($"PNG filter type {filter}"),
                });
            }
            for (int px = 0; px < width; px++)
                for (int c = 0; c < 3; c++) rgb[3 * (y * width + px) + c] = row[px * channels + c];
            (previous, row) = (row, previous);
        }
        return rgb;
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
