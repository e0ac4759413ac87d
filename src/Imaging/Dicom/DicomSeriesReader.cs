using System.Buffers.Binary;
using GuidedNet.Imaging.Geometry;

namespace GuidedNet.Imaging.Dicom;

/// <summary>Limits a DICOM input must stay within; each is checked before what it bounds is read or allocated.</summary>
public sealed class DicomReadOptions
{
    public static readonly DicomReadOptions Default = new();

    /// <summary>Largest voxel count of the assembled volume: 2²⁹, as for NIfTI (a 512×512×1000 CT holds 2.6·10⁸).</summary>
    public long MaxVoxels { get; init; } = 1L << 29;

    /// <summary>Most files a folder or zip may hold (a 2,000-slice CT with its localisers fits).</summary>
    public int MaxFiles { get; init; } = 20_000;

    /// <summary>Largest single file (a 512×512 slice is ~0.5 MB; an uncompressed multi-frame object may be far larger).</summary>
    public long MaxFileBytes { get; init; } = 1L << 30;

    /// <summary>Bytes read from each file to find its header; a file whose header is longer is read whole.</summary>
    public int HeaderProbeBytes { get; init; } = 256 * 1024;

    /// <summary>Largest relative deviation of one slice gap from the mean before the series counts as non-uniform (a missing slice).</summary>
    public double SliceSpacingTolerance { get; init; } = 0.01;
}

/// <summary>
/// What a series is, beyond its voxels: the identifiers a derived object (a DICOM SEG) must
/// reference — its slices' SOP class and instance UIDs in voxel order (slice k of the volume is
/// <c>Slices[k]</c>) — and the patient and study attributes it copies (as stored: Latin-1 decoded bytes).
/// </summary>
public sealed record DicomSeriesInfo(
    string SeriesInstanceUid,
    string? StudyInstanceUid,
    string? FrameOfReferenceUid,
    string? Modality,
    string? SeriesDescription,
    IReadOnlyList<(string SopClassUid, string SopInstanceUid)> Slices,
    IReadOnlyDictionary<DicomTag, string> PatientStudy,
    string Choice);

/// <summary>A DICOM series assembled into a volume, and what identifies it.</summary>
public sealed record DicomSeries(Volume Volume, DicomSeriesInfo Info);

/// <summary>
/// Reads a DICOM series — a folder, a <c>.zip</c> or a single file — into a <see cref="Volume"/>
/// in the RAS world our NIfTI side uses. Files are grouped by SeriesInstanceUID (the largest image
/// series is the scan unless one is named), slices are ordered by their position along the slice
/// normal (never by file name or InstanceNumber), and the geometry comes from
/// ImageOrientationPatient / ImagePositionPatient / PixelSpacing (PS3.3 C.7.6.2). Values are
/// RescaleSlope × stored + RescaleIntercept. Anything that would make the volume's geometry wrong
/// — a missing position, a gap, a gantry tilt, mixed orientation or size — is refused with a
/// <see cref="DicomFormatException"/> naming the file, never guessed around.
/// </summary>
public static class DicomSeriesReader
{
    private const double DirectionTolerance = 1e-4;

    /// <summary>Whether a path is a DICOM input: a folder, a zip, or a Part 10 file.</summary>
    public static bool IsDicomInput(string path)
    {
        if (Directory.Exists(path)) return true;
        if (!File.Exists(path)) return false;
        if (DicomSources.IsZip(path)) return true;
        Span<byte> head = stackalloc byte[132];
        using var file = File.OpenRead(path);
        return file.ReadAtLeast(head, 132, throwOnEndOfStream: false) == 132 && DicomFile.IsPart10(head);
    }

    /// <param name="seriesInstanceUid">The series to read when the input holds several; null: the one with the most slices.</param>
    /// <param name="log">Told which series was chosen among several, and which files were skipped.</param>
    public static DicomSeries Read(string path, string? seriesInstanceUid = null, DicomReadOptions? options = null, Action<string>? log = null)
    {
        options ??= DicomReadOptions.Default;
        using var sources = DicomSources.Open(path, options);
        var (slices, info) = Survey(sources, path, seriesInstanceUid, options, log);
        return new DicomSeries(Assemble(slices, options), info);
    }

    /// <summary>
    /// The grid and geometry of the series <see cref="Read"/> would read, with every check but
    /// the decoding of the pixels: what validation needs, in the memory of one file's header.
    /// </summary>
    public static ScanGeometry ReadGeometry(string path, string? seriesInstanceUid = null, DicomReadOptions? options = null)
    {
        options ??= DicomReadOptions.Default;
        using var sources = DicomSources.Open(path, options);
        var (slices, _) = Survey(sources, path, seriesInstanceUid, options, log: null);
        var first = slices[0].File;
        CheckVoxelCount(slices, options);
        return new ScanGeometry(Required(first, DicomTags.Columns), Required(first, DicomTags.Rows), slices.Count, Geometry(slices));
    }

    private static (List<Slice> Slices, DicomSeriesInfo Info) Survey(DicomSources sources, string path, string? seriesInstanceUid,
        DicomReadOptions options, Action<string>? log)
    {

        // Pass 1: headers only.
        var images = new List<(DicomSources.Entry Entry, DicomFile File)>();
        var skipped = new List<string>();
        foreach (var entry in sources.Entries)
        {
            var head = DicomSources.Read(entry, options.HeaderProbeBytes, options);
            if (!DicomFile.IsPart10(head))
            {
                skipped.Add($"{entry.Name} (not DICOM)");
                continue;
            }
            DicomFile file;
            try
            {
                file = DicomFile.Parse(head, entry.Length, entry.Name);
            }
            catch (DicomFile.NeedsWholeFile)
            {
                file = DicomFile.Parse(DicomSources.Read(entry, -1, options), entry.Length, entry.Name);
            }
            if (!file.HasPixelData)
            {
                skipped.Add($"{entry.Name} (no pixel data)");
                continue;
            }
            images.Add((entry, file));
        }
        if (images.Count == 0)
            throw new DicomFormatException(path, skipped.Count == 0
                ? "holds no files"
                : $"holds no DICOM image: {string.Join(", ", skipped.Take(3))}{(skipped.Count > 3 ? $" and {skipped.Count - 3} more" : "")}");
        if (skipped.Count > 0) log?.Invoke($"{path}: skipped {skipped.Count} file(s) that are not DICOM images: {string.Join(", ", skipped.Take(3))}");

        foreach (var (_, image) in images)
            if (image.String(DicomTags.SeriesInstanceUid) is null or "")
                throw new DicomFormatException(image.Name, $"has no Series Instance UID {DicomTags.SeriesInstanceUid}");
        var series = images.GroupBy(i => i.File.String(DicomTags.SeriesInstanceUid)!)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        var chosen = seriesInstanceUid is null
            ? series[0]
            : series.FirstOrDefault(g => g.Key == seriesInstanceUid)
              ?? throw new DicomFormatException(path, $"holds no series {seriesInstanceUid}; it holds {Describe(series)}");
        string choice = series.Count == 1
            ? $"series {chosen.Key} ({chosen.Count()} image(s))"
            : $"series {chosen.Key} ({chosen.Count()} image(s), {(seriesInstanceUid is null ? "the largest" : "as asked")}) of {series.Count}: {Describe(series)}";
        if (series.Count > 1) log?.Invoke($"{path}: {choice}");

        var slices = Order(chosen.Select(i => new Slice(i.Entry, i.File)).ToList(), path, options);
        var first = slices[0].File;
        var patient = new[] { DicomTags.SpecificCharacterSet, DicomTags.PatientName, DicomTags.PatientId, DicomTags.PatientBirthDate, DicomTags.PatientSex,
                DicomTags.StudyDate, DicomTags.StudyTime, DicomTags.StudyId, DicomTags.AccessionNumber, DicomTags.ReferringPhysicianName, DicomTags.StudyDescription }
            .Where(first.Has).ToDictionary(t => t, t => first.String(t) ?? "");
        var info = new DicomSeriesInfo(chosen.Key, first.String(DicomTags.StudyInstanceUid), first.String(DicomTags.FrameOfReferenceUid),
            first.String(DicomTags.Modality), first.String(DicomTags.SeriesDescription),
            slices.Select(s => (s.File.String(DicomTags.SopClassUid) ?? "", s.File.String(DicomTags.SopInstanceUid) ?? "")).ToList(), patient, choice);
        return (slices, info);
    }

    private static string Describe(IEnumerable<IGrouping<string, (DicomSources.Entry Entry, DicomFile File)>> series) =>
        string.Join("; ", series.Select(g => $"{g.Key} ({g.Count()} image(s){(g.First().File.String(DicomTags.SeriesDescription) is { Length: > 0 } d ? $", '{d}'" : "")})"));

    private sealed record Slice(DicomSources.Entry Entry, DicomFile File)
    {
        public Vector3d Position { get; set; }
        public double Distance { get; set; }
    }

    /// <summary>Checks that the slices form one regular grid and sorts them along the slice normal.</summary>
    private static List<Slice> Order(List<Slice> slices, string path, DicomReadOptions options)
    {
        foreach (var f in slices.Select(s => s.File))
            if (!TransferSyntaxes.IsSupported(f.TransferSyntaxUid) || f.PixelDataLength < 0)
                throw new DicomFormatException(f.Name, $"transfer syntax {TransferSyntaxes.Name(f.TransferSyntaxUid)} ({f.TransferSyntaxUid}) is compressed or encapsulated; " +
                                                       "only uncompressed Implicit VR Little Endian, Explicit VR Little Endian and Explicit VR Big Endian are read");
        var first = slices[0].File;
        int rows = Required(first, DicomTags.Rows), columns = Required(first, DicomTags.Columns);
        var orientation = RequiredNumbers(first, DicomTags.ImageOrientationPatient, 6);
        var spacing = RequiredNumbers(first, DicomTags.PixelSpacing, 2);
        int bits = Required(first, DicomTags.BitsAllocated);
        if (bits is not (8 or 16 or 32))
            throw new DicomFormatException(first.Name, $"has {bits} bits allocated per pixel; 8, 16 and 32 are read");
        int stored = first.UnsignedShort(DicomTags.BitsStored) ?? bits;
        if (stored < 1 || stored > bits)
            throw new DicomFormatException(first.Name, $"has {stored} bits stored of {bits} allocated");
        long frameBytes = (long)rows * columns * (bits / 8);
        foreach (var slice in slices)
        {
            var f = slice.File;
            if ((f.UnsignedShort(DicomTags.SamplesPerPixel) ?? 1) != 1)
                throw new DicomFormatException(f.Name, $"has {f.UnsignedShort(DicomTags.SamplesPerPixel)} samples per pixel (colour); only grey-scale images are read");
            if (f.Numbers(DicomTags.NumberOfFrames) is { } frames && frames[0] > 1)
                throw new DicomFormatException(f.Name, $"is a multi-frame image ({frames[0]} frames); only single-frame series are read");
            if (Required(f, DicomTags.Rows) != rows || Required(f, DicomTags.Columns) != columns)
                throw new DicomFormatException(f.Name, $"is {f.UnsignedShort(DicomTags.Columns)}x{f.UnsignedShort(DicomTags.Rows)} pixels, but {first.Name} is {columns}x{rows}: mixed sizes in one series");
            if (f.PixelDataLength < frameBytes)
                throw new DicomFormatException(f.Name, $"pixel data hold {f.PixelDataLength} bytes; {columns}x{rows} pixels of {bits} bits need {frameBytes}");
            var o = RequiredNumbers(f, DicomTags.ImageOrientationPatient, 6);
            if (o.Zip(orientation).Any(p => Math.Abs(p.First - p.Second) > DirectionTolerance))
                throw new DicomFormatException(f.Name, $"has orientation [{string.Join(", ", o)}], but {first.Name} has [{string.Join(", ", orientation)}]: mixed orientations in one series");
            var s = RequiredNumbers(f, DicomTags.PixelSpacing, 2);
            if (Math.Abs(s[0] - spacing[0]) > 1e-4 * spacing[0] || Math.Abs(s[1] - spacing[1]) > 1e-4 * spacing[1])
                throw new DicomFormatException(f.Name, $"has pixel spacing {s[0]}\\{s[1]} mm, but {first.Name} has {spacing[0]}\\{spacing[1]}: mixed spacings in one series");
            if (f.UnsignedShort(DicomTags.BitsAllocated) != first.UnsignedShort(DicomTags.BitsAllocated) ||
                f.UnsignedShort(DicomTags.PixelRepresentation) != first.UnsignedShort(DicomTags.PixelRepresentation))
                throw new DicomFormatException(f.Name, $"stores pixels differently from {first.Name} (bits allocated or pixel representation)");
            var p = RequiredNumbers(f, DicomTags.ImagePositionPatient, 3);
            slice.Position = new Vector3d(p[0], p[1], p[2]);
        }

        var row = new Vector3d(orientation[0], orientation[1], orientation[2]);
        var column = new Vector3d(orientation[3], orientation[4], orientation[5]);
        if (Math.Abs(row.Norm - 1) > 1e-3 || Math.Abs(column.Norm - 1) > 1e-3 || Math.Abs(row.Dot(column)) > 1e-3)
            throw new DicomFormatException(first.Name, $"orientation [{string.Join(", ", orientation)}] is not two orthogonal unit vectors");
        var normal = row.Cross(column);
        foreach (var slice in slices) slice.Distance = slice.Position.Dot(normal);
        var ordered = slices.OrderBy(s => s.Distance).ToList();
        if (spacing[0] <= 0 || spacing[1] <= 0)
            throw new DicomFormatException(first.Name, $"pixel spacing {spacing[0]}\\{spacing[1]} mm is not positive");
        if (ordered.Count == 1) return ordered;

        var gaps = Enumerable.Range(1, ordered.Count - 1).Select(k => ordered[k].Distance - ordered[k - 1].Distance).ToArray();
        for (int k = 0; k < gaps.Length; k++)
            if (gaps[k] < 1e-3)
                throw new DicomFormatException(ordered[k + 1].File.Name, $"lies at the same position as {ordered[k].File.Name} ({gaps[k]:G4} mm apart along the slice normal): duplicate slices in one series");
        double typical = gaps.Order().ElementAt(gaps.Length / 2);
        int worst = Enumerable.Range(0, gaps.Length).MaxBy(k => Math.Abs(gaps[k] - typical));
        if (Math.Abs(gaps[worst] - typical) > options.SliceSpacingTolerance * typical)
            throw new DicomFormatException(path, $"non-uniform slice spacing: {gaps[worst]:G6} mm between {ordered[worst].File.Name} and {ordered[worst + 1].File.Name}, " +
                                                 $"{typical:G6} mm between most slices (a missing slice, or slices of varying thickness)");
        double mean = (ordered[^1].Distance - ordered[0].Distance) / (ordered.Count - 1);
        // Positions must advance along the normal: any in-plane drift is a tilted gantry (or a sheared series).
        var step = (ordered[^1].Position - ordered[0].Position) * (1.0 / (ordered.Count - 1));
        var drift = step - normal * mean;
        if (drift.Norm > 1e-3 * mean + 1e-4)
            throw new DicomFormatException(path, $"slices advance {drift.Norm:G4} mm per slice across the image plane as well as {mean:G6} mm along its normal: " +
                                                 "a gantry tilt (or a sheared series); resample it to an orthogonal grid first");
        foreach (var s in ordered)
        {
            var expected = ordered[0].Position + step * ((s.Distance - ordered[0].Distance) / mean);
            if ((s.Position - expected).Norm > options.SliceSpacingTolerance * mean + 1e-3)
                throw new DicomFormatException(s.File.Name, "its position is off the line the other slices lie on: a gantry tilt or a sheared series");
        }
        return ordered;
    }

    private static void CheckVoxelCount(List<Slice> slices, DicomReadOptions options)
    {
        var first = slices[0].File;
        int rows = Required(first, DicomTags.Rows), columns = Required(first, DicomTags.Columns);
        long voxels = (long)rows * columns * slices.Count;
        if (voxels > options.MaxVoxels)
            throw new DicomFormatException(first.Name, $"the series holds {columns}x{rows}x{slices.Count} = {voxels} voxels, over the limit MaxVoxels = {options.MaxVoxels}");
    }

    private static Volume Assemble(List<Slice> slices, DicomReadOptions options)
    {
        CheckVoxelCount(slices, options);
        var first = slices[0].File;
        int rows = Required(first, DicomTags.Rows), columns = Required(first, DicomTags.Columns);
        long voxels = (long)rows * columns * slices.Count;
        int bits = Required(first, DicomTags.BitsAllocated);
        bool signed = first.UnsignedShort(DicomTags.PixelRepresentation) == 1;
        int stored = first.UnsignedShort(DicomTags.BitsStored) ?? bits;
        long frameBytes = (long)rows * columns * (bits / 8);

        var values = new float[voxels];
        for (int k = 0; k < slices.Count; k++)
        {
            var f = slices[k].File;
            var bytes = DicomSources.Read(slices[k].Entry, f.PixelDataOffset + frameBytes, options);
            double slope = f.Numbers(DicomTags.RescaleSlope)?[0] ?? 1, intercept = f.Numbers(DicomTags.RescaleIntercept)?[0] ?? 0;
            Decode(bytes.AsSpan((int)f.PixelDataOffset, (int)frameBytes), values.AsSpan((int)(k * (long)rows * columns), rows * columns),
                bits, stored, signed, f.BigEndian, slope, intercept);
        }

        return new Volume(columns, rows, slices.Count, values, Geometry(slices));
    }

    /// <summary>The voxel-to-RAS affine of ordered slices (PS3.3 C.7.6.2.1.1).</summary>
    private static Affine Geometry(List<Slice> slices)
    {
        var first = slices[0].File;
        // Voxel (i column, j row, k slice) to patient LPS, then to RAS (negate x and y).
        var o = RequiredNumbers(first, DicomTags.ImageOrientationPatient, 6);
        var spacing = RequiredNumbers(first, DicomTags.PixelSpacing, 2); // row spacing (between rows, along j), column spacing (along i)
        var origin = slices[0].Position;
        var row = new Vector3d(o[0], o[1], o[2]) * spacing[1];
        var column = new Vector3d(o[3], o[4], o[5]) * spacing[0];
        var normal = new Vector3d(o[0], o[1], o[2]).Cross(new Vector3d(o[3], o[4], o[5]));
        var step = slices.Count > 1
            ? (slices[^1].Position - slices[0].Position) * (1.0 / (slices.Count - 1))
            : normal * (first.Numbers(DicomTags.SliceThickness)?[0] is > 0 and var t ? t : 1.0);
        var lps = new double[,]
        {
            { row.X, column.X, step.X, origin.X },
            { row.Y, column.Y, step.Y, origin.Y },
            { row.Z, column.Z, step.Z, origin.Z },
            { 0, 0, 0, 1 },
        };
        for (int c = 0; c < 4; c++)
        {
            lps[0, c] = -lps[0, c];
            lps[1, c] = -lps[1, c];
        }
        var affine = new Affine(lps);
        if (GeometryLimits.SpacingProblem(affine.Spacing) is { } problem)
            throw new DicomFormatException(first.Name, problem);
        return affine;
    }

    private static void Decode(ReadOnlySpan<byte> source, Span<float> target, int bits, int stored, bool signed, bool bigEndian,
        double slope, double intercept)
    {
        int shift = 32 - stored;
        for (int i = 0; i < target.Length; i++)
        {
            uint raw = bits switch
            {
                8 => source[i],
                16 => bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(source[(2 * i)..]) : BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * i)..]),
                _ => bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(source[(4 * i)..]) : BinaryPrimitives.ReadUInt32LittleEndian(source[(4 * i)..]),
            };
            // Only the low BitsStored bits hold the value; a signed value's sign is its top stored bit.
            double value = signed ? (int)(raw << shift) >> shift : (raw << shift) >> shift;
            target[i] = (float)(value * slope + intercept);
        }
    }

    private static int Required(DicomFile file, DicomTag tag) =>
        file.UnsignedShort(tag) is { } v and > 0 ? v : throw new DicomFormatException(file.Name, $"has no {tag} (or it is 0)");

    private static double[] RequiredNumbers(DicomFile file, DicomTag tag, int count)
    {
        var v = file.Numbers(tag);
        if (v is null) throw new DicomFormatException(file.Name, $"has no {Names.GetValueOrDefault(tag, "")} {tag}".Replace("  ", " "));
        if (v.Length < count) throw new DicomFormatException(file.Name, $"{Names.GetValueOrDefault(tag, "")} {tag} holds {v.Length} values; {count} are needed");
        return v;
    }

    private static readonly Dictionary<DicomTag, string> Names = new()
    {
        [DicomTags.ImagePositionPatient] = "Image Position (Patient)",
        [DicomTags.ImageOrientationPatient] = "Image Orientation (Patient)",
        [DicomTags.PixelSpacing] = "Pixel Spacing",
    };
}
