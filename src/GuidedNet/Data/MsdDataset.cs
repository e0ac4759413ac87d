using System.Text.Json;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.Data;

/// <summary>One case of a dataset: its image and, when it has one, its label map.</summary>
public sealed record DatasetCase(string Name, string ImagePath, string? LabelPath);

/// <summary>
/// A dataset in the Medical Segmentation Decathlon / nnU-Net layout: <c>dataset.json</c>,
/// <c>imagesTr/&lt;case&gt;_0000.nii.gz</c> (or <c>&lt;case&gt;.zip</c>, a zipped DICOM series),
/// <c>labelsTr/&lt;case&gt;.nii.gz</c>, <c>imagesTs/</c>. Training images without a label form the unlabeled pool.
/// </summary>
public sealed class MsdDataset
{
    private MsdDataset(string folder, IReadOnlyList<DatasetCase> training, IReadOnlyList<DatasetCase> test, IReadOnlyDictionary<int, string> labels,
        string? modality)
    {
        Folder = folder;
        Training = training;
        Test = test;
        LabelNames = labels;
        Modality = modality;
    }

    public string Folder { get; }
    public IReadOnlyList<DatasetCase> Training { get; }
    public IReadOnlyList<DatasetCase> Test { get; }

    /// <summary>Class names by label value, from dataset.json (empty if it names none).</summary>
    public IReadOnlyDictionary<int, string> LabelNames { get; }

    /// <summary>
    /// The image channel's modality from dataset.json (nnU-Net v2 <c>channel_names</c> or MSD
    /// <c>modality</c>, channel 0), e.g. <c>CT</c> or <c>T1</c>; null when it names none.
    /// </summary>
    public string? Modality { get; }

    public IEnumerable<DatasetCase> Labeled => Training.Where(c => c.LabelPath is not null);
    public IEnumerable<DatasetCase> Unlabeled => Training.Where(c => c.LabelPath is null);

    public static MsdDataset Open(string folder)
    {
        string imagesTr = Path.Combine(folder, "imagesTr");
        if (!Directory.Exists(imagesTr)) throw new DirectoryNotFoundException($"{folder}: no imagesTr folder (expected the MSD / nnU-Net dataset layout)");
        var training = Cases(imagesTr, Path.Combine(folder, "labelsTr"));
        if (training.Count == 0) throw new InvalidDataException($"{imagesTr}: no images (<case>_0000.nii.gz, or <case>.zip holding a DICOM series)");
        var test = Directory.Exists(Path.Combine(folder, "imagesTs")) ? Cases(Path.Combine(folder, "imagesTs"), Path.Combine(folder, "labelsTs")) : new List<DatasetCase>();
        string json = Path.Combine(folder, "dataset.json");
        var labels = File.Exists(json) ? ReadLabels(json) : new Dictionary<int, string>();
        string? modality = File.Exists(json) ? ReadModality(json) : null;
        var orphans = Directory.Exists(Path.Combine(folder, "labelsTr"))
            ? Directory.EnumerateFiles(Path.Combine(folder, "labelsTr"), "*.nii*").Select(CaseName).Except(training.Select(c => c.Name)).ToList()
            : new List<string>();
        if (orphans.Count > 0) throw new InvalidDataException($"{folder}/labelsTr: labels without an image: {string.Join(", ", orphans)}");
        return new MsdDataset(folder, training, test, labels, modality);
    }

    private static List<DatasetCase> Cases(string images, string labels) =>
        Directory.EnumerateFiles(images)
            .Where(ScanFileNames.IsScan)
            .OrderBy(f => f, StringComparer.Ordinal)
            .Select(f =>
            {
                string name = CaseName(f);
                string? label = new[] { ".nii.gz", ".nii" }.Select(e => Path.Combine(labels, name + e)).FirstOrDefault(File.Exists);
                return new DatasetCase(name, f, label);
            })
            .ToList();

    /// <summary><c>case_0000.nii.gz</c> → <c>case</c>: the channel suffix is dropped as nnU-Net does.</summary>
    public static string CaseName(string path) => ScanFileNames.CaseName(path);

    /// <summary>Class names from MSD (<c>{"0": "background"}</c>) or nnU-Net v2 (<c>{"background": 0}</c>) labels.</summary>
    public static Dictionary<int, string> ReadLabels(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var names = new Dictionary<int, string>();
        if (!doc.RootElement.TryGetProperty("labels", out var labels) || labels.ValueKind != JsonValueKind.Object) return names;
        foreach (var p in labels.EnumerateObject())
        {
            if (int.TryParse(p.Name, out int key) && p.Value.ValueKind == JsonValueKind.String) names[key] = p.Value.GetString()!;
            else if (p.Value.ValueKind == JsonValueKind.Number) names[p.Value.GetInt32()] = p.Name;
            else throw new InvalidDataException($"{path}: label entry '{p.Name}' is neither \"N\": \"name\" nor \"name\": N");
        }
        return names;
    }

    /// <summary>Channel 0's modality: <c>"channel_names": {"0": "CT"}</c> (nnU-Net v2) or <c>"modality": {"0": "MRI"}</c> (MSD).</summary>
    public static string? ReadModality(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        foreach (string key in new[] { "channel_names", "modality" })
            if (doc.RootElement.TryGetProperty(key, out var channels) && channels.ValueKind == JsonValueKind.Object)
            {
                if (!channels.TryGetProperty("0", out var first) || first.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}: \"{key}\" must name channel \"0\" (e.g. {{\"0\": \"CT\"}})");
                return first.GetString();
            }
        return null;
    }

    /// <summary>Reads and checks a case's image and label (same grid, labels within the class count).</summary>
    public static (Imaging.Volume Image, Imaging.Volume? Label) Load(DatasetCase c, int numClasses)
    {
        var image = ScanReader.Read(c.ImagePath);
        if (c.LabelPath is null) return (image, null);
        var label = NiftiReader.Read(c.LabelPath);
        if (!image.SameGrid(label))
            throw new InvalidDataException($"{c.LabelPath}: {label.SizeX}x{label.SizeY}x{label.SizeZ} voxels, but its image {c.ImagePath} has {image.SizeX}x{image.SizeY}x{image.SizeZ}");
        float max = label.Voxels.Max();
        if (max >= numClasses || label.Voxels.Any(v => v < 0 || v != MathF.Floor(v)))
            throw new InvalidDataException($"{c.LabelPath}: label values must be integers in 0..{numClasses - 1}, found {max}");
        return (image, label);
    }
}
