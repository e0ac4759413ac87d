using GuidedNet.Imaging;
using System.IO.Compression;
using System.Text.Json;
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
    public LoadedModel(UNet3D network, ModelMetadata metadata)
    {
        Network = network;
        Metadata = metadata;
    }

    public UNet3D Network { get; }
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
        };
    }

    public void Dispose() => Network.Dispose();
}

/// <summary>
/// Reads and writes models. Two formats are accepted:
/// <list type="bullet">
/// <item>a PyTorch <c>torch.save</c> state dict of the authors' network (what their code saves);
/// the class count is read from <c>final.weight</c> and the width from <c>conv1.conv1.0.weight</c>;</item>
/// <item>our model file: a zip with <c>model.json</c> (<see cref="ModelMetadata"/>) and
/// <c>network1.safetensors</c> (and <c>network2.safetensors</c> for a GuidedNet pair).</item>
/// </list>
/// </summary>
public static class ModelFile
{
    private const string MetadataEntry = "model.json";

    public static LoadedModel Load(string path, Device device, string? presetOverride = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model file not found: {path}", path);
        ModelMetadata metadata;
        UNet3D network;
        try
        {
            using var zip = ZipFile.OpenRead(path);
            if (zip.GetEntry(MetadataEntry) is { } entry)
            {
                using (var s = entry.Open())
                    metadata = JsonSerializer.Deserialize<ModelMetadata>(s, ModelMetadata.Json)
                               ?? throw new InvalidDataException($"{path}: empty {MetadataEntry}");
                network = new UNet3D(metadata.NumClasses, metadata.BaseChannels);
                var weights = zip.GetEntry("network1.safetensors")
                              ?? throw new InvalidDataException($"{path}: no network1.safetensors entry");
                using var buffer = new MemoryStream();
                using (var ws = weights.Open()) ws.CopyTo(buffer);
                buffer.Position = 0;
                network.load_safetensors(buffer, strict: true);
            }
            else
            {
                (metadata, network) = LoadPyTorchStateDict(path);
            }
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: not a model file (neither a PyTorch state dict nor a GuidedNet model): {e.Message}", e);
        }
        if (presetOverride is not null) metadata = metadata with { Preset = presetOverride };
        network.to(device);
        network.eval();
        return new LoadedModel(network, metadata);
    }

    private static (ModelMetadata, UNet3D) LoadPyTorchStateDict(string path)
    {
        var tensors = new Dictionary<string, Tensor>();
        using (var stream = File.OpenRead(path))
        {
            foreach (System.Collections.DictionaryEntry kv in PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false))
                if (kv.Value is Tensor t) tensors[(string)kv.Key] = t;
        }
        try
        {
            if (!tensors.TryGetValue("final.weight", out var final) || !tensors.TryGetValue("conv1.conv1.0.weight", out var first))
                throw new InvalidDataException($"{path}: a PyTorch state dict, but not of the GuidedNet 3D U-Net (no final.weight / conv1.conv1.0.weight)");
            var metadata = new ModelMetadata { NumClasses = (int)final.shape[0], BaseChannels = (int)first.shape[0], Preset = "none" };
            var network = new UNet3D(metadata.NumClasses, metadata.BaseChannels, (int)first.shape[1]);
            var (missing, unexpected) = network.load_state_dict(tensors, strict: false);
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new InvalidDataException($"{path}: state dict does not match the GuidedNet 3D U-Net " +
                                               $"(missing: {string.Join(", ", missing)}; unexpected: {string.Join(", ", unexpected)})");
            return (metadata, network);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
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
