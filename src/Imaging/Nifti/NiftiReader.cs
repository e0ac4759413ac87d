using System.Buffers.Binary;
using System.IO.Compression;

namespace GuidedNet.Imaging.Nifti;

public sealed class NiftiReadOptions
{
    /// <summary>
    /// Largest voxel count a header may claim. Checked before any allocation so that a corrupt
    /// or hostile header cannot make the reader allocate gigabytes. 1024³ by default.
    /// </summary>
    public long MaxVoxels { get; init; } = 1L << 30;
}

/// <summary>
/// Reads single-file NIfTI-1 images (<c>.nii</c>, <c>.nii.gz</c>; gzip detected from content).
/// Values are returned as float32 after <c>scl_slope</c>/<c>scl_inter</c>. Every failure is a
/// <see cref="NiftiFormatException"/> naming the file and the problem.
/// </summary>
public static class NiftiReader
{
    public static Volume Read(string path, NiftiReadOptions? options = null)
    {
        options ??= new NiftiReadOptions();
        Stream file;
        try
        {
            file = File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NiftiFormatException(path, $"cannot open: {e.Message}", e);
        }
        using (file)
        {
            return Read(file, path, options);
        }
    }

    public static NiftiHeader ReadHeader(string path)
    {
        using var file = File.OpenRead(path);
        using var stream = OpenContent(file, path);
        var bytes = new byte[NiftiHeader.Size];
        int got = ReadFully(stream, bytes, path);
        var header = NiftiHeader.Parse(bytes.AsSpan(0, got), path);
        Validate(header, path, new NiftiReadOptions());
        return header;
    }

    /// <param name="name">How errors name the source (normally its path).</param>
    public static Volume Read(Stream source, string name, NiftiReadOptions? options = null)
    {
        options ??= new NiftiReadOptions();
        using var stream = OpenContent(source, name);
        var headerBytes = new byte[NiftiHeader.Size];
        int got = ReadFully(stream, headerBytes, name);
        var header = NiftiHeader.Parse(headerBytes.AsSpan(0, got), name);
        var (nx, ny, nz) = Validate(header, name, options);

        var type = (NiftiDataType)header.DataType;
        long voxelCount = (long)nx * ny * nz;
        long dataBytes = voxelCount * type.BytesPerVoxel();
        if (dataBytes > Array.MaxLength)
            throw new NiftiFormatException(name, $"{dataBytes} bytes of voxel data exceed what one read can hold");

        long skip = (long)header.VoxOffset - NiftiHeader.Size;
        SkipFully(stream, skip, name);
        var raw = new byte[dataBytes];
        int read = ReadFully(stream, raw, name);
        if (read < dataBytes)
            throw new NiftiFormatException(name, $"truncated: voxel data ends after {read} of {dataBytes} bytes");

        float[] voxels = Decode(raw, type, header.BigEndian, voxelCount);
        ApplyScaling(voxels, header.SclSlope, header.SclInter);
        return new Volume(nx, ny, nz, voxels, header.Affine, header);
    }

    private static Stream OpenContent(Stream source, string name)
    {
        // Content decides, not the extension: some tools write gzip into ".nii" and vice versa.
        var buffered = new BufferedStream(source, 1 << 20);
        Span<byte> magic = stackalloc byte[2];
        int n = buffered.Read(magic);
        buffered.Seek(-n, SeekOrigin.Current);
        if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
            return new BufferedStream(new GZipStream(buffered, CompressionMode.Decompress), 1 << 20);
        return buffered;
    }

    private static (int X, int Y, int Z) Validate(NiftiHeader h, string name, NiftiReadOptions options)
    {
        string magic = h.MagicText;
        if (magic == "ni1")
            throw new NiftiFormatException(name, "two-file NIfTI (.hdr/.img) is not supported; convert to a single .nii or .nii.gz");
        if (magic != "n+1")
            throw new NiftiFormatException(name, $"bad magic '{Printable(h.Magic)}': not a NIfTI-1 file");
        int rank = h.Dim[0];
        if (rank < 1 || rank > 7)
            throw new NiftiFormatException(name, $"dim[0] = {rank}; a NIfTI-1 image has 1 to 7 dimensions");
        for (int i = 1; i <= rank; i++)
            if (h.Dim[i] <= 0)
                throw new NiftiFormatException(name, $"dim[{i}] = {h.Dim[i]}; every dimension must be positive");
        for (int i = 4; i <= rank; i++)
            if (h.Dim[i] != 1)
                throw new NiftiFormatException(name,
                    $"dim[{i}] = {h.Dim[i]}: a {rank}D image with more than one volume; only 3D images (or 4D with one volume) are supported");
        if (!NiftiDataTypeExtensions.IsSupported(h.DataType))
            throw new NiftiFormatException(name, $"unsupported datatype code {h.DataType}");
        var type = (NiftiDataType)h.DataType;
        if (h.BitPix != 0 && h.BitPix != type.BytesPerVoxel() * 8)
            throw new NiftiFormatException(name, $"bitpix {h.BitPix} contradicts datatype {type}");
        if (!(h.VoxOffset >= NiftiHeader.Size) || float.IsInfinity(h.VoxOffset))
            throw new NiftiFormatException(name, $"vox_offset {h.VoxOffset} lies inside the header");

        int nx = h.Dim[1], ny = rank >= 2 ? h.Dim[2] : 1, nz = rank >= 3 ? h.Dim[3] : 1;
        long voxels = (long)nx * ny * nz;
        if (voxels > options.MaxVoxels)
            throw new NiftiFormatException(name, $"header claims {nx}x{ny}x{nz} = {voxels} voxels, over the limit of {options.MaxVoxels}");
        for (int i = 1; i <= 3; i++)
            if (i <= rank && (!float.IsFinite(h.PixDim[i]) || h.PixDim[i] == 0) && h.SFormCode <= 0)
                throw new NiftiFormatException(name, $"pixdim[{i}] = {h.PixDim[i]}: voxel spacing must be finite and non-zero");
        return (nx, ny, nz);
    }

    private static float[] Decode(byte[] raw, NiftiDataType type, bool big, long count)
    {
        var v = new float[count];
        var s = raw.AsSpan();
        switch (type)
        {
            case NiftiDataType.UInt8:
                for (long i = 0; i < count; i++) v[i] = raw[i];
                break;
            case NiftiDataType.Int8:
                for (long i = 0; i < count; i++) v[i] = (sbyte)raw[i];
                break;
            case NiftiDataType.Int16:
                for (int i = 0; i < count; i++)
                    v[i] = big ? BinaryPrimitives.ReadInt16BigEndian(s[(2 * i)..]) : BinaryPrimitives.ReadInt16LittleEndian(s[(2 * i)..]);
                break;
            case NiftiDataType.UInt16:
                for (int i = 0; i < count; i++)
                    v[i] = big ? BinaryPrimitives.ReadUInt16BigEndian(s[(2 * i)..]) : BinaryPrimitives.ReadUInt16LittleEndian(s[(2 * i)..]);
                break;
            case NiftiDataType.Int32:
                for (int i = 0; i < count; i++)
                    v[i] = big ? BinaryPrimitives.ReadInt32BigEndian(s[(4 * i)..]) : BinaryPrimitives.ReadInt32LittleEndian(s[(4 * i)..]);
                break;
            case NiftiDataType.UInt32:
                for (int i = 0; i < count; i++)
                    v[i] = big ? BinaryPrimitives.ReadUInt32BigEndian(s[(4 * i)..]) : BinaryPrimitives.ReadUInt32LittleEndian(s[(4 * i)..]);
                break;
            case NiftiDataType.Int64:
                for (int i = 0; i < count; i++)
                    v[i] = big ? BinaryPrimitives.ReadInt64BigEndian(s[(8 * i)..]) : BinaryPrimitives.ReadInt64LittleEndian(s[(8 * i)..]);
                break;
            case NiftiDataType.Float32:
                for (int i = 0; i < count; i++)
                    v[i] = big ? BinaryPrimitives.ReadSingleBigEndian(s[(4 * i)..]) : BinaryPrimitives.ReadSingleLittleEndian(s[(4 * i)..]);
                break;
            case NiftiDataType.Float64:
                for (int i = 0; i < count; i++)
                    v[i] = (float)(big ? BinaryPrimitives.ReadDoubleBigEndian(s[(8 * i)..]) : BinaryPrimitives.ReadDoubleLittleEndian(s[(8 * i)..]));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type));
        }
        return v;
    }

    private static void ApplyScaling(float[] voxels, float slope, float inter)
    {
        // NIfTI-1: slope 0 (or not finite) means "no scaling".
        if (slope == 0 || !float.IsFinite(slope) || !float.IsFinite(inter) || (slope == 1 && inter == 0)) return;
        for (long i = 0; i < voxels.LongLength; i++) voxels[i] = voxels[i] * slope + inter;
    }

    private static int ReadFully(Stream stream, byte[] buffer, string name)
    {
        int total = 0;
        try
        {
            while (total < buffer.Length)
            {
                int n = stream.Read(buffer, total, Math.Min(buffer.Length - total, 1 << 24));
                if (n == 0) break;
                total += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw new NiftiFormatException(name, $"corrupt gzip data after {total} bytes: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new NiftiFormatException(name, $"truncated gzip stream after {total} bytes", e);
        }
        return total;
    }

    private static void SkipFully(Stream stream, long count, string name)
    {
        var buffer = new byte[Math.Min(count, 1 << 16)];
        while (count > 0)
        {
            int n;
            try
            {
                n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
            }
            catch (InvalidDataException e)
            {
                throw new NiftiFormatException(name, $"corrupt gzip data in the header extensions: {e.Message}", e);
            }
            if (n == 0) throw new NiftiFormatException(name, "truncated: file ends before vox_offset");
            count -= n;
        }
    }

    private static string Printable(byte[] bytes) =>
        new(bytes.Select(b => b is >= 32 and < 127 ? (char)b : '?').ToArray());
}
