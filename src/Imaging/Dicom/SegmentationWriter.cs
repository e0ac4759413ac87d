using System.Globalization;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Labels;

namespace GuidedNet.Imaging.Dicom;

/// <summary>A coded concept (PS3.3 §8.8): code value, coding scheme and meaning.</summary>
public sealed record CodedConcept(string Value, string Scheme, string Meaning)
{
    public DicomDataset ToItem() => new DicomDataset()
        .Add(new DicomTag(0x0008, 0x0100), "SH", Value)
        .Add(new DicomTag(0x0008, 0x0102), "SH", Scheme)
        .Add(new DicomTag(0x0008, 0x0104), "LO", Meaning);
}

/// <summary>
/// The SNOMED CT concepts of the organs our presets name (DICOM CID 7150 for the category, the
/// anatomic-region concepts of PS3.16 for the types); any other label is coded as tissue and keeps
/// its own name as the segment label.
/// </summary>
public static class SegmentCodes
{
    public static readonly CodedConcept AnatomicalStructure = new("123037004", "SCT", "Anatomical Structure");
    public static readonly CodedConcept Tissue = new("85756007", "SCT", "Tissue");

    private static readonly Dictionary<string, CodedConcept> Organs = new(StringComparer.OrdinalIgnoreCase)
    {
        ["liver"] = new("10200004", "SCT", "Liver"),
        ["spleen"] = new("78961009", "SCT", "Spleen"),
        ["pancreas"] = new("15776009", "SCT", "Pancreas"),
        ["aorta"] = new("15825003", "SCT", "Aorta"),
        ["inferior vena cava"] = new("64131007", "SCT", "Inferior vena cava"),
        ["gallbladder"] = new("28231008", "SCT", "Gallbladder"),
        ["esophagus"] = new("32849002", "SCT", "Esophagus"),
        ["stomach"] = new("69695003", "SCT", "Stomach"),
        ["duodenum"] = new("38848004", "SCT", "Duodenum"),
        ["right kidney"] = new("9846003", "SCT", "Right kidney"),
        ["left kidney"] = new("18639004", "SCT", "Left kidney"),
        ["right adrenal gland"] = new("281625001", "SCT", "Right adrenal gland"),
        ["left adrenal gland"] = new("281624002", "SCT", "Left adrenal gland"),
        ["bladder"] = new("89837001", "SCT", "Urinary bladder"),
    };

    /// <summary>The segmented property (category, type) of a label name.</summary>
    public static (CodedConcept Category, CodedConcept Type) For(string name) =>
        Organs.TryGetValue(name, out var organ) ? (AnatomicalStructure, organ) : (Tissue, Tissue);
}

/// <summary>
/// Writes a mask as a DICOM Segmentation (PS3.3 A.51, SOP class 1.2.840.10008.5.1.4.1.1.66.4):
/// BINARY, one segment per label present (numbered from 1; its description names the label value) with its name, coded category and type and a
/// recommended display colour; one frame per segment and source slice that holds it, each
/// referencing its source image; patient, study and frame of reference copied from the source
/// series, so that a PACS files it beside the scan and a viewer overlays it.
/// </summary>
public static class SegmentationWriter
{
    public const string SopClassUid = "1.2.840.10008.5.1.4.1.1.66.4";

    /// <summary>
    /// Writes the SEG of <paramref name="mask"/> (label values in the source series' own grid, as
    /// read by <see cref="DicomSeriesReader"/>); returns how many segments it holds, 0 when the mask
    /// is empty (then no file is written: a SEG must hold a segment).
    /// </summary>
    public static int Write(string path, Volume mask, DicomSeriesInfo source, LabelTable labels, string softwareVersion)
    {
        if (mask.SizeZ != source.Slices.Count)
            throw new ArgumentException($"the mask has {mask.SizeZ} slices but its source series {source.Slices.Count}");
        int rows = mask.SizeY, columns = mask.SizeX, pixels = rows * columns;
        var segments = labels.Entries.Where(e => mask.Voxels.AsSpan().Contains(e.Value)).ToList();
        if (segments.Count == 0) return 0;

        // Geometry in patient (LPS) coordinates: RAS columns of the affine with x and y negated.
        var a = mask.Affine;
        Vector3d Column(int c) => new(-a[0, c], -a[1, c], a[2, c]);
        var (row, column, step) = (Column(0), Column(1), Column(2));
        double columnSpacing = row.Norm, rowSpacing = column.Norm, sliceSpacing = step.Norm;
        string[] orientation = new[] { row.X / columnSpacing, row.Y / columnSpacing, row.Z / columnSpacing, column.X / rowSpacing, column.Y / rowSpacing, column.Z / rowSpacing }
            .Select(DicomDataset.DecimalString).ToArray();
        Vector3d Position(int k) => new(-(a[0, 3] + k * a[0, 2]), -(a[1, 3] + k * a[1, 2]), a[2, 3] + k * a[2, 2]);

        string dimensionOrganization = DicomDataset.NewUid();
        var frames = new List<DicomDataset>();
        var framePlanes = new List<(int Value, int Slice)>();
        // Segments are numbered 1, 2, ... in label order (PS3.3 C.8.20.2.5); each names its label value.
        foreach (var (segment, number) in segments.Select((e, i) => (e, (ushort)(i + 1))))
            for (int k = 0; k < mask.SizeZ; k++)
            {
                var plane = mask.Voxels.AsSpan(k * pixels, pixels);
                if (!plane.Contains(segment.Value)) continue;
                framePlanes.Add((segment.Value, k));
                var p = Position(k);
                frames.Add(new DicomDataset()
                    .AddSequence(new DicomTag(0x0008, 0x9124), new DicomDataset()
                        .AddSequence(new DicomTag(0x0008, 0x2112), new DicomDataset()
                            .Add(new DicomTag(0x0008, 0x1150), "UI", source.Slices[k].SopClassUid)
                            .Add(new DicomTag(0x0008, 0x1155), "UI", source.Slices[k].SopInstanceUid)
                            .AddSequence(new DicomTag(0x0040, 0xA170), new CodedConcept("121322", "DCM", "Source image for image processing operation").ToItem()))
                        .AddSequence(new DicomTag(0x0008, 0x9215), new CodedConcept("113076", "DCM", "Segmentation").ToItem()))
                    .AddSequence(new DicomTag(0x0020, 0x9111), new DicomDataset()
                        .AddUnsignedLongs(new DicomTag(0x0020, 0x9157), number, (uint)(k + 1)))
                    .AddSequence(new DicomTag(0x0020, 0x9113), new DicomDataset()
                        .AddDecimals(DicomTags.ImagePositionPatient, p.X, p.Y, p.Z))
                    .AddSequence(new DicomTag(0x0062, 0x000A), new DicomDataset()
                        .AddUnsignedShorts(new DicomTag(0x0062, 0x000B), number)));
            }

        string now = DateTime.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture), time = DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);
        string Copied(DicomTag tag) => source.PatientStudy.TryGetValue(tag, out var v) ? v : "";
        string sopInstance = DicomDataset.NewUid();
        var seg = new DicomDataset()
            .Add(DicomTags.SpecificCharacterSet, "CS", source.PatientStudy.TryGetValue(DicomTags.SpecificCharacterSet, out var charset) && charset.Length > 0 ? charset : "ISO_IR 100")
            .Add(new DicomTag(0x0008, 0x0008), "CS", "DERIVED", "PRIMARY")
            .Add(DicomTags.SopClassUid, "UI", SopClassUid)
            .Add(DicomTags.SopInstanceUid, "UI", sopInstance)
            .Add(DicomTags.StudyDate, "DA", Copied(DicomTags.StudyDate))
            .Add(new DicomTag(0x0008, 0x0023), "DA", now)
            .Add(DicomTags.StudyTime, "TM", Copied(DicomTags.StudyTime))
            .Add(new DicomTag(0x0008, 0x0033), "TM", time)
            .Add(DicomTags.AccessionNumber, "SH", Copied(DicomTags.AccessionNumber))
            .Add(DicomTags.Modality, "CS", "SEG")
            .Add(new DicomTag(0x0008, 0x0070), "LO", "GuidedNet.Cloud")
            .Add(DicomTags.ReferringPhysicianName, "PN", Copied(DicomTags.ReferringPhysicianName))
            .Add(DicomTags.SeriesDescription, "LO", "GuidedNet segmentation")
            .Add(new DicomTag(0x0008, 0x1090), "LO", "GuidedNet")
            .AddSequence(new DicomTag(0x0008, 0x1115), new DicomDataset()
                .AddSequence(new DicomTag(0x0008, 0x114A), source.Slices.Select(s => new DicomDataset()
                    .Add(new DicomTag(0x0008, 0x1150), "UI", s.SopClassUid)
                    .Add(new DicomTag(0x0008, 0x1155), "UI", s.SopInstanceUid)).ToArray())
                .Add(DicomTags.SeriesInstanceUid, "UI", source.SeriesInstanceUid))
            .Add(DicomTags.PatientName, "PN", Copied(DicomTags.PatientName))
            .Add(DicomTags.PatientId, "LO", Copied(DicomTags.PatientId))
            .Add(DicomTags.PatientBirthDate, "DA", Copied(DicomTags.PatientBirthDate))
            .Add(DicomTags.PatientSex, "CS", Copied(DicomTags.PatientSex))
            .Add(new DicomTag(0x0018, 0x1000), "LO", "1")
            .Add(new DicomTag(0x0018, 0x1020), "LO", softwareVersion)
            .Add(DicomTags.StudyInstanceUid, "UI", source.StudyInstanceUid ?? DicomDataset.NewUid())
            .Add(DicomTags.SeriesInstanceUid, "UI", DicomDataset.NewUid())
            .Add(DicomTags.StudyId, "SH", Copied(DicomTags.StudyId))
            .Add(DicomTags.SeriesNumber, "IS", "9901")
            .Add(DicomTags.InstanceNumber, "IS", "1")
            .Add(DicomTags.FrameOfReferenceUid, "UI", source.FrameOfReferenceUid ?? DicomDataset.NewUid())
            .Add(new DicomTag(0x0020, 0x1040), "LO", "")
            .AddSequence(new DicomTag(0x0020, 0x9221), new DicomDataset().Add(new DicomTag(0x0020, 0x9164), "UI", dimensionOrganization))
            .AddSequence(new DicomTag(0x0020, 0x9222),
                new DicomDataset()
                    .Add(new DicomTag(0x0020, 0x9164), "UI", dimensionOrganization)
                    .AddTags(new DicomTag(0x0020, 0x9165), new DicomTag(0x0062, 0x000B))
                    .AddTags(new DicomTag(0x0020, 0x9167), new DicomTag(0x0062, 0x000A))
                    .Add(new DicomTag(0x0020, 0x9421), "LO", "ReferencedSegmentNumber"),
                new DicomDataset()
                    .Add(new DicomTag(0x0020, 0x9164), "UI", dimensionOrganization)
                    .AddTags(new DicomTag(0x0020, 0x9165), DicomTags.ImagePositionPatient)
                    .AddTags(new DicomTag(0x0020, 0x9167), new DicomTag(0x0020, 0x9113))
                    .Add(new DicomTag(0x0020, 0x9421), "LO", "ImagePositionPatient"))
            .Add(new DicomTag(0x0020, 0x9311), "CS", "3D")
            .AddUnsignedShorts(DicomTags.SamplesPerPixel, 1)
            .Add(DicomTags.PhotometricInterpretation, "CS", "MONOCHROME2")
            .Add(DicomTags.NumberOfFrames, "IS", frames.Count.ToString(CultureInfo.InvariantCulture))
            .AddUnsignedShorts(DicomTags.Rows, (ushort)rows)
            .AddUnsignedShorts(DicomTags.Columns, (ushort)columns)
            .AddUnsignedShorts(DicomTags.BitsAllocated, 1)
            .AddUnsignedShorts(DicomTags.BitsStored, 1)
            .AddUnsignedShorts(new DicomTag(0x0028, 0x0102), 0)
            .AddUnsignedShorts(DicomTags.PixelRepresentation, 0)
            .Add(new DicomTag(0x0028, 0x2110), "CS", "00")
            .Add(new DicomTag(0x0062, 0x0001), "CS", "BINARY")
            .AddSequence(new DicomTag(0x0062, 0x0002), segments.Select((e, i) => SegmentItem(e, (ushort)(i + 1))).ToArray())
            .Add(new DicomTag(0x0070, 0x0080), "CS", "SEGMENTATION")
            .Add(new DicomTag(0x0070, 0x0081), "LO", "organs segmented by GuidedNet")
            .Add(new DicomTag(0x0070, 0x0084), "PN", "")
            .AddSequence(new DicomTag(0x5200, 0x9229), new DicomDataset()
                .AddSequence(new DicomTag(0x0028, 0x9110), new DicomDataset()
                    .AddDecimals(DicomTags.SliceThickness, sliceSpacing)
                    .AddDecimals(new DicomTag(0x0018, 0x0088), sliceSpacing)
                    .AddDecimals(DicomTags.PixelSpacing, rowSpacing, columnSpacing))
                .AddSequence(new DicomTag(0x0020, 0x9116), new DicomDataset()
                    .Add(DicomTags.ImageOrientationPatient, "DS", orientation)))
            .AddSequence(new DicomTag(0x5200, 0x9230), frames.ToArray())
            .AddBytes(DicomTags.PixelData, "OB", PackBits(mask, framePlanes));
        if (rows > ushort.MaxValue || columns > ushort.MaxValue) throw new ArgumentException($"{columns}x{rows} pixels do not fit a DICOM image");
        seg.WritePart10(path, SopClassUid, sopInstance);
        return segments.Count;
    }

    private static DicomDataset SegmentItem(LabelEntry segment, ushort number)
    {
        var (category, type) = SegmentCodes.For(segment.Name);
        var lab = CieLab.FromRgb(segment.Colour);
        return new DicomDataset()
            .AddSequence(new DicomTag(0x0062, 0x0003), category.ToItem())
            .AddUnsignedShorts(new DicomTag(0x0062, 0x0004), number)
            .Add(new DicomTag(0x0062, 0x0005), "LO", segment.Name)
            .Add(new DicomTag(0x0062, 0x0006), "ST", $"label value {segment.Value} of the mask (labels.json)")
            .Add(new DicomTag(0x0062, 0x0008), "CS", "AUTOMATIC")
            .Add(new DicomTag(0x0062, 0x0009), "LO", "GuidedNet")
            .AddUnsignedShorts(new DicomTag(0x0062, 0x000D), lab)
            .AddSequence(new DicomTag(0x0062, 0x000F), type.ToItem());
    }

    /// <summary>
    /// Each frame (a label on a slice of the mask) as one bit per pixel, frames back to back, the
    /// first pixel in the lowest bit (PS3.5 §8.1.1).
    /// </summary>
    private static byte[] PackBits(Volume mask, List<(int Value, int Slice)> frames)
    {
        int pixels = mask.SizeX * mask.SizeY;
        var packed = new byte[((long)frames.Count * pixels + 7) / 8];
        long bit = 0;
        foreach (var (value, slice) in frames)
            foreach (float label in mask.Voxels.AsSpan(slice * pixels, pixels))
            {
                if (label == value) packed[bit >> 3] |= (byte)(1 << (int)(bit & 7));
                bit++;
            }
        return packed;
    }
}

/// <summary>sRGB to the scaled CIELab triplet of Recommended Display CIELab Value (PS3.3 C.10.7.1.1: L 0..100, a and b −128..127 to 0..65535).</summary>
public static class CieLab
{
    public static ushort[] FromRgb(byte[] rgb)
    {
        static double Linear(byte c)
        {
            double v = c / 255.0;
            return v <= 0.04045 ? v / 12.92 : Math.Pow((v + 0.055) / 1.055, 2.4);
        }
        double r = Linear(rgb[0]), g = Linear(rgb[1]), b = Linear(rgb[2]);
        // sRGB (D65) to XYZ, normalised by the D65 white point.
        double x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        double y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        double z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        static double F(double t) => t > 216.0 / 24389 ? Math.Cbrt(t) : (24389.0 / 27 * t + 16) / 116;
        double l = 116 * F(y) - 16, aStar = 500 * (F(x) - F(y)), bStar = 200 * (F(y) - F(z));
        static ushort Scale(double v, double min, double max) => (ushort)Math.Round(Math.Clamp((v - min) / (max - min), 0, 1) * 65535);
        return [Scale(l, 0, 100), Scale(aStar, -128, 127), Scale(bStar, -128, 127)];
    }
}
