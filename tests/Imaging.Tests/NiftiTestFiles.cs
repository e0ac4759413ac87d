using System.Buffers.Binary;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.Imaging.Tests;

/// <summary>Builds small NIfTI byte streams for tests.</summary>
internal static class NiftiTestFiles
{
    public static NiftiHeader Header(int x, int y, int z, NiftiDataType type)
    {
        var h = NiftiHeader.FromAffine(Affine.Scaling(1, 1, 1), x, y, z);
        h.DataType = (short)type;
        h.BitPix = (short)(type.BytesPerVoxel() * 8);
        return h;
    }

    public static byte[] Compose(NiftiHeader header, float[] voxels)
    {
        using var ms = new MemoryStream();
        ms.Write(header.ToBytes());
        ms.Write(new byte[4]);
        foreach (float v in voxels) ms.Write(BitConverter.GetBytes(v));
        return ms.ToArray();
    }

    public static byte[] Patch(byte[] bytes, int offset, byte[] value)
    {
        var copy = (byte[])bytes.Clone();
        value.CopyTo(copy, offset);
        return copy;
    }

    /// <summary>The volume as a big-endian int16 NIfTI-1 file, scaled like the source.</summary>
    public static byte[] BigEndianInt16(Volume source)
    {
        var h = source.SourceHeader!.Clone();
        h.VoxOffset = 352;
        var le = h.ToBytes();
        var be = (byte[])le.Clone();
        // Swap every numeric field of the header (int32: 0,32,140,144; int16: 36,40-54,68-74,120,252,254; float: the rest).
        void Swap(int at, int size) => Array.Reverse(be, at, size);
        Swap(0, 4); Swap(32, 4); Swap(36, 2);
        for (int i = 0; i < 8; i++) Swap(40 + 2 * i, 2);
        for (int at = 56; at < 68; at += 4) Swap(at, 4);
        for (int at = 68; at < 76; at += 2) Swap(at, 2);
        for (int at = 76; at < 120; at += 4) Swap(at, 4);
        Swap(120, 2);
        for (int at = 124; at < 148; at += 4) Swap(at, 4);
        Swap(252, 2); Swap(254, 2);
        for (int at = 256; at < 328; at += 4) Swap(at, 4);
        using var ms = new MemoryStream();
        ms.Write(be);
        ms.Write(new byte[4]);
        Span<byte> two = stackalloc byte[2];
        foreach (float v in source.Voxels)
        {
            BinaryPrimitives.WriteInt16BigEndian(two, (short)((v - h.SclInter) / h.SclSlope));
            ms.Write(two);
        }
        return ms.ToArray();
    }
}
