using GuidedNet.Imaging.Nifti;

namespace GuidedNet.Data;

/// <summary>
/// A preprocessed case: image and optional labels in (z, y, x) C order. Either held in memory
/// (benchmarks, tests) or left in the preprocessing cache, from which each patch reads only the
/// rows it needs (<see cref="Read"/>), so the memory of training does not grow with the number of cases.
/// </summary>
public sealed class TrainingCase
{
    private readonly float[]? _image;
    private readonly byte[]? _labels;
    private readonly (string Path, NiftiHeader Header)? _imageFile, _labelFile;

    public TrainingCase(string name, int depth, int height, int width, float[] image, byte[]? labels)
        : this(name, depth, height, width)
    {
        if (image.LongLength != (long)depth * height * width) throw new ArgumentException($"{name}: image does not fill {depth}x{height}x{width}");
        if (labels is not null && labels.LongLength != image.LongLength) throw new ArgumentException($"{name}: labels and image differ in size");
        _image = image;
        _labels = labels;
    }

    private TrainingCase(string name, int depth, int height, int width)
    {
        Name = name;
        Depth = depth;
        Height = height;
        Width = width;
    }

    private TrainingCase(string name, int depth, int height, int width, (string, NiftiHeader) imageFile, (string, NiftiHeader)? labelFile)
        : this(name, depth, height, width)
    {
        _imageFile = imageFile;
        _labelFile = labelFile;
    }

    private TrainingCase(TrainingCase other, bool withLabels) : this(other.Name, other.Depth, other.Height, other.Width)
    {
        _image = other._image;
        _imageFile = other._imageFile;
        _labels = withLabels ? other._labels : null;
        _labelFile = withLabels ? other._labelFile : null;
    }

    /// <summary>
    /// A case whose voxels stay in the preprocessing cache: a float32 image and, when labeled, a
    /// uint8 label map of the same grid (both uncompressed NIfTI, as the cache writes them). The
    /// files are checked here (type, grid, length), so a damaged cache fails before training starts.
    /// </summary>
    public static TrainingCase Cached(string name, string imageFile, string? labelFile)
    {
        var image = NiftiRegionReader.Check(imageFile, NiftiDataType.Float32);
        int depth = Extent(image, 3), height = Extent(image, 2), width = Extent(image, 1);
        (string, NiftiHeader)? labels = null;
        if (labelFile is not null)
        {
            var header = NiftiRegionReader.Check(labelFile, NiftiDataType.UInt8);
            if (Extent(header, 1) != width || Extent(header, 2) != height || Extent(header, 3) != depth)
                throw new NiftiFormatException(labelFile, $"is {Extent(header, 1)}x{Extent(header, 2)}x{Extent(header, 3)} voxels, its image {imageFile} {width}x{height}x{depth}");
            labels = (labelFile, header);
        }
        return new TrainingCase(name, depth, height, width, (imageFile, image), labels);
    }

    public string Name { get; }
    public int Depth { get; }
    public int Height { get; }
    public int Width { get; }
    public bool HasLabels => _labels is not null || _labelFile is not null;

    /// <summary>Whether the voxels stay on disk (read per patch) rather than in memory.</summary>
    public bool IsCached => _imageFile is not null;

    /// <summary>The whole case, as a region.</summary>
    public CaseRegion All => new(0, Depth, 0, Height);

    /// <summary>
    /// The voxels of <paramref name="region"/> (at least; a case in memory gives them all): read
    /// into <paramref name="buffer"/> for a cached case, valid until the buffer is used again.
    /// </summary>
    public CaseVoxels Read(CaseRegion region, CaseBuffer buffer)
    {
        if (_image is not null) return new CaseVoxels(_image, _labels, All, Width);
        region = region.Within(Depth, Height);
        long count = (long)region.Planes * region.Rows * Width;
        buffer.Ensure(count, _labelFile is not null);
        var image = buffer.Image(count);
        var labels = _labelFile is null ? default : buffer.Labels(count);
        if (count > 0)
        {
            NiftiRegionReader.ReadRows(_imageFile!.Value.Path, _imageFile.Value.Header, region.Z0, region.Planes, region.Y0, region.Rows, image);
            if (_labelFile is { } l) NiftiRegionReader.ReadRows(l.Path, l.Header, region.Z0, region.Planes, region.Y0, region.Rows, labels);
        }
        return new CaseVoxels(image, _labelFile is null ? default : labels, region, Width);
    }

    /// <summary>The whole image, in an array of its own (validation predicts whole cases).</summary>
    public float[] ReadImage() => ReadWhole(_image, _imageFile);

    /// <summary>The whole label map, in an array of its own; the case must have labels.</summary>
    public byte[] ReadLabels() =>
        HasLabels ? ReadWhole(_labels, _labelFile) : throw new InvalidOperationException($"{Name} has no labels");

    private T[] ReadWhole<T>(T[]? inMemory, (string Path, NiftiHeader Header)? file) where T : unmanaged
    {
        if (inMemory is not null) return (T[])inMemory.Clone();
        var voxels = new T[(long)Depth * Height * Width];
        NiftiRegionReader.ReadRows<T>(file!.Value.Path, file.Value.Header, 0, Depth, 0, Height, voxels);
        return voxels;
    }

    /// <summary>The same case without its labels (a labeled case used as unlabeled).</summary>
    public TrainingCase WithoutLabels() => new(this, withLabels: false);

    private static int Extent(NiftiHeader h, int axis) => axis <= h.Dim[0] ? h.Dim[axis] : 1;
}

/// <summary>Planes [Z0, Z0 + Planes) and rows [Y0, Y0 + Rows) of a case, every x: what one patch reads.</summary>
public readonly record struct CaseRegion(int Z0, int Planes, int Y0, int Rows)
{
    /// <summary>The region cut to a case of <paramref name="depth"/> planes of <paramref name="height"/> rows (empty when outside).</summary>
    public CaseRegion Within(int depth, int height)
    {
        int z0 = Math.Clamp(Z0, 0, depth), z1 = Math.Clamp(Z0 + Planes, 0, depth);
        int y0 = Math.Clamp(Y0, 0, height), y1 = Math.Clamp(Y0 + Rows, 0, height);
        return z1 <= z0 || y1 <= y0 ? new CaseRegion(0, 0, 0, 0) : new CaseRegion(z0, z1 - z0, y0, y1 - y0);
    }

    /// <summary>The smallest region holding planes zMin..zMax and rows yMin..yMax (inclusive).</summary>
    public static CaseRegion Spanning(int zMin, int zMax, int yMin, int yMax) => new(zMin, zMax - zMin + 1, yMin, yMax - yMin + 1);
}

/// <summary>
/// Where a sampler's reads of cached cases go: grown to the largest region read, then reused, so
/// that sampling allocates nothing per patch. One per sampling thread.
/// </summary>
public sealed class CaseBuffer
{
    private float[] _image = [];
    private byte[] _labels = [];

    /// <summary>Room for <paramref name="count"/> voxels of image (and of labels when asked).</summary>
    internal void Ensure(long count, bool withLabels)
    {
        if (count > Array.MaxLength) throw new InvalidOperationException($"a region of {count} voxels is more than one buffer holds");
        if (_image.Length < count) _image = new float[count];
        if (withLabels && _labels.Length < count) _labels = new byte[count];
    }

    internal Span<float> Image(long count) => _image.AsSpan(0, (int)count);
    internal Span<byte> Labels(long count) => _labels.AsSpan(0, (int)count);
}

/// <summary>A case's voxels in a region: read by (z, y, x) of the whole case, which must lie inside the region.</summary>
public readonly ref struct CaseVoxels
{
    private readonly ReadOnlySpan<float> _image;
    private readonly ReadOnlySpan<byte> _labels;
    private readonly CaseRegion _region;
    private readonly int _width;

    internal CaseVoxels(ReadOnlySpan<float> image, ReadOnlySpan<byte> labels, CaseRegion region, int width)
    {
        _image = image;
        _labels = labels;
        _region = region;
        _width = width;
    }

    public float Image(int z, int y, int x) => _image[Index(z, y, x)];
    public byte Label(int z, int y, int x) => _labels[Index(z, y, x)];

    private int Index(int z, int y, int x)
    {
        // A read outside the region would land on another row of the buffer, silently: refuse it.
        if ((uint)(z - _region.Z0) >= (uint)_region.Planes || (uint)(y - _region.Y0) >= (uint)_region.Rows || (uint)x >= (uint)_width)
            throw new IndexOutOfRangeException($"voxel ({z}, {y}, {x}) is outside the region read {_region}");
        return ((z - _region.Z0) * _region.Rows + y - _region.Y0) * _width + x;
    }
}
