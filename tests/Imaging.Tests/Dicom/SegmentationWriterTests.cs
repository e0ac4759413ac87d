using System.Text.Json;
using GuidedNet.Imaging.Dicom;
using GuidedNet.Imaging.Labels;
using GuidedNet.Imaging.Numpy;
using GuidedNet.TestSupport;
using GuidedNet.TestSupport.Dicom;

namespace GuidedNet.Imaging.Tests.Dicom;

/// <summary>
/// A mask written as DICOM SEG passes dciodvfy (dicom3tools) with no error and reads back with
/// pydicom into the same mask, frame for frame, each frame naming its source slice and position.
/// </summary>
public sealed class SegmentationWriterTests
{
    [Theory]
    [InlineData("explicit", false)]
    [InlineData("implicit", true)]
    public void A_mask_written_as_DICOM_SEG_passes_dciodvfy_and_reads_back_with_pydicom_frame_for_frame(string syntax, bool oblique)
    {
        using var tmp = new TempFolder();
        string folder = tmp.File("series");
        DicomSeriesScript.Write(folder, oblique ? ["--syntax", syntax, "--oblique", "--shuffle"] : ["--syntax", syntax]);
        var series = DicomSeriesReader.Read(folder);
        var scan = series.Volume;
        // Three "organs" by intensity, one of them absent (no segment, no frame).
        var mask = scan.WithVoxels(scan.Voxels.Select(v => v > -340 ? 1f : v is > -600 and < -450 ? 3f : 0f).ToArray());
        var labels = LabelTable.FromNames(LabelTable.PresetNames("flare22", 14)!, 14);

        string seg = tmp.File("scan.seg.dcm");
        Assert.Equal(2, SegmentationWriter.Write(seg, mask, series.Info, labels, "test"));
        var (errors, output) = DicomChecks.Dciodvfy(seg);
        Assert.True(errors.Count == 0, output);

        DicomChecks.ReadSeg(seg, tmp.File("read"));
        using var doc = JsonDocument.Parse(File.ReadAllText(tmp.File("read/seg.json")));
        var root = doc.RootElement;
        Assert.Equal(SegmentationWriter.SopClassUid, root.GetProperty("sopClass").GetString());
        Assert.Equal("SEG", root.GetProperty("modality").GetString());
        Assert.Equal("Colin^Twentyseven", root.GetProperty("patientName").GetString());
        Assert.Equal(series.Info.StudyInstanceUid, root.GetProperty("study").GetString());
        Assert.Equal(series.Info.FrameOfReferenceUid, root.GetProperty("frameOfReference").GetString());
        Assert.Equal(series.Info.SeriesInstanceUid, root.GetProperty("referencedSeries").GetString());
        var segments = root.GetProperty("segments").EnumerateArray().ToList();
        Assert.Equal(new[] { (1, "liver"), (2, "spleen") }, segments.Select(s => (s.GetProperty("number").GetInt32(), s.GetProperty("label").GetString()!)));
        Assert.StartsWith("label value 3 ", segments[1].GetProperty("description").GetString());
        int[] valueOfSegment = [0, 1, 3];
        Assert.Equal("10200004 Liver", segments[0].GetProperty("type").GetString());
        Assert.Equal("Anatomical Structure", segments[0].GetProperty("category").GetString());

        // Frame for frame: each frame is its segment on its source slice, at that slice's position.
        var frames = Npy.Read(tmp.File("read/frames.npy"));
        var pixels = frames.AsInt();
        int rows = scan.SizeY, columns = scan.SizeX, plane = rows * columns;
        var perFrame = root.GetProperty("frames").EnumerateArray().ToList();
        Assert.Equal(new long[] { perFrame.Count, rows, columns }, frames.Shape);
        var slices = series.Info.Slices.Select(s => s.SopInstanceUid).ToList();
        var covered = new HashSet<(int, int)>();
        for (int f = 0; f < perFrame.Count; f++)
        {
            int segment = valueOfSegment[perFrame[f].GetProperty("segment").GetInt32()];
            int k = slices.IndexOf(perFrame[f].GetProperty("source").GetString()!);
            Assert.True(k >= 0);
            covered.Add((segment, k));
            for (int i = 0; i < plane; i++)
                Assert.Equal(mask.Voxels[k * plane + i] == segment ? 1 : 0, pixels[f * plane + i]);
            var position = perFrame[f].GetProperty("position").EnumerateArray().Select(p => p.GetDouble()).ToArray();
            var ras = scan.Affine.Apply(0, 0, k);
            Assert.Equal(-ras.X, position[0], 4);
            Assert.Equal(-ras.Y, position[1], 4);
            Assert.Equal(ras.Z, position[2], 4);
        }
        // Every slice holding a segment has its frame.
        for (int k = 0; k < scan.SizeZ; k++)
            foreach (int segment in new[] { 1, 3 })
                Assert.Equal(mask.Voxels.AsSpan(k * plane, plane).Contains(segment), covered.Contains((segment, k)));
        Assert.Equal(new[] { 0.8, 0.7 }, root.GetProperty("pixelSpacing").EnumerateArray().Select(p => Math.Round(p.GetDouble(), 6)));
    }

    [Fact]
    public void An_empty_mask_writes_no_SEG()
    {
        using var tmp = new TempFolder();
        DicomSeriesScript.Write(tmp.File("series"));
        var series = DicomSeriesReader.Read(tmp.File("series"));
        var empty = series.Volume.WithVoxels(new float[series.Volume.Voxels.Length]);
        Assert.Equal(0, SegmentationWriter.Write(tmp.File("none.seg.dcm"), empty, series.Info, LabelTable.FromNames([], 3), "test"));
        Assert.False(File.Exists(tmp.File("none.seg.dcm")));
    }
}
