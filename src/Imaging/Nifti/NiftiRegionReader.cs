using System.Runtime.InteropServices;

namespace GuidedNet.Imaging.Nifti;

/// <summary>
/// Reads boxes of whole rows out of an uncompressed, little-endian, unscaled single-file NIfTI of
/// one data type, straight from the file (positioned reads through the page cache) into a
/// caller's buffer: a few patches of a large volume without holding it, and without mapping
/// memory (another thread changing the address space corrupts oneDNN's backward on some virtual
/// machines; docs/performance.md, "Numerical faults"). For files this program wrote itself (the
/// preprocessing cache); anything else is read with <see cref="NiftiReader"/>.
/// </summary>
public static class NiftiRegionReader
{
    /// <summary>
    /// Checks that <paramref name="path"/> can be read in place as <paramref name="type"/> and
    /// returns its header: not gzipped, little-endian, no scaling, and long enough for every voxel
    /// (a file cut short would otherwise read as zeros or fail mid-training).
    /// </summary>
    public static NiftiHeader Check(string path, NiftiDataType type)
    {
        var header = NiftiReader.ReadHeader(path);
        using (var file = File.OpenRead(path))
            if (file.ReadByte() == 0x1f && file.ReadByte() == 0x8b) throw new NiftiFormatException(path, "is gzipped; only an uncompressed .nii is read in place");
        if (header.BigEndian) throw new NiftiFormatException(path, "is big-endian; only little-endian files are read in place");
        if ((NiftiDataType)header.DataType != type) throw new NiftiFormatException(path, $"holds {(NiftiDataType)header.DataType}, not the {type} expected");
        if (!(header.SclSlope is 0 or 1) || header.SclInter != 0) throw new NiftiFormatException(path, "has an intensity scaling; only unscaled files are read in place");
        long count = 1;
        for (int i = 1; i <= header.Dim[0]; i++) count *= header.Dim[i];
        long needed = (long)header.VoxOffset + count * type.BytesPerVoxel(), length = new FileInfo(path).Length;
        if (length < needed) throw new NiftiFormatException(path, $"is truncated: {length} bytes where its header needs {needed}");
        return header;
    }

    /// <summary>
    /// Fills <paramref name="into"/> with planes [z0, z0 + planes) × rows [y0, y0 + rows) × every x of
    /// a file <see cref="Check"/> accepted, x fastest; T must be the file's voxel type.
    /// </summary>
    public static void ReadRows<T>(string path, NiftiHeader header, int z0, int planes, int y0, int rows, Span<T> into) where T : unmanaged
    {
        int width = header.Dim[1], height = header.Dim[0] >= 2 ? header.Dim[2] : 1;
        int rowBytes = width * Marshal.SizeOf<T>();
        if (Marshal.SizeOf<T>() != ((NiftiDataType)header.DataType).BytesPerVoxel())
            throw new ArgumentException($"{path}: {(NiftiDataType)header.DataType} voxels are not read as {typeof(T).Name}");
        var bytes = MemoryMarshal.AsBytes(into[..(planes * rows * width)]);
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        for (int p = 0; p < planes; p++)
        {
            var plane = bytes.Slice(p * rows * rowBytes, rows * rowBytes);
            long offset = (long)header.VoxOffset + ((long)(z0 + p) * height + y0) * rowBytes;
            for (int done = 0; done < plane.Length;)
            {
                int read = RandomAccess.Read(file, plane[done..], offset + done);
                if (read == 0) throw new NiftiFormatException(path, $"ends at byte {offset + done}, inside plane {z0 + p}");
                done += read;
            }
        }
    }
}
