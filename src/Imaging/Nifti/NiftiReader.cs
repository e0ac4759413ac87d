using System.Buffers.Binary;
using System.IO.Compression;

namespace GuidedNet.Imaging.Nifti;

/// <summary>
/// Limits a file must stay within, checked before anything is allocated for its voxels and again
/// while they are decompressed, so that a corrupt or hostile file cannot make the reader allocate
/// gigabytes or inflate without end. A refusal names the limit it hit.
/// </summary>
public sealed class NiftiReadOptions
{
    public static readonly NiftiReadOptions Default = new();

    /// <summary>
    /// Largest voxel count a header may claim: 2²⁹, a 512×512×2048 whole-body CT (a 512×512×1000 CT
    /// holds 2.6·10⁸); read whole, that is 2 GiB of float32.
    /// </summary>
    public long MaxVoxels { get; init; } = 1L << 29;

    /// <summary>Largest voxel data a header may claim, in bytes as stored (after decompression): 2 GiB.</summary>
    public long MaxDataBytes { get; init; } = 2L << 30;

    /// <summary>
    /// Largest ratio of decompressed to compressed bytes once <see cref="RatioCheckedAfterBytes"/>
    /// are decompressed. One gzip layer cannot exceed ~1032:1; a 1 MB file claiming a gigabyte
    /// reaches it, while real scans stay far below (CT 2–5:1, label maps 40–400:1).
    /// </summary>
    public double MaxCompressionRatio { get; init; } = 1000;

    /// <summary>Smaller files are never refused for their ratio: inflating them costs nothing.</summary>
    public long RatioCheckedAfterBytes { get; init; } = 64L << 20;

    internal void Validate()
    {
        if (MaxVoxels < 1 || MaxDataBytes < 1 || !(MaxCompressionRatio >= 1) || RatioCheckedAfterBytes < 0)
            throw new ArgumentException("NIfTI read limits must be positive (MaxCompressionRatio at least 1)");
    }
}

/// <summary>Receives a file's voxels in storage order (x fastest), a chunk at a time, after scaling.</summary>
public delegate void VoxelChunkVisitor(ReadOnlySpan<float> values, long firstVoxel);

/// <summary>
/// Reads single-file NIfTI-1 images (<c>.nii</c>, <c>.nii.gz</c>; gzip detected from content).
/// Values are returned as float32 after <c>scl_slope</c>/<c>scl_inter</c>. Every failure is a
/// <see cref="NiftiFormatException"/> naming the file and the problem.
/// </summary>
public static class NiftiReader
{
    /// <summary>Voxels decoded per chunk: bounds the reader's own buffers to ~12 MB whatever the volume.</summary>
    private const int ChunkVoxels = 1 << 20;

    public static Volume Read(string path, NiftiReadOptions? options = null)
    {
        using var file = Open(path);
        return Read(file, path, options);
    }

    /// <summary>The header alone, checked against the limits (nothing is allocated for the voxels).</summary>
    public static NiftiHeader ReadHeader(string path, NiftiReadOptions? options = null)
    {
        using var file = Open(path);
        using var content = new NiftiContent(file, path, options ?? NiftiReadOptions.Default);
        return content.Header;
    }

    /// <param name="name">How errors name the source (normally its path).</param>
    public static Volume Read(Stream source, string name, NiftiReadOptions? options = null)
    {
        using var content = new NiftiContent(source, name, options ?? NiftiReadOptions.Default);
        var voxels = new float[content.VoxelCount];
        content.Scan((values, first) => values.CopyTo(voxels.AsSpan((int)first)));
        var h = content.Header;
        return new Volume(content.SizeX, content.SizeY, content.SizeZ, voxels, h.Affine, h);
    }

    /// <summary>
    /// Streams a file's voxels to <paramref name="visit"/> without holding the volume: memory stays
    /// at the chunk buffers whatever the file's size. Returns the (checked) header.
    /// </summary>
    public static NiftiHeader Scan(string path, VoxelChunkVisitor visit, NiftiReadOptions? options = null)
    {
        using var file = Open(path);
        return Scan(file, path, visit, options);
    }

    /// <inheritdoc cref="Scan(string, VoxelChunkVisitor, NiftiReadOptions?)"/>
    /// <param name="name">How errors name the source (normally its path).</param>
    public static NiftiHeader Scan(Stream source, string name, VoxelChunkVisitor visit, NiftiReadOptions? options = null)
    {
        using var content = new NiftiContent(source, name, options ?? NiftiReadOptions.Default);
        content.Scan(visit);
        return content.Header;
    }

    private static FileStream Open(string path)
    {
        try
        {
            return File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NiftiFormatException(path, $"cannot open: {e.Message}", e);
        }
    }

    /// <summary>One open file: its checked header, positioned at the voxel data, with the compression it is read through.</summary>
    private sealed class NiftiContent : IDisposable
    {
        private readonly string _name;
        private readonly NiftiReadOptions _options;
        private readonly SourceStream _compressed;
        private readonly Stream _stream;
        private readonly bool _gzip;
        private readonly NiftiDataType _type;

        public NiftiContent(Stream source, string name, NiftiReadOptions options)
        {
            options.Validate();
            _name = name;
            _options = options;
            _compressed = new SourceStream(source);
            (_stream, _gzip) = OpenContent(_compressed, name);
            var headerBytes = new byte[NiftiHeader.Size];
            int got = ReadFully(_stream, headerBytes, name);
            Header = NiftiHeader.Parse(headerBytes.AsSpan(0, got), name);
            (SizeX, SizeY, SizeZ) = Validate(Header, name, options);
            _type = (NiftiDataType)Header.DataType;
            VoxelCount = (long)SizeX * SizeY * SizeZ;
            long dataBytes = VoxelCount * _type.BytesPerVoxel();
            if (dataBytes > options.MaxDataBytes)
                throw new NiftiFormatException(name, $"header claims {dataBytes} bytes of voxel data, over the limit MaxDataBytes = {options.MaxDataBytes}");
            if (VoxelCount > Array.MaxLength)
                throw new NiftiFormatException(name, $"{VoxelCount} voxels exceed what one array can hold");
            // The whole file's size is known for files: a claim no real compression reaches is refused before reading on.
            if (_gzip && source.CanSeek && source.Length > 0)
                CheckRatio(dataBytes, source.Length, "header claims");
            SkipFully(_stream, (long)Header.VoxOffset - NiftiHeader.Size, name);
        }

        public NiftiHeader Header { get; }
        public int SizeX { get; }
        public int SizeY { get; }
        public int SizeZ { get; }
        public long VoxelCount { get; }

        public void Scan(VoxelChunkVisitor visit)
        {
            int bytesPerVoxel = _type.BytesPerVoxel();
            var raw = new byte[ChunkVoxels * bytesPerVoxel];
            var values = new float[ChunkVoxels];
            long done = 0, dataBytes = VoxelCount * bytesPerVoxel;
            while (done < VoxelCount)
            {
                int count = (int)Math.Min(ChunkVoxels, VoxelCount - done);
                int bytes = count * bytesPerVoxel;
                int read = ReadFully(_stream, raw.AsSpan(0, bytes), _name, done * bytesPerVoxel);
                if (read < bytes)
                    throw new NiftiFormatException(_name, $"truncated: voxel data ends after {done * bytesPerVoxel + read} of {dataBytes} bytes");
                var chunk = values.AsSpan(0, count);
                Decode(raw.AsSpan(0, bytes), _type, Header.BigEndian, chunk);
                ApplyScaling(chunk, Header.SclSlope, Header.SclInter);
                visit(chunk, done);
                done += count;
                if (_gzip) CheckRatio(NiftiHeader.Size + done * bytesPerVoxel, _compressed.BytesRead, "decompressing gives");
            }
            // gzip's CRC is checked only at the end of the stream: read on to it (a little trailing data at most),
            // so corruption that still inflates is refused instead of becoming wrong voxels.
            if (_gzip) ReadFully(_stream, raw.AsSpan(0, Math.Min(raw.Length, 1 << 20)), _name, dataBytes);
        }

        private void CheckRatio(long decompressed, long compressed, string what)
        {
            if (decompressed <= _options.RatioCheckedAfterBytes) return;
            double ratio = (double)decompressed / Math.Max(1, compressed);
            if (ratio > _options.MaxCompressionRatio)
                throw new NiftiFormatException(_name, $"{what} {decompressed} bytes from {compressed} compressed ({ratio:F0}:1), " +
                                                      $"over the limit MaxCompressionRatio = {_options.MaxCompressionRatio}:1 (a decompression bomb?)");
        }

        public void Dispose() => _stream.Dispose();
    }

    /// <summary>
    /// Compressed bytes handed to the inflater per read. It reads ahead only what one read returns,
    /// so the count of compressed bytes read is within this of what has been inflated.
    /// </summary>
    private const int MaxCompressedRead = 4096;

    /// <summary>
    /// The file's bytes as the decoder reads them: counted (the compressed size, for the ratio
    /// check), at most <see cref="MaxRead"/> per read, and the bytes read to sniff the format
    /// handed back first — no seeking, so any stream will do.
    /// </summary>
    private sealed class SourceStream(Stream inner) : Stream
    {
        private ReadOnlyMemory<byte> _unread;

        public long BytesRead { get; private set; }
        public int MaxRead { get; set; } = int.MaxValue;
        public void Unread(ReadOnlyMemory<byte> bytes) => _unread = bytes;

        public override int Read(Span<byte> buffer)
        {
            if (!_unread.IsEmpty)
            {
                int m = Math.Min(buffer.Length, _unread.Length);
                _unread.Span[..m].CopyTo(buffer);
                _unread = _unread[m..];
                return m;
            }
            int n = inner.Read(buffer[..Math.Min(buffer.Length, MaxRead)]);
            BytesRead += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
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

    private static (Stream Content, bool Gzip) OpenContent(SourceStream source, string name)
    {
        // Content decides, not the extension: some tools write gzip into ".nii" and vice versa.
        var magic = new byte[2];
        int n = ReadFully(source, magic, name);
        source.Unread(magic.AsMemory(0, n));
        if (n != 2 || magic[0] != 0x1f || magic[1] != 0x8b) return (source, false);
        source.MaxRead = MaxCompressedRead;
        return (new GZipStream(source, CompressionMode.Decompress), true);
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
            throw new NiftiFormatException(name, $"header claims {nx}x{ny}x{nz} = {voxels} voxels, over the limit MaxVoxels = {options.MaxVoxels}");
        for (int i = 1; i <= 3; i++)
            if (i <= rank && (!float.IsFinite(h.PixDim[i]) || h.PixDim[i] == 0) && h.SFormCode <= 0)
                throw new NiftiFormatException(name, $"pixdim[{i}] = {h.PixDim[i]}: voxel spacing must be finite and non-zero");
        return (nx, ny, nz);
    }

    private static void Decode(ReadOnlySpan<byte> s, NiftiDataType type, bool big, Span<float> v)
    {
        int count = v.Length;
        switch (type)
        {
            case NiftiDataType.UInt8:
                for (int i = 0; i < count; i++) v[i] = s[i];
                break;
            case NiftiDataType.Int8:
                for (int i = 0; i < count; i++) v[i] = (sbyte)s[i];
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
    }

    private static void ApplyScaling(Span<float> voxels, float slope, float inter)
    {
        // NIfTI-1: slope 0 (or not finite) means "no scaling".
        if (slope == 0 || !float.IsFinite(slope) || !float.IsFinite(inter) || (slope == 1 && inter == 0)) return;
        for (int i = 0; i < voxels.Length; i++) voxels[i] = voxels[i] * slope + inter;
    }

    private static int ReadFully(Stream stream, Span<byte> buffer, string name, long offset = 0)
    {
        int total = 0;
        try
        {
            while (total < buffer.Length)
            {
                int n = stream.Read(buffer[total..]);
                if (n == 0) break;
                total += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw new NiftiFormatException(name, $"corrupt gzip data after {offset + total} bytes: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new NiftiFormatException(name, $"truncated gzip stream after {offset + total} bytes", e);
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
