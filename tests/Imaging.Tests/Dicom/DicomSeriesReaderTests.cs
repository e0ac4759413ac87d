using System.IO.Compression;
using GuidedNet.Imaging.Dicom;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.TestSupport;
using GuidedNet.TestSupport.Dicom;

namespace GuidedNet.Imaging.Tests.Dicom;

/// <summary>
/// DICOM series written by pydicom from real anatomy (<c>write_series.py</c>: Colin27 as CT-like
/// values) are read as dcm2niix — the field's converter — reads them: the same voxels and the same
/// world geometry once both are brought to RAS axes. Each malformation the reader must refuse is
/// written by the same script and refused with a message naming the file and the problem.
/// </summary>
public sealed class DicomSeriesReaderTests
{
    private const string PydicomFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

    private static string WriteSeries(TempFolder tmp, string name, params string[] options)
    {
        string folder = tmp.File(name);
        DicomSeriesScript.Write(folder, options);
        return folder;
    }

    private static Volume Dcm2niix(TempFolder tmp, string input, string seriesNumber = "2") =>
        NiftiReader.Read(DicomSeriesScript.Dcm2niix(input, tmp.File("dcm2niix-" + Guid.NewGuid().ToString("N")), seriesNumber));

    private static Volume Canonical(Volume v) => AxisReorientation.ToCanonical(v.Affine).Apply(v);

    private static void AssertSameScan(Volume expected, Volume actual)
    {
        var (e, a) = (Canonical(expected), Canonical(actual));
        Assert.Equal((e.SizeX, e.SizeY, e.SizeZ), (a.SizeX, a.SizeY, a.SizeZ));
        Assert.True(e.Affine.ApproximatelyEquals(a.Affine, 1e-3), $"affines differ:\n{Describe(e.Affine)}\n{Describe(a.Affine)}");
        long different = e.Voxels.Zip(a.Voxels).LongCount(p => Math.Abs(p.First - p.Second) > 1e-3f * Math.Max(1, Math.Abs(p.First)));
        Assert.Equal(0, different);
    }

    private static string Describe(Affine m) =>
        string.Join("\n", Enumerable.Range(0, 3).Select(r => string.Join(" ", Enumerable.Range(0, 4).Select(c => m[r, c].ToString("F4")))));

    [Theory]
    [InlineData("implicit")]
    [InlineData("explicit")]
    [InlineData("big")]
    public void An_axial_series_reads_as_dcm2niix_reads_it_in_each_uncompressed_transfer_syntax(string syntax)
    {
        using var tmp = new TempFolder();
        string folder = WriteSeries(tmp, "axial", "--syntax", syntax);
        var series = DicomSeriesReader.Read(folder);
        AssertSameScan(Dcm2niix(tmp, folder), series.Volume);

        // And by hand: columns along patient x (RAS -x) at 0.7 mm, rows along y (RAS -y) at 0.8 mm, slices 2.5 mm up.
        var v = series.Volume;
        Assert.Equal((64, 72, 24), (v.SizeX, v.SizeY, v.SizeZ));
        var expected = new Affine(new double[,] { { -0.7, 0, 0, 30.5 }, { 0, -0.8, 0, 60.25 }, { 0, 0, 2.5, 12 }, { 0, 0, 0, 1 } });
        Assert.True(v.Affine.ApproximatelyEquals(expected, 1e-6), Describe(v.Affine));
        Assert.Equal("CT", series.Info.Modality);
        Assert.Equal(24, series.Info.Slices.Count);
        Assert.Equal("Colin^Twentyseven", series.Info.PatientStudy[DicomTags.PatientName]);
    }

    [Fact]
    public void An_oblique_series_with_shuffled_names_and_reversed_instance_numbers_reads_as_dcm2niix_reads_it()
    {
        using var tmp = new TempFolder();
        string folder = WriteSeries(tmp, "oblique", "--oblique", "--shuffle", "--unsigned", "--slope", "0.5", "--syntax", "implicit");
        var volume = DicomSeriesReader.Read(folder).Volume;
        AssertSameScan(Dcm2niix(tmp, folder), volume);
        // Stored as (HU + 1024) / 0.5 with intercept -1024, the values are the signed axial series' own, slice for slice.
        var axial = DicomSeriesReader.Read(WriteSeries(tmp, "axial")).Volume;
        Assert.Equal(axial.Voxels, volume.Voxels);
    }

    [Fact]
    public void Several_series_in_one_folder_give_the_largest_unless_one_is_named_and_a_zip_reads_as_its_folder()
    {
        using var tmp = new TempFolder();
        string folder = WriteSeries(tmp, "two", "--extra-series", "--shuffle");
        var log = new List<string>();
        var largest = DicomSeriesReader.Read(folder, log: log.Add);
        Assert.Equal(24, largest.Volume.SizeZ);
        Assert.Contains(log, l => l.Contains("the largest") && l.Contains("'localizer'") && l.Contains("'colin axial'"));
        AssertSameScan(Dcm2niix(tmp, folder, "2"), largest.Volume);

        string scoutUid = DicomSeriesReader.Read(Path.Combine(folder, "zz_scout_0.dcm")).Info.SeriesInstanceUid;
        var scout = DicomSeriesReader.Read(folder, scoutUid);
        Assert.Equal((32, 32, 3), (scout.Volume.SizeX, scout.Volume.SizeY, scout.Volume.SizeZ));
        AssertSameScan(Dcm2niix(tmp, folder, "7"), scout.Volume);
        var missing = Assert.Throws<DicomFormatException>(() => DicomSeriesReader.Read(folder, "1.2.3"));
        Assert.Contains("holds no series 1.2.3", missing.Message);

        string zip = tmp.File("series.zip");
        ZipFile.CreateFromDirectory(folder, zip, CompressionLevel.Fastest, includeBaseDirectory: true);
        var fromZip = DicomSeriesReader.Read(zip);
        Assert.Equal(largest.Volume.Voxels, fromZip.Volume.Voxels);
        Assert.True(largest.Volume.Affine.ApproximatelyEquals(fromZip.Volume.Affine, 0));
        Assert.True(DicomSeriesReader.IsDicomInput(zip));
    }

    [Theory]
    [InlineData("--drop-position", "slice_003.dcm: has no Image Position (Patient) (0020,0032)")]
    [InlineData("--gap", "non-uniform slice spacing: 5 mm between")]
    [InlineData("--tilt", "a gantry tilt")]
    [InlineData("--mixed-orientation", "slice_005.dcm: has orientation")]
    [InlineData("--mixed-size", "slice_007.dcm: is 64x70 pixels, but")]
    [InlineData("--truncate", "slice_023.dcm: pixel data end at byte")]
    [InlineData("--compressed", "transfer syntax JPEG Lossless SV1 (1.2.840.10008.1.2.4.70) is compressed")]
    public void A_broken_series_is_refused_naming_the_file_and_the_problem(string breakage, string message)
    {
        using var tmp = new TempFolder();
        string folder = WriteSeries(tmp, "broken", breakage);
        var e = Assert.Throws<DicomFormatException>(() => DicomSeriesReader.Read(folder));
        Assert.True(e.Message.Contains(message) && e.Message.Contains(folder), e.Message);
    }

    [Fact]
    public void A_file_that_is_not_DICOM_and_a_hostile_header_are_refused_with_what_is_wrong()
    {
        using var tmp = new TempFolder();
        string text = tmp.File("notes.txt");
        File.WriteAllText(text, "not an image");
        var e = Assert.Throws<DicomFormatException>(() => DicomSeriesReader.Read(text));
        Assert.Contains("holds no DICOM image", e.Message);
        Assert.Contains("notes.txt (not DICOM)", e.Message);

        // A Part 10 header whose first element claims 4 GB.
        var bytes = new byte[200];
        "DICM"u8.CopyTo(bytes.AsSpan(128));
        byte[] element = [0x02, 0x00, 0x10, 0x00, (byte)'U', (byte)'N', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF];
        element.CopyTo(bytes.AsSpan(132));
        string hostile = tmp.File("hostile.dcm");
        File.WriteAllBytes(hostile, bytes);
        var h = Assert.Throws<DicomFormatException>(() => DicomSeriesReader.Read(hostile));
        Assert.Contains("hostile.dcm: element (0002,0010) at byte 132 claims 4294967280 bytes, past the end of the file", h.Message);

        var limited = Assert.Throws<DicomFormatException>(() =>
            DicomSeriesReader.Read(WriteSeries(tmp, "big", "--syntax", "explicit"), options: new DicomReadOptions { MaxVoxels = 100_000 }));
        Assert.Contains("64x72x24 = 110592 voxels, over the limit MaxVoxels = 100000", limited.Message);
    }

    [Theory]
    [InlineData("CT_small.dcm")]
    [InlineData("MR_small.dcm")]
    [InlineData("MR_small_implicit.dcm")]
    [InlineData("MR_small_bigendian.dcm")]
    public void Pydicoms_own_test_images_read_as_dcm2niix_reads_them(string name)
    {
        using var tmp = new TempFolder();
        string file = Path.Combine(PydicomFiles, name);
        var series = DicomSeriesReader.Read(file);
        var theirs = Dcm2niix(tmp, file);
        Assert.Equal(1, series.Volume.SizeZ);
        AssertSameScan(theirs, series.Volume);
    }

    [Theory]
    [InlineData("JPEG2000.dcm", "transfer syntax JPEG 2000")]
    [InlineData("MR_small_RLE.dcm", "transfer syntax RLE Lossless")]
    [InlineData("MR_truncated.dcm", "truncated")]
    [InlineData("no_meta.dcm", "not DICOM")]
    public void Pydicoms_compressed_truncated_and_headerless_files_are_refused(string name, string message)
    {
        var e = Assert.Throws<DicomFormatException>(() => DicomSeriesReader.Read(Path.Combine(PydicomFiles, name)));
        Assert.True(e.Message.Contains(message) && e.Message.Contains(name), e.Message);
    }
}
