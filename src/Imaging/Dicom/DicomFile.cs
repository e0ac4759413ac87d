using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace GuidedNet.Imaging.Dicom;

/// <summary>An unreadable or invalid DICOM file or series (<see cref="ScanFormatException"/>).</summary>
public sealed class DicomFormatException(string path, string problem, Exception? inner = null)
    : ScanFormatException(path, problem, inner);

/// <summary>
/// One DICOM Part 10 file (PS3.10 §7: 128-byte preamble, "DICM", Explicit VR Little Endian file
/// meta information, then the data set in its transfer syntax) read up to its pixel data: the
/// top-level values, and where the pixel data lie. Nested sequences are walked (to find what
/// follows them) but not kept. Every malformation is a <see cref="DicomFormatException"/> naming
/// the file and the byte where it was found.
/// </summary>
public sealed class DicomFile
{
    private const uint UndefinedLength = 0xFFFFFFFF;
    private const int MaxNesting = 32;

    /// <summary>Values longer than this are skipped, never kept (none of the tags read here comes near it).</summary>
    private const int MaxKeptValueBytes = 64 * 1024;

    /// <summary>
    /// The tags whose values are kept: those of <see cref="DicomTags"/>, the ones this project reads.
    /// A series' headers are held until its slices are ordered, so what a file keeps is bounded by
    /// this set, not by how many elements the file holds.
    /// </summary>
    private static readonly HashSet<DicomTag> Kept = typeof(DicomTags).GetFields()
        .Where(f => f.FieldType == typeof(DicomTag)).Select(f => (DicomTag)f.GetValue(null)!).ToHashSet();

    private readonly Dictionary<DicomTag, byte[]> _values;

    private DicomFile(string name, string transferSyntax, bool bigEndian, Dictionary<DicomTag, byte[]> values, long pixelOffset, long pixelLength)
    {
        Name = name;
        TransferSyntaxUid = transferSyntax;
        BigEndian = bigEndian;
        _values = values;
        PixelDataOffset = pixelOffset;
        PixelDataLength = pixelLength;
    }

    public string Name { get; }
    public string TransferSyntaxUid { get; }
    public bool BigEndian { get; }

    /// <summary>Byte offset of the pixel data's value in the file, or -1 when the file has none (a DICOMDIR, a report).</summary>
    public long PixelDataOffset { get; }

    /// <summary>Length of the pixel data's value, or -1 when it is encapsulated (compressed frames).</summary>
    public long PixelDataLength { get; }

    public bool HasPixelData => PixelDataOffset >= 0;

    /// <summary>Whether the bytes start like a Part 10 file ("DICM" after the 128-byte preamble).</summary>
    public static bool IsPart10(ReadOnlySpan<byte> bytes) => bytes.Length >= 132 && bytes.Slice(128, 4).SequenceEqual("DICM"u8);

    /// <summary>
    /// Parses a file's header. <paramref name="bytes"/> may be only the file's beginning
    /// (<paramref name="fileLength"/> says how long the file is): when the header runs past
    /// them, <see cref="NeedsWholeFile"/> is thrown and the caller parses the whole file.
    /// </summary>
    public static DicomFile Parse(ReadOnlySpan<byte> bytes, long fileLength, string name)
    {
        if (!IsPart10(bytes))
            throw new DicomFormatException(name, "not a DICOM Part 10 file (no \"DICM\" after the 128-byte preamble)");
        var meta = new ElementReader(bytes, fileLength, name, explicitVr: true, bigEndian: false) { Position = 132 };
        var values = new Dictionary<DicomTag, byte[]>();
        while (meta.Position < bytes.Length && meta.PeekGroup() == 0x0002)
            meta.ReadTopLevel(values, out _);
        if (!values.TryGetValue(DicomTags.TransferSyntaxUid, out var syntaxBytes))
            throw new DicomFormatException(name, $"no Transfer Syntax UID {DicomTags.TransferSyntaxUid} in the file meta information");
        string syntax = Text(syntaxBytes);
        if (syntax == "1.2.840.10008.1.2.1.99")
            throw new DicomFormatException(name, $"transfer syntax {TransferSyntaxes.Name(syntax)} ({syntax}) is not read; uncompressed Implicit VR Little Endian, Explicit VR Little Endian and Explicit VR Big Endian are");

        // Encapsulated syntaxes (JPEG, RLE, ...) encode the data set itself as Explicit VR Little Endian.
        bool bigEndian = syntax == TransferSyntaxes.ExplicitVrBigEndian;
        var data = new ElementReader(bytes, fileLength, name, explicitVr: syntax != TransferSyntaxes.ImplicitVrLittleEndian, bigEndian)
        {
            Position = meta.Position,
        };
        long pixelOffset = -1, pixelLength = -1;
        while (data.Position < fileLength)
        {
            if (data.Position >= bytes.Length) throw new NeedsWholeFile();
            var tag = data.ReadTopLevel(values, out long valueLength);
            if (tag != DicomTags.PixelData) continue;
            pixelOffset = data.Position - (valueLength < 0 ? 0 : valueLength);
            pixelLength = valueLength;
            break;
        }
        return new DicomFile(name, syntax, bigEndian, values, pixelOffset, pixelLength);
    }

    /// <summary>Thrown by <see cref="Parse"/> when the bytes given end inside the header.</summary>
    public sealed class NeedsWholeFile : Exception;

    public bool Has(DicomTag tag) => _values.ContainsKey(tag);

    /// <summary>A string value (UI, CS, LO, PN, DA, ...), trimmed of its padding; null when absent.</summary>
    public string? String(DicomTag tag) => _values.TryGetValue(tag, out var v) ? Text(v) : null;

    /// <summary>A decimal or integer string (DS, IS), possibly multi-valued; null when absent or empty.</summary>
    public double[]? Numbers(DicomTag tag)
    {
        string? text = String(tag);
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split('\\');
        var numbers = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out numbers[i]) || !double.IsFinite(numbers[i]))
                throw new DicomFormatException(Name, $"{tag} holds '{text}', which is not a list of numbers");
        return numbers;
    }

    /// <summary>An unsigned short (US) in the file's byte order; null when absent.</summary>
    public int? UnsignedShort(DicomTag tag)
    {
        if (!_values.TryGetValue(tag, out var v)) return null;
        if (v.Length < 2) throw new DicomFormatException(Name, $"{tag} is {v.Length} bytes long; an unsigned short needs 2");
        return BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(v) : BinaryPrimitives.ReadUInt16LittleEndian(v);
    }

    private static string Text(byte[] value) => Encoding.Latin1.GetString(value).TrimEnd(' ', '\0').Trim();

    /// <summary>Walks data elements (PS3.5 §7.1) over a byte span, in one transfer syntax.</summary>
    private ref struct ElementReader(ReadOnlySpan<byte> bytes, long fileLength, string name, bool explicitVr, bool bigEndian)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private bool _explicitVr = explicitVr;

        public long Position { get; set; }

        public readonly ushort PeekGroup()
        {
            Need(2);
            return U16(Position);
        }

        /// <summary>Reads one top-level element, keeping short values; positions after its header when it is the pixel data.</summary>
        public DicomTag ReadTopLevel(Dictionary<DicomTag, byte[]> values, out long valueLength)
        {
            long start = Position;
            var (tag, vr, length) = ReadHeader();
            if (tag == DicomTags.PixelData)
            {
                if (length == UndefinedLength)
                {
                    valueLength = -1;
                    return tag;
                }
                if (Position + length > fileLength)
                    throw new DicomFormatException(name, $"pixel data end at byte {Position + length} but the file has {fileLength} bytes (truncated)");
                valueLength = length;
                Position += length;
                return tag;
            }
            valueLength = length == UndefinedLength ? -1 : length;
            if (length == UndefinedLength)
            {
                SkipUndefinedLength(vr, 1);
                return tag;
            }
            if (Position + length > fileLength)
                throw new DicomFormatException(name, $"element {tag} at byte {start} claims {length} bytes, past the end of the file ({fileLength} bytes; truncated?)");
            if (length <= MaxKeptValueBytes && vr != "SQ" && Kept.Contains(tag))
            {
                Need(length);
                values[tag] = _bytes.Slice((int)Position, (int)length).ToArray();
            }
            Position += length;
            return tag;
        }

        private (DicomTag Tag, string? Vr, uint Length) ReadHeader()
        {
            Need(8);
            var tag = new DicomTag(U16(Position), U16(Position + 2));
            if (tag.Group == 0xFFFE || !_explicitVr)
            {
                uint length = U32(Position + 4);
                Position += 8;
                return (tag, null, length);
            }
            string vr = Encoding.ASCII.GetString(_bytes.Slice((int)Position + 4, 2));
            if (!(char.IsAsciiLetterUpper(vr[0]) && char.IsAsciiLetterUpper(vr[1])))
                throw new DicomFormatException(name, $"element {tag} at byte {Position} has no valid VR (found bytes {(int)vr[0]:X2} {(int)vr[1]:X2}); is the transfer syntax right?");
            if (vr is "OB" or "OD" or "OF" or "OL" or "OV" or "OW" or "SQ" or "UC" or "UN" or "UR" or "UT" or "SV" or "UV")
            {
                Need(12);
                uint length = U32(Position + 8);
                Position += 12;
                return (tag, vr, length);
            }
            uint shortLength = U16(Position + 6);
            Position += 8;
            return (tag, vr, shortLength);
        }

        // A sequence, or encapsulated data, of undefined length: items up to a sequence delimitation (PS3.5 §7.5).
        private void SkipUndefinedLength(string? vr, int depth)
        {
            if (depth > MaxNesting) throw new DicomFormatException(name, $"sequences nested deeper than {MaxNesting} levels at byte {Position}");
            // PS3.5 §6.2.2: the content of UN with undefined length is Implicit VR Little Endian.
            bool wasExplicit = _explicitVr;
            if (vr == "UN") _explicitVr = false;
            while (true)
            {
                long at = Position;
                var (tag, _, length) = ReadHeader();
                if (tag == DicomTags.SequenceDelimitation) break;
                if (tag != DicomTags.Item)
                    throw new DicomFormatException(name, $"malformed sequence: expected an item at byte {at}, found {tag}");
                if (length == UndefinedLength) SkipItem(depth);
                else Skip(length);
            }
            _explicitVr = wasExplicit;
        }

        private void SkipItem(int depth)
        {
            while (true)
            {
                var (tag, vr, length) = ReadHeader();
                if (tag == DicomTags.ItemDelimitation) return;
                if (length == UndefinedLength) SkipUndefinedLength(vr, depth + 1);
                else Skip(length);
            }
        }

        private void Skip(uint length)
        {
            if (Position + length > fileLength)
                throw new DicomFormatException(name, $"a value at byte {Position} claims {length} bytes, past the end of the file ({fileLength} bytes; truncated?)");
            Position += length;
        }

        private readonly void Need(long count)
        {
            if (Position + count <= _bytes.Length) return;
            if (_bytes.Length < fileLength) throw new NeedsWholeFile();
            throw new DicomFormatException(name, $"the file ends at byte {fileLength} inside a data element's header or value (truncated)");
        }

        private readonly ushort U16(long at) => bigEndian
            ? BinaryPrimitives.ReadUInt16BigEndian(_bytes[(int)at..])
            : BinaryPrimitives.ReadUInt16LittleEndian(_bytes[(int)at..]);

        private readonly uint U32(long at) => bigEndian
            ? BinaryPrimitives.ReadUInt32BigEndian(_bytes[(int)at..])
            : BinaryPrimitives.ReadUInt32LittleEndian(_bytes[(int)at..]);
    }
}
