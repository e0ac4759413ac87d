using System.Buffers.Binary;
using System.Text;
using GuidedNet.Imaging.Geometry;

namespace GuidedNet.Imaging.Nifti;

/// <summary>
/// Every field of the 348-byte NIfTI-1 header. Kept whole so that a file written from a source
/// header (a mask for a scan, say) carries the source's geometry fields bit for bit.
/// Offsets follow the NIfTI-1 standard (nifti1.h).
/// </summary>
public sealed class NiftiHeader
{
    public const int Size = 348;

    public byte[] DataTypeName { get; set; } = new byte[10];
    public byte[] DbName { get; set; } = new byte[18];
    public int Extents { get; set; }
    public short SessionError { get; set; }
    public byte Regular { get; set; } = (byte)'r';
    public byte DimInfo { get; set; }
    public short[] Dim { get; set; } = new short[8];
    public float IntentP1 { get; set; }
    public float IntentP2 { get; set; }
    public float IntentP3 { get; set; }
    public short IntentCode { get; set; }
    public short DataType { get; set; }
    public short BitPix { get; set; }
    public short SliceStart { get; set; }
    public float[] PixDim { get; set; } = new float[8];
    public float VoxOffset { get; set; } = 352;
    public float SclSlope { get; set; }
    public float SclInter { get; set; }
    public short SliceEnd { get; set; }
    public byte SliceCode { get; set; }
    public byte XyztUnits { get; set; }
    public float CalMax { get; set; }
    public float CalMin { get; set; }
    public float SliceDuration { get; set; }
    public float TOffset { get; set; }
    public int GlMax { get; set; }
    public int GlMin { get; set; }
    public byte[] Descrip { get; set; } = new byte[80];
    public byte[] AuxFile { get; set; } = new byte[24];
    public short QFormCode { get; set; }
    public short SFormCode { get; set; }
    public float QuaternB { get; set; }
    public float QuaternC { get; set; }
    public float QuaternD { get; set; }
    public float QOffsetX { get; set; }
    public float QOffsetY { get; set; }
    public float QOffsetZ { get; set; }
    public float[] SRowX { get; set; } = new float[4];
    public float[] SRowY { get; set; } = new float[4];
    public float[] SRowZ { get; set; } = new float[4];
    public byte[] IntentName { get; set; } = new byte[16];
    public byte[] Magic { get; set; } = "n+1\0"u8.ToArray();

    /// <summary>True when the file on disk was big-endian; the parsed values are native.</summary>
    public bool BigEndian { get; set; }

    public string MagicText => Encoding.ASCII.GetString(Magic).TrimEnd('\0');

    public NiftiHeader Clone()
    {
        var copy = (NiftiHeader)MemberwiseClone();
        copy.DataTypeName = (byte[])DataTypeName.Clone();
        copy.DbName = (byte[])DbName.Clone();
        copy.Dim = (short[])Dim.Clone();
        copy.PixDim = (float[])PixDim.Clone();
        copy.Descrip = (byte[])Descrip.Clone();
        copy.AuxFile = (byte[])AuxFile.Clone();
        copy.SRowX = (float[])SRowX.Clone();
        copy.SRowY = (float[])SRowY.Clone();
        copy.SRowZ = (float[])SRowZ.Clone();
        copy.IntentName = (byte[])IntentName.Clone();
        copy.Magic = (byte[])Magic.Clone();
        return copy;
    }

    /// <summary>
    /// The voxel-to-world (RAS+, millimetres) transform the header defines: the sform when its
    /// code is positive, else the qform when its code is positive, else the pixdim scaling
    /// (NIfTI-1 "method 1").
    /// </summary>
    public Affine Affine
    {
        get
        {
            if (SFormCode > 0)
            {
                return new Affine(new double[,]
                {
                    { SRowX[0], SRowX[1], SRowX[2], SRowX[3] },
                    { SRowY[0], SRowY[1], SRowY[2], SRowY[3] },
                    { SRowZ[0], SRowZ[1], SRowZ[2], SRowZ[3] },
                    { 0, 0, 0, 1 },
                });
            }
            if (QFormCode > 0) return QFormAffine();
            return Affine.Scaling(Math.Abs(PixDim[1]), Math.Abs(PixDim[2]), Math.Abs(PixDim[3]));
        }
    }

    /// <summary>The qform transform (NIfTI-1 "method 2": quaternion, pixdim and qfac).</summary>
    public Affine QFormAffine()
    {
        double b = QuaternB, c = QuaternC, d = QuaternD;
        double a2 = 1.0 - (b * b + c * c + d * d);
        // nifti1_io treats a tiny negative remainder as a 180° rotation (a = 0).
        double a = a2 < 1e-7 ? 0 : Math.Sqrt(a2);
        if (a2 < 1e-7)
        {
            double norm = Math.Sqrt(b * b + c * c + d * d);
            b /= norm; c /= norm; d /= norm;
        }
        double qfac = PixDim[0] < 0 ? -1 : 1;
        double dx = PixDim[1], dy = PixDim[2], dz = PixDim[3] * qfac;
        return new Affine(new double[,]
        {
            { (a * a + b * b - c * c - d * d) * dx, 2 * (b * c - a * d) * dy, 2 * (b * d + a * c) * dz, QOffsetX },
            { 2 * (b * c + a * d) * dx, (a * a + c * c - b * b - d * d) * dy, 2 * (c * d - a * b) * dz, QOffsetY },
            { 2 * (b * d - a * c) * dx, 2 * (c * d + a * b) * dy, (a * a + d * d - c * c - b * b) * dz, QOffsetZ },
            { 0, 0, 0, 1 },
        });
    }

    /// <summary>Parses a header; <paramref name="path"/> only names the file in errors.</summary>
    public static NiftiHeader Parse(ReadOnlySpan<byte> bytes, string path)
    {
        if (bytes.Length < Size)
            throw new NiftiFormatException(path, $"file is {bytes.Length} bytes long, shorter than the {Size}-byte NIfTI-1 header");
        int sizeLe = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        int sizeBe = BinaryPrimitives.ReadInt32BigEndian(bytes);
        bool big;
        if (sizeLe == Size) big = false;
        else if (sizeBe == Size) big = true;
        else if (sizeLe == 540 || sizeBe == 540)
            throw new NiftiFormatException(path, "NIfTI-2 files are not supported (sizeof_hdr is 540); save as NIfTI-1");
        else
            throw new NiftiFormatException(path, $"not a NIfTI-1 file: sizeof_hdr is {sizeLe}, expected {Size}");

        var r = new FieldReader(bytes, big);
        var h = new NiftiHeader { BigEndian = big };
        h.DataTypeName = bytes.Slice(4, 10).ToArray();
        h.DbName = bytes.Slice(14, 18).ToArray();
        h.Extents = r.Int32(32);
        h.SessionError = r.Int16(36);
        h.Regular = bytes[38];
        h.DimInfo = bytes[39];
        for (int i = 0; i < 8; i++) h.Dim[i] = r.Int16(40 + 2 * i);
        h.IntentP1 = r.Single(56);
        h.IntentP2 = r.Single(60);
        h.IntentP3 = r.Single(64);
        h.IntentCode = r.Int16(68);
        h.DataType = r.Int16(70);
        h.BitPix = r.Int16(72);
        h.SliceStart = r.Int16(74);
        for (int i = 0; i < 8; i++) h.PixDim[i] = r.Single(76 + 4 * i);
        h.VoxOffset = r.Single(108);
        h.SclSlope = r.Single(112);
        h.SclInter = r.Single(116);
        h.SliceEnd = r.Int16(120);
        h.SliceCode = bytes[122];
        h.XyztUnits = bytes[123];
        h.CalMax = r.Single(124);
        h.CalMin = r.Single(128);
        h.SliceDuration = r.Single(132);
        h.TOffset = r.Single(136);
        h.GlMax = r.Int32(140);
        h.GlMin = r.Int32(144);
        h.Descrip = bytes.Slice(148, 80).ToArray();
        h.AuxFile = bytes.Slice(228, 24).ToArray();
        h.QFormCode = r.Int16(252);
        h.SFormCode = r.Int16(254);
        h.QuaternB = r.Single(256);
        h.QuaternC = r.Single(260);
        h.QuaternD = r.Single(264);
        h.QOffsetX = r.Single(268);
        h.QOffsetY = r.Single(272);
        h.QOffsetZ = r.Single(276);
        for (int i = 0; i < 4; i++)
        {
            h.SRowX[i] = r.Single(280 + 4 * i);
            h.SRowY[i] = r.Single(296 + 4 * i);
            h.SRowZ[i] = r.Single(312 + 4 * i);
        }
        h.IntentName = bytes.Slice(328, 16).ToArray();
        h.Magic = bytes.Slice(344, 4).ToArray();
        return h;
    }

    /// <summary>Serialises the header little-endian (the byte order this library writes).</summary>
    public byte[] ToBytes()
    {
        var b = new byte[Size];
        var w = new FieldWriter(b);
        w.Int32(0, Size);
        DataTypeName.CopyTo(b, 4);
        DbName.CopyTo(b, 14);
        w.Int32(32, Extents);
        w.Int16(36, SessionError);
        b[38] = Regular;
        b[39] = DimInfo;
        for (int i = 0; i < 8; i++) w.Int16(40 + 2 * i, Dim[i]);
        w.Single(56, IntentP1);
        w.Single(60, IntentP2);
        w.Single(64, IntentP3);
        w.Int16(68, IntentCode);
        w.Int16(70, DataType);
        w.Int16(72, BitPix);
        w.Int16(74, SliceStart);
        for (int i = 0; i < 8; i++) w.Single(76 + 4 * i, PixDim[i]);
        w.Single(108, VoxOffset);
        w.Single(112, SclSlope);
        w.Single(116, SclInter);
        w.Int16(120, SliceEnd);
        b[122] = SliceCode;
        b[123] = XyztUnits;
        w.Single(124, CalMax);
        w.Single(128, CalMin);
        w.Single(132, SliceDuration);
        w.Single(136, TOffset);
        w.Int32(140, GlMax);
        w.Int32(144, GlMin);
        Descrip.CopyTo(b, 148);
        AuxFile.CopyTo(b, 228);
        w.Int16(252, QFormCode);
        w.Int16(254, SFormCode);
        w.Single(256, QuaternB);
        w.Single(260, QuaternC);
        w.Single(264, QuaternD);
        w.Single(268, QOffsetX);
        w.Single(272, QOffsetY);
        w.Single(276, QOffsetZ);
        for (int i = 0; i < 4; i++)
        {
            w.Single(280 + 4 * i, SRowX[i]);
            w.Single(296 + 4 * i, SRowY[i]);
            w.Single(312 + 4 * i, SRowZ[i]);
        }
        IntentName.CopyTo(b, 328);
        Magic.CopyTo(b, 344);
        return b;
    }

    /// <summary>
    /// A header for a new image of the given size whose sform and qform both encode
    /// <paramref name="affine"/> (used by writers that have no source header).
    /// </summary>
    public static NiftiHeader FromAffine(Affine affine, int sizeX, int sizeY, int sizeZ)
    {
        var h = new NiftiHeader();
        h.Dim[0] = 3;
        h.Dim[1] = checked((short)sizeX);
        h.Dim[2] = checked((short)sizeY);
        h.Dim[3] = checked((short)sizeZ);
        for (int i = 4; i < 8; i++) h.Dim[i] = 1;
        var spacing = affine.Spacing;
        h.PixDim[0] = 1;
        h.PixDim[1] = (float)spacing.X;
        h.PixDim[2] = (float)spacing.Y;
        h.PixDim[3] = (float)spacing.Z;
        for (int i = 4; i < 8; i++) h.PixDim[i] = 1;
        h.XyztUnits = 2 | 8; // millimetres, seconds
        h.SFormCode = 2; // aligned to another scan's space
        h.QFormCode = 2;
        for (int c = 0; c < 4; c++)
        {
            h.SRowX[c] = (float)affine[0, c];
            h.SRowY[c] = (float)affine[1, c];
            h.SRowZ[c] = (float)affine[2, c];
        }
        var (qb, qc, qd, qfac) = affine.ToQuaternion();
        h.QuaternB = (float)qb;
        h.QuaternC = (float)qc;
        h.QuaternD = (float)qd;
        h.PixDim[0] = (float)qfac;
        h.QOffsetX = (float)affine[0, 3];
        h.QOffsetY = (float)affine[1, 3];
        h.QOffsetZ = (float)affine[2, 3];
        h.SclSlope = 1;
        return h;
    }

    private readonly ref struct FieldReader(ReadOnlySpan<byte> bytes, bool big)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;

        public short Int16(int at) => big
            ? BinaryPrimitives.ReadInt16BigEndian(_bytes[at..])
            : BinaryPrimitives.ReadInt16LittleEndian(_bytes[at..]);

        public int Int32(int at) => big
            ? BinaryPrimitives.ReadInt32BigEndian(_bytes[at..])
            : BinaryPrimitives.ReadInt32LittleEndian(_bytes[at..]);

        public float Single(int at) => big
            ? BinaryPrimitives.ReadSingleBigEndian(_bytes[at..])
            : BinaryPrimitives.ReadSingleLittleEndian(_bytes[at..]);
    }

    private readonly ref struct FieldWriter(Span<byte> bytes)
    {
        private readonly Span<byte> _bytes = bytes;
        public void Int16(int at, short v) => BinaryPrimitives.WriteInt16LittleEndian(_bytes[at..], v);
        public void Int32(int at, int v) => BinaryPrimitives.WriteInt32LittleEndian(_bytes[at..], v);
        public void Single(int at, float v) => BinaryPrimitives.WriteSingleLittleEndian(_bytes[at..], v);
    }
}
