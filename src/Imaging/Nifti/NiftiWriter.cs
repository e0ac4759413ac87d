using System.Buffers.Binary;
using System.IO.Compression;
using GuidedNet.Imaging.Geometry;

namespace GuidedNet.Imaging.Nifti;

/// <summary>
/// Writes single-file NIfTI-1 images, gzipped when the path ends in <c>.gz</c>. The geometry
/// (pixdim, qform, sform, units) comes unchanged from the volume's source header when it has
/// one, so a result overlays its scan exactly; otherwise it is derived from the affine.
/// Files are written whole or not at all (<see cref="AtomicFile"/>).
/// </summary>
public static class NiftiWriter
{
    public static void Write(string path, Volume volume, NiftiDataType type = NiftiDataType.Float32) =>
        AtomicFile.Write(path, file => Write(file, volume, type, path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)));

    public static void Write(Stream destination, Volume volume, NiftiDataType type, bool gzip)
    {
        var header = BuildHeader(volume, type);
        Stream output = gzip ? new GZipStream(destination, CompressionLevel.Fastest, leaveOpen: true) : destination;
        try
        {
            output.Write(header.ToBytes());
            output.Write(new byte[4]); // no extensions
            WriteVoxels(output, volume.Voxels, type);
        }
        finally
        {
            if (gzip) output.Dispose();
        }
    }

    /// <summary>
    /// Writes a volume one z-slice at a time, never holding it whole: <paramref name="fillSlice"/>
    /// gets the slice index and an x-fastest buffer of sizeX·sizeY voxels to fill. For volumes too
    /// large to build in memory (benchmarks, tests of clinical sizes).
    /// </summary>
    public static void WriteSlices(string path, int sizeX, int sizeY, int sizeZ, Affine affine, NiftiDataType type, Action<int, float[]> fillSlice)
    {
        var header = Typed(NiftiHeader.FromAffine(affine, sizeX, sizeY, sizeZ), type);
        var slice = new float[sizeX * sizeY];
        AtomicFile.Write(path, file =>
        {
            Stream output = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true) : file;
            using (output == file ? null : output)
            {
                output.Write(header.ToBytes());
                output.Write(new byte[4]);
                for (int z = 0; z < sizeZ; z++)
                {
                    fillSlice(z, slice);
                    WriteVoxels(output, slice, type);
                }
            }
        });
    }

    private static NiftiHeader BuildHeader(Volume volume, NiftiDataType type) =>
        Typed(volume.SourceHeader is { } source && SourceMatches(source, volume)
            ? source.Clone()
            : NiftiHeader.FromAffine(volume.Affine, volume.SizeX, volume.SizeY, volume.SizeZ), type);

    /// <summary>The header's data fields for voxels stored as <paramref name="type"/>, unscaled, little-endian.</summary>
    private static NiftiHeader Typed(NiftiHeader header, NiftiDataType type)
    {
        header.DataType = (short)type;
        header.BitPix = (short)(type.BytesPerVoxel() * 8);
        header.VoxOffset = 352;
        header.SclSlope = 1;
        header.SclInter = 0;
        header.CalMin = 0;
        header.CalMax = 0;
        header.GlMin = 0;
        header.GlMax = 0;
        header.Magic = "n+1\0"u8.ToArray();
        header.BigEndian = false;
        return header;
    }

    private static bool SourceMatches(NiftiHeader source, Volume volume) =>
        source.Dim[1] == volume.SizeX
        && (source.Dim[0] >= 2 ? source.Dim[2] : 1) == volume.SizeY
        && (source.Dim[0] >= 3 ? source.Dim[3] : 1) == volume.SizeZ
        && source.Affine.ApproximatelyEquals(volume.Affine, 1e-6);

    private static void WriteVoxels(Stream output, float[] voxels, NiftiDataType type)
    {
        int size = type.BytesPerVoxel();
        var (min, max) = type.Range();
        const int chunk = 1 << 16;
        var buffer = new byte[chunk * size];
        for (long start = 0; start < voxels.LongLength; start += chunk)
        {
            int n = (int)Math.Min(chunk, voxels.LongLength - start);
            var s = buffer.AsSpan();
            for (int i = 0; i < n; i++)
            {
                float v = voxels[start + i];
                if (type.IsInteger())
                {
                    if (float.IsNaN(v) || v < min || v > max)
                        throw new ArgumentException($"voxel {start + i} = {v} does not fit {type}");
                    v = MathF.Round(v);
                }
                switch (type)
                {
                    case NiftiDataType.UInt8: s[i] = (byte)v; break;
                    case NiftiDataType.Int8: s[i] = (byte)(sbyte)v; break;
                    case NiftiDataType.Int16: BinaryPrimitives.WriteInt16LittleEndian(s[(2 * i)..], (short)v); break;
                    case NiftiDataType.UInt16: BinaryPrimitives.WriteUInt16LittleEndian(s[(2 * i)..], (ushort)v); break;
                    case NiftiDataType.Int32: BinaryPrimitives.WriteInt32LittleEndian(s[(4 * i)..], (int)v); break;
                    case NiftiDataType.UInt32: BinaryPrimitives.WriteUInt32LittleEndian(s[(4 * i)..], (uint)v); break;
                    case NiftiDataType.Int64: BinaryPrimitives.WriteInt64LittleEndian(s[(8 * i)..], (long)v); break;
                    case NiftiDataType.Float32: BinaryPrimitives.WriteSingleLittleEndian(s[(4 * i)..], v); break;
                    case NiftiDataType.Float64: BinaryPrimitives.WriteDoubleLittleEndian(s[(8 * i)..], v); break;
                }
            }
            output.Write(buffer, 0, n * size);
        }
    }
}
