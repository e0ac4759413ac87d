using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace GuidedNet.Imaging.Dicom;

/// <summary>
/// A data set to write: elements with their VR, kept in tag order, nested through sequences, and
/// encoded as Explicit VR Little Endian (PS3.5 §7.1.2) with defined lengths — written as a Part 10
/// file by <see cref="WritePart10"/>. Strings are stored as given (Latin-1 bytes), padded to even
/// length as PS3.5 §6.2 requires.
/// </summary>
public sealed class DicomDataset
{
    private const string ExplicitVrLittleEndian = TransferSyntaxes.ExplicitVrLittleEndian;

    /// <summary>This implementation's identity in the file meta information (PS3.7 Annex D: a UID under 2.25).</summary>
    private const string ImplementationClassUid = "2.25.207962391287564917350276155403928117561";

    private readonly SortedDictionary<uint, (string Vr, object Value)> _elements = new();

    private static uint Key(DicomTag tag) => (uint)tag.Group << 16 | tag.Element;

    /// <summary>A string-valued element (AE, AS, CS, DA, DS, IS, LO, PN, SH, TM, UI, ...); several values are joined by a backslash.</summary>
    public DicomDataset Add(DicomTag tag, string vr, params string[] values)
    {
        _elements[Key(tag)] = (vr, string.Join('\\', values));
        return this;
    }

    /// <summary>A decimal string (DS) of numbers, each within DS's 16 characters.</summary>
    public DicomDataset AddDecimals(DicomTag tag, params double[] values) => Add(tag, "DS", values.Select(DecimalString).ToArray());

    /// <summary>Unsigned shorts (US).</summary>
    public DicomDataset AddUnsignedShorts(DicomTag tag, params ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), values[i]);
        _elements[Key(tag)] = ("US", bytes);
        return this;
    }

    /// <summary>Unsigned longs (UL).</summary>
    public DicomDataset AddUnsignedLongs(DicomTag tag, params uint[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4 * i), values[i]);
        _elements[Key(tag)] = ("UL", bytes);
        return this;
    }

    /// <summary>Attribute tags (AT): tags as values, as dimension pointers are.</summary>
    public DicomDataset AddTags(DicomTag tag, params DicomTag[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4 * i), values[i].Group);
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4 * i + 2), values[i].Element);
        }
        _elements[Key(tag)] = ("AT", bytes);
        return this;
    }

    /// <summary>Raw bytes with their VR (OB, OW, ...).</summary>
    public DicomDataset AddBytes(DicomTag tag, string vr, byte[] value)
    {
        _elements[Key(tag)] = (vr, value);
        return this;
    }

    public DicomDataset AddSequence(DicomTag tag, params DicomDataset[] items)
    {
        _elements[Key(tag)] = ("SQ", items);
        return this;
    }

    /// <summary>A new UID under the 2.25 root: the decimal value of a random UUID (PS3.5 §B.2).</summary>
    public static string NewUid() =>
        "2.25." + new BigInteger(Guid.NewGuid().ToByteArray().Append((byte)0).ToArray()).ToString(CultureInfo.InvariantCulture);

    /// <summary>A number as a DICOM decimal string: the shortest round-trip form that fits 16 characters.</summary>
    public static string DecimalString(double value)
    {
        if (!double.IsFinite(value)) throw new ArgumentException($"a decimal string cannot hold {value}");
        for (int digits = 15; digits >= 1; digits--)
        {
            string text = value.ToString("G" + digits, CultureInfo.InvariantCulture);
            if (text.Length <= 16) return text;
        }
        throw new ArgumentException($"{value} does not fit a decimal string");
    }

    /// <summary>Writes a Part 10 file: preamble, "DICM", file meta information, then this data set.</summary>
    public void WritePart10(string path, string sopClassUid, string sopInstanceUid)
    {
        var meta = new DicomDataset()
            .AddBytes(new DicomTag(0x0002, 0x0001), "OB", [0, 1])
            .Add(new DicomTag(0x0002, 0x0002), "UI", sopClassUid)
            .Add(new DicomTag(0x0002, 0x0003), "UI", sopInstanceUid)
            .Add(DicomTags.TransferSyntaxUid, "UI", ExplicitVrLittleEndian)
            .Add(new DicomTag(0x0002, 0x0012), "UI", ImplementationClassUid)
            .Add(new DicomTag(0x0002, 0x0013), "SH", "GUIDEDNET");
        byte[] metaBytes = meta.Encode();
        AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[128]);
            stream.Write("DICM"u8);
            var groupLength = new DicomDataset().AddUnsignedLongs(DicomTags.FileMetaGroupLength, (uint)metaBytes.Length);
            stream.Write(groupLength.Encode());
            stream.Write(metaBytes);
            stream.Write(Encode());
        });
    }

    public byte[] Encode()
    {
        using var buffer = new MemoryStream();
        Span<byte> header = stackalloc byte[12];
        foreach (var (key, (vr, value)) in _elements)
        {
            byte[] bytes = value switch
            {
                byte[] b => b,
                string s => Pad(Encoding.Latin1.GetBytes(s), vr == "UI" ? (byte)0 : (byte)' '),
                DicomDataset[] items => EncodeItems(items),
                _ => throw new InvalidOperationException($"no encoding for {value.GetType()}"),
            };
            if (bytes.Length % 2 == 1) bytes = Pad(bytes, 0);
            BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)(key >> 16));
            BinaryPrimitives.WriteUInt16LittleEndian(header[2..], (ushort)key);
            header[4] = (byte)vr[0];
            header[5] = (byte)vr[1];
            if (vr is "OB" or "OD" or "OF" or "OL" or "OV" or "OW" or "SQ" or "UC" or "UN" or "UR" or "UT" or "SV" or "UV")
            {
                header[6] = header[7] = 0;
                BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)bytes.Length);
                buffer.Write(header);
            }
            else
            {
                if (bytes.Length > ushort.MaxValue)
                    throw new InvalidOperationException($"element ({key >> 16:X4},{key & 0xFFFF:X4}) holds {bytes.Length} bytes, over the 65534 of a {vr}");
                BinaryPrimitives.WriteUInt16LittleEndian(header[6..], (ushort)bytes.Length);
                buffer.Write(header[..8]);
            }
            buffer.Write(bytes);
        }
        return buffer.ToArray();
    }

    private static byte[] EncodeItems(DicomDataset[] items)
    {
        using var buffer = new MemoryStream();
        Span<byte> header = stackalloc byte[8];
        foreach (var item in items)
        {
            byte[] content = item.Encode();
            BinaryPrimitives.WriteUInt16LittleEndian(header, DicomTags.Item.Group);
            BinaryPrimitives.WriteUInt16LittleEndian(header[2..], DicomTags.Item.Element);
            BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)content.Length);
            buffer.Write(header);
            buffer.Write(content);
        }
        return buffer.ToArray();
    }

    private static byte[] Pad(byte[] bytes, byte padding) => bytes.Length % 2 == 0 ? bytes : [.. bytes, padding];
}
