using System.IO.Compression;
using System.Text.Json;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Preprocessing;
using GuidedNet.Network;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace GuidedNet.Models;

/// <summary>A network ready for prediction together with the metadata that says how to feed it.</summary>
public sealed class LoadedModel : IDisposable
{
    public LoadedModel(UNet3D network, ModelMetadata metadata) : this(new[] { network }, metadata)
    {
    }

    /// <param name="networks">one network, or both of a pair whose probabilities are averaged (the ensemble)</param>
    public LoadedModel(IReadOnlyList<UNet3D> networks, ModelMetadata metadata)
    {
        if (networks.Count == 0) throw new ArgumentException("a model has at least one network");
        Networks = networks;
        Metadata = metadata;
    }

    /// <summary>The network predict uses alone: the one validation preferred (network 1 in files without a choice).</summary>
    public UNet3D Network => Networks[0];

    /// <summary>What predictions average: <see cref="Network"/> alone, or both networks of a pair.</summary>
    public IReadOnlyList<UNet3D> Networks { get; }

    public ModelMetadata Metadata { get; }

    /// <summary>The preprocessing the metadata describes.</summary>
    public PreprocessingPlan Plan()
    {
        var baseline = PreprocessingPlan.FromName(Metadata.Preset);
        return baseline with
        {
            NumClasses = Metadata.NumClasses,
            TargetSpacing = Metadata.TargetSpacing is { Length: 3 } s ? new Vector3d(s[0], s[1], s[2]) : baseline.TargetSpacing,
            Normalization = Metadata.Normalization is { Length: 4 } n
                ? new IntensityNormalization(n[0], n[1], n[2], n[3])
                : baseline.Normalization,
            PerCaseNormalization = PerCaseNormalization.FromScheme(Metadata.NormalizationScheme),
        };
    }

    public void Dispose()
    {
        foreach (var network in Networks) network.Dispose();
    }
}

/// <summary>
/// Reads and writes models. Two formats are accepted:
/// <list type="bullet">
/// <item>a PyTorch <c>torch.save</c> state dict of the authors' network (what their code saves);
/// the class count is read from <c>final.weight</c> and the width from <c>conv1.conv1.0.weight</c>;</item>
/// <item>our model file: a zip with <c>model.json</c> (<see cref="ModelMetadata"/>) and
/// <c>network1.safetensors</c> (and <c>network2.safetensors</c> for a GuidedNet pair).</item>
/// </list>
/// A model file may come from anyone: sizes, metadata, and every tensor's name and shape are
/// checked before a network is built or a tensor allocated, and every failure is an
/// <see cref="InvalidDataException"/> naming the file and the problem in one line.
/// </summary>
public static class ModelFile
{
    private const string MetadataEntry = "model.json";

    /// <summary>Largest model file: 1 GiB (a width-64 network, four times the paper's, is ~0.4 GB).</summary>
    public const long MaxFileBytes = 1L << 30;

    private const int MaxMetadataBytes = 64 * 1024;

    /// <summary>What a safetensors entry may hold beyond the tensors' own bytes: its JSON header.</summary>
    private const long MaxSafetensorsHeaderBytes = 1 << 20;

    /// <param name="guidedNetFormatOnly">refuse PyTorch state dicts (the worker serves only the pipeline's own model files)</param>
    /// <param name="ensemble">load both networks of a pair, whose probabilities predictions then average</param>
    public static LoadedModel Load(string path, Device device, string? presetOverride = null, bool guidedNetFormatOnly = false, bool ensemble = false)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model file not found: {path}", path);
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes) throw new InvalidDataException($"{path}: {length} bytes, over the limit of {MaxFileBytes} for a model file");
        ModelMetadata metadata;
        UNet3D[] networks;
        try
        {
            using var file = File.OpenRead(path);
            if (IsGuidedNetModel(file))
                (metadata, networks) = LoadGuidedNetModel(file, path, ensemble);
            else if (guidedNetFormatOnly)
                throw new InvalidDataException($"{path}: not a GuidedNet model file ({MetadataEntry} + network1.safetensors); this service loads no other format");
            else if (ensemble)
                throw new InvalidDataException($"{path}: a PyTorch state dict holds one network; an ensemble needs a GuidedNet model file with two");
            else
            {
                (metadata, var network) = LoadPyTorchStateDict(file, path);
                networks = new[] { network };
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException && !(e is InvalidDataException && e.Message.StartsWith(path, StringComparison.Ordinal)))
        {
            // The zip reader, the unpickler and TorchSharp each have their own exceptions for a malformed file
            // (the zip reader's InvalidDataException does not name it); ours already do.
            throw new InvalidDataException($"{path}: not a readable model file (neither a PyTorch state dict nor a GuidedNet model): {e.GetType().Name}: {e.Message}", e);
        }
        if (presetOverride is not null) metadata = metadata with { Preset = presetOverride };
        foreach (var network in networks)
        {
            network.to(device);
            network.eval();
        }
        return new LoadedModel(networks, metadata);
    }

    private static bool IsGuidedNetModel(Stream file)
    {
        try
        {
            using var zip = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true);
            return zip.GetEntry(MetadataEntry) is not null;
        }
        catch (InvalidDataException)
        {
            return false; // not a zip: a legacy pickle or garbage, which the state-dict reader reports
        }
        finally
        {
            file.Position = 0;
        }
    }

    /// <summary>The validated metadata of a GuidedNet model file, without loading a network.</summary>
    public static ModelMetadata ReadMetadata(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model file not found: {path}", path);
        try
        {
            using var file = File.OpenRead(path);
            using var zip = new ZipArchive(file, ZipArchiveMode.Read);
            return ReadMetadata(zip, path);
        }
        catch (Exception e) when (e is not OutOfMemoryException && !(e is InvalidDataException && e.Message.StartsWith(path, StringComparison.Ordinal)))
        {
            throw new InvalidDataException($"{path}: not a readable GuidedNet model file: {e.GetType().Name}: {e.Message}", e);
        }
    }

    private static ModelMetadata ReadMetadata(ZipArchive zip, string path)
    {
        var entry = zip.GetEntry(MetadataEntry) ?? throw new InvalidDataException($"{path}: no {MetadataEntry}: not a GuidedNet model file");
        var metadata = JsonSerializer.Deserialize<ModelMetadata>(ReadBounded(entry, MaxMetadataBytes, path), ModelMetadata.Json)
                       ?? throw new InvalidDataException($"{path}: empty {MetadataEntry}");
        metadata.Validate(path);
        return metadata;
    }

    /// <summary>The preferred network, or both (preferred first) for an ensemble.</summary>
    private static (ModelMetadata, UNet3D[]) LoadGuidedNetModel(Stream file, string path, bool ensemble)
    {
        using var zip = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true);
        var metadata = ReadMetadata(zip, path);
        if (ensemble && metadata.Networks != 2)
            throw new InvalidDataException($"{path}: holds {metadata.Networks} network; an ensemble needs the two networks of a GuidedNet or CPS model");
        int preferred = metadata.PreferredNetwork;
        var order = ensemble ? new[] { preferred, 3 - preferred } : new[] { preferred };
        var networks = new List<UNet3D>();
        try
        {
            foreach (int index in order)
            {
                var network = new UNet3D(metadata.NumClasses, metadata.BaseChannels);
                networks.Add(network);
                string name = $"network{index}.safetensors";
                var weights = zip.GetEntry(name) ?? throw new InvalidDataException($"{path}: no {name} entry");
                long expected = network.state_dict().Values.Sum(t => t.numel() * t.ElementSize);
                using var buffer = new MemoryStream(ReadBounded(weights, expected + MaxSafetensorsHeaderBytes, path));
                network.load_safetensors(buffer, strict: true);
            }
            return (metadata, networks.ToArray());
        }
        catch
        {
            foreach (var network in networks) network.Dispose();
            throw;
        }
    }

    /// <summary>An entry's bytes, refused once more than <paramref name="limit"/> come out (whatever the zip directory claims).</summary>
    private static byte[] ReadBounded(ZipArchiveEntry entry, long limit, string path)
    {
        if (entry.Length > limit) throw new InvalidDataException($"{path}: {entry.FullName} holds {entry.Length} bytes, over the {limit} it may hold");
        using var source = entry.Open();
        using var copy = new MemoryStream();
        var chunk = new byte[1 << 16];
        int n;
        while ((n = source.Read(chunk)) > 0)
        {
            if (copy.Length + n > limit) throw new InvalidDataException($"{path}: {entry.FullName} inflates beyond the {limit} bytes it may hold");
            copy.Write(chunk, 0, n);
        }
        return copy.ToArray();
    }

    /// <summary>
    /// The authors' state dict. The pickle is read twice: first without tensor data (names,
    /// dtypes and shapes only), which must be exactly those of a GuidedNet U-Net within the
    /// training limits; only then are the tensors read.
    /// </summary>
    private static (ModelMetadata, UNet3D) LoadPyTorchStateDict(Stream file, string path)
    {
        var declared = new Dictionary<string, long[]>();
        foreach (System.Collections.DictionaryEntry kv in PyTorchUnpickler.UnpickleStateDict(file, leaveOpen: true, skipTensorRead: true))
            declared[(string)kv.Key] = DeclaredShape(kv.Value, (string)kv.Key, path);
        if (!declared.TryGetValue("final.weight", out var final) || !declared.TryGetValue("conv1.conv1.0.weight", out var first) || final.Length < 2 || first.Length < 2)
            throw new InvalidDataException($"{path}: a PyTorch state dict, but not of the GuidedNet 3D U-Net (no final.weight / conv1.conv1.0.weight)");
        var metadata = new ModelMetadata { NumClasses = (int)Math.Min(final[0], int.MaxValue), BaseChannels = (int)Math.Min(first[0], int.MaxValue), Preset = "none" };
        metadata.Validate(path);
        if (first[1] is < 1 or > 8) throw new InvalidDataException($"{path}: conv1.conv1.0.weight declares {first[1]} input channels; a scan model has 1 to 8");
        var network = new UNet3D(metadata.NumClasses, metadata.BaseChannels, (int)first[1]);
        try
        {
            var expected = network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
            var missing = expected.Keys.Except(declared.Keys).ToList();
            var unexpected = declared.Keys.Except(expected.Keys).ToList();
            var misshapen = expected.Keys.Intersect(declared.Keys).Where(k => !expected[k].SequenceEqual(declared[k])).ToList();
            if (missing.Count + unexpected.Count + misshapen.Count > 0)
                throw new InvalidDataException($"{path}: state dict does not match the GuidedNet 3D U-Net " +
                                               $"(missing: {Listed(missing)}; unexpected: {Listed(unexpected)}; other shape: {Listed(misshapen)})");
            file.Position = 0;
            var tensors = new Dictionary<string, Tensor>();
            try
            {
                foreach (System.Collections.DictionaryEntry kv in PyTorchUnpickler.UnpickleStateDict(file, leaveOpen: true))
                    if (kv.Value is Tensor t) tensors[(string)kv.Key] = t;
                network.load_state_dict(tensors, strict: true);
            }
            finally
            {
                foreach (var t in tensors.Values) t.Dispose();
            }
            return (metadata, network);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The shape PyBridge's descriptor declares for a tensor it has not read (its public reader
    /// returns an internal type; its <c>Shape</c> is what <c>ReadTensorFromStream</c> would allocate).
    /// </summary>
    private static long[] DeclaredShape(object? descriptor, string key, string path) =>
        descriptor?.GetType().GetProperty("Shape")?.GetValue(descriptor) as long[]
        ?? throw new InvalidDataException($"{path}: entry '{Shown(key)}' is not a tensor");

    private static string Listed(IReadOnlyCollection<string> names) =>
        names.Count == 0 ? "none" : string.Join(", ", names.Take(5).Select(Shown)) + (names.Count > 5 ? $" and {names.Count - 5} more" : "");

    private static string Shown(string name) => name.Length <= 80 ? name : name[..80] + "…";

    /// <summary>
    /// Writes <paramref name="destination"/> (atomically; it may be <paramref name="source"/>) as a copy
    /// of the GuidedNet model file <paramref name="source"/> with its metadata changed; the networks'
    /// bytes are copied as they are.
    /// </summary>
    public static ModelMetadata Rewrite(string source, string destination, Func<ModelMetadata, ModelMetadata> change)
    {
        var metadata = change(ReadMetadata(source));
        metadata.Validate(destination);
        using var input = File.OpenRead(source);
        using var from = new ZipArchive(input, ZipArchiveMode.Read);
        AtomicFile.Write(destination, file =>
        {
            using var zip = new ZipArchive(file, ZipArchiveMode.Create);
            using (var s = zip.CreateEntry(MetadataEntry).Open())
                JsonSerializer.Serialize(s, metadata, ModelMetadata.Json);
            foreach (var entry in from.Entries.Where(e => e.FullName != MetadataEntry))
            {
                using var read = entry.Open();
                using var write = zip.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
                read.CopyTo(write);
            }
        });
        return metadata;
    }

    /// <summary>Writes a model file atomically (temporary name, then rename).</summary>
    public static void Save(string path, ModelMetadata metadata, params UNet3D[] networks)
    {
        if (networks.Length == 0) throw new ArgumentException("a model file holds at least one network");
        AtomicFile.Write(path, file =>
        {
            using var zip = new ZipArchive(file, ZipArchiveMode.Create);
            var meta = metadata with { Networks = networks.Length };
            using (var s = zip.CreateEntry(MetadataEntry).Open())
                JsonSerializer.Serialize(s, meta, ModelMetadata.Json);
            for (int i = 0; i < networks.Length; i++)
            {
                using var buffer = new MemoryStream();
                networks[i].save_safetensors(buffer, leaveOpen: true);
                using var s = zip.CreateEntry($"network{i + 1}.safetensors", CompressionLevel.NoCompression).Open();
                buffer.Position = 0;
                buffer.CopyTo(s);
            }
        });
    }
}
