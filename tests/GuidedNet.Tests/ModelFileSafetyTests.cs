using System.IO.Compression;
using System.Text;
using System.Text.Json;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Models;
using GuidedNet.Network;
using GuidedNet.TestSupport;
using TorchSharp;
using TorchSharp.PyBridge;

namespace GuidedNet.Tests;

/// <summary>
/// A model file may come from anyone: what it declares (tensor shapes, metadata, entry sizes) is
/// checked before anything is allocated for it, and every malformed file is one line naming it.
/// </summary>
public sealed class ModelFileSafetyTests
{
    private static readonly torch.Device Cpu = torch.CPU;

    /// <summary>The authors' state dict with its pickle changed by <paramref name="patch"/> (a copy in a temporary folder).</summary>
    private static string PatchedStateDict(TempFolder tmp, Func<byte[], byte[]> patch)
    {
        string path = tmp.File(Guid.NewGuid().ToString("N") + ".pth");
        using var source = ZipFile.OpenRead(Reference.File("unet_gmm_k14.pth"));
        using var target = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var entry in source.Entries)
        {
            using var input = entry.Open();
            using var bytes = new MemoryStream();
            input.CopyTo(bytes);
            byte[] content = entry.FullName.EndsWith("data.pkl") ? patch(bytes.ToArray()) : bytes.ToArray();
            using var output = target.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
            output.Write(content);
        }
        return path;
    }

    private static byte[] Replace(byte[] data, byte[] after, byte[] old, byte[] replacement)
    {
        int start = data.AsSpan().IndexOf(after);
        Assert.True(start >= 0);
        int at = start + data.AsSpan(start).IndexOf(old);
        return [.. data[..at], .. replacement, .. data[(at + old.Length)..]];
    }

    private static long PeakRssBytes() =>
        GpuJob.Commands.BenchCommand.PeakRssBytes();

    [Fact]
    public void A_state_dict_declaring_a_2_GiB_tensor_is_refused_by_its_shape_before_any_tensor_is_read()
    {
        using var tmp = new TempFolder();
        // conv1.conv1.0.bias: shape (16,) becomes (536870912,), 2 GiB of float32 behind a 64-byte storage.
        string bomb = PatchedStateDict(tmp, pickle => Replace(pickle, "conv1.conv1.0.bias"u8.ToArray(), [(byte)'K', 0x10, 0x85], [(byte)'J', 0, 0, 0, 0x20, 0x85]));
        Assert.InRange(new FileInfo(bomb).Length, 1_000_000, 30_000_000);
        File.WriteAllText("/proc/self/clear_refs", "5"); // resets this process's peak RSS
        long before = PeakRssBytes();
        var e = Assert.Throws<InvalidDataException>(() => ModelFile.Load(bomb, Cpu));
        Assert.StartsWith(bomb, e.Message);
        Assert.Contains("other shape: conv1.conv1.0.bias", e.Message);
        Assert.True(PeakRssBytes() - before < 300L << 20, $"peak RSS grew by {(PeakRssBytes() - before) >> 20} MB while refusing");

        // A width no trained model has is refused before a network is built for it.
        string wide = PatchedStateDict(tmp, pickle => Replace(pickle, "conv1.conv1.0.weight"u8.ToArray(), [(byte)'K', 0x10, (byte)'K', 0x01], [(byte)'J', 0x40, 0x42, 0x0F, 0x00, (byte)'K', 0x01]));
        Assert.Contains("baseChannels must be within [1, 64]", Assert.Throws<InvalidDataException>(() => ModelFile.Load(wide, Cpu)).Message);
    }

    [Fact]
    public void Malformed_files_are_one_line_naming_the_file_in_the_api_and_the_command_line()
    {
        using var tmp = new TempFolder();
        string garbage = tmp.File("garbage.pth");
        File.WriteAllText(garbage, "not a model at all");
        string badPickle = PatchedStateDict(tmp, pickle => [.. pickle[..40], .. "\u00ff\u00fe garbage"u8.ToArray()]);
        // A pickle that would run a shell command under Python's pickle: here it is only data.
        string marker = tmp.File("pwned");
        string runsCode = tmp.File("runs-code.pth");
        using (var zip = ZipFile.Open(runsCode, ZipArchiveMode.Create))
        using (var s = zip.CreateEntry("archive/data.pkl").Open())
            s.Write(Encoding.ASCII.GetBytes($"cos\nsystem\n(S'touch {marker}'\ntR."));
        foreach (string file in new[] { garbage, badPickle, runsCode })
        {
            var e = Assert.Throws<InvalidDataException>(() => ModelFile.Load(file, Cpu));
            Assert.StartsWith(file + ": not a readable model file", e.Message);
            var output = new StringWriter();
            var error = new StringWriter();
            int code = GuidedNetCli.Run(["predict", "--model", file, "--input", Reference.File("unet_gmm_k14.pth"), "--output", tmp.File("out"), "--device", "cpu", ReproducibleCpuKernels.Flag], output, error);
            Assert.Equal(1, code);
            var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal($"error: {e.Message}", Assert.Single(lines));
        }
        Assert.False(File.Exists(marker));
    }

    /// <summary>A GuidedNet model zip with the given model.json and network1.safetensors bytes.</summary>
    private static string ModelZip(TempFolder tmp, string name, object metadata, byte[] weights)
    {
        string path = tmp.File(name);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        using (var s = zip.CreateEntry("model.json").Open()) JsonSerializer.Serialize(s, metadata);
        using (var s = zip.CreateEntry("network1.safetensors").Open()) s.Write(weights);
        return path;
    }

    [Fact]
    public void Model_metadata_and_entry_sizes_are_checked_before_a_network_is_built_or_weights_copied()
    {
        using var tmp = new TempFolder();
        using var small = new UNet3D(3, 4);
        using var weights = new MemoryStream();
        small.save_safetensors(weights, leaveOpen: true);
        var good = new { formatVersion = 1, numClasses = 3, baseChannels = 4, preset = "none", patch = new[] { 16, 32, 32 }, networks = 1 };
        using (var loaded = ModelFile.Load(ModelZip(tmp, "good.guidednet", good, weights.ToArray()), Cpu))
            Assert.Equal((3, 4), (loaded.Metadata.NumClasses, loaded.Metadata.BaseChannels));

        foreach (var (metadata, field) in new (object, string)[]
        {
            (good with { baseChannels = 1000000 }, "baseChannels"),
            (good with { numClasses = 100000 }, "numClasses"),
            (good with { patch = new[] { 4096, 4096, 4096 } }, "patch"),
            (good with { preset = "x" }, "preset"),
            (new { good.formatVersion, good.numClasses, good.baseChannels, good.preset, good.patch, good.networks, targetSpacing = new[] { 400.0, 400, 400 } }, "targetSpacing"),
            (new { good.formatVersion, good.numClasses, good.baseChannels, good.preset, good.patch, good.networks, normalization = new[] { 1.0, 0, 0, 1 } }, "normalization"),
            (new { good.formatVersion, good.numClasses, good.baseChannels, good.preset, good.patch, good.networks, fastParts = "bf16+turbo" }, "fastParts"),
            // "fast" means "the model's parts": a model cannot say it of itself.
            (new { good.formatVersion, good.numClasses, good.baseChannels, good.preset, good.patch, good.networks, fastParts = "fast" }, "fastParts"),
        })
        {
            string file = ModelZip(tmp, $"{field}-{Guid.NewGuid():N}.guidednet", metadata, weights.ToArray());
            var e = Assert.Throws<InvalidDataException>(() => ModelFile.Load(file, Cpu));
            Assert.Contains($"{field} must", e.Message);
        }

        // Rewriting the metadata keeps the weights byte for byte.
        string calibrated = Path.Combine(tmp.Path, "calibrated.guidednet");
        string source = ModelZip(tmp, "source.guidednet", good, weights.ToArray());
        ModelFile.Rewrite(source, calibrated, m => m with { FastParts = "bf16+body+overlap" });
        Assert.Equal("bf16+body+overlap", ModelFile.ReadMetadata(calibrated).FastParts);
        Assert.Null(ModelFile.ReadMetadata(source).FastParts);
        using (var a = ZipFile.OpenRead(source))
        using (var b = ZipFile.OpenRead(calibrated))
        using (var x = new MemoryStream())
        using (var y = new MemoryStream())
        {
            a.GetEntry("network1.safetensors")!.Open().CopyTo(x);
            b.GetEntry("network1.safetensors")!.Open().CopyTo(y);
            Assert.Equal(x.ToArray(), y.ToArray());
        }
        Assert.Throws<InvalidDataException>(() => ModelFile.Rewrite(source, calibrated, m => m with { FastParts = "turbo" }));
        Assert.Equal("bf16+body+overlap", ModelFile.ReadMetadata(calibrated).FastParts); // a refused rewrite leaves the file

        // Corrupt compressed weights: the zip reader's own InvalidDataException names no file; the error still does.
        string corrupt = ModelZip(tmp, "corrupt.guidednet", good, weights.ToArray());
        byte[] bytes = File.ReadAllBytes(corrupt);
        int data = bytes.AsSpan().IndexOf("network1.safetensors"u8) + "network1.safetensors"u8.Length;
        for (int i = data + 40; i < data + 400; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(corrupt, bytes);
        var broken = Assert.Throws<InvalidDataException>(() => ModelFile.Load(corrupt, Cpu));
        Assert.StartsWith(corrupt + ": not a readable model file", broken.Message);

        // Weights far larger than the declared network can hold: refused by size, not copied into memory.
        var oversized = Assert.Throws<InvalidDataException>(() => ModelFile.Load(ModelZip(tmp, "oversized.guidednet", good, new byte[8 << 20]), Cpu));
        Assert.Contains("network1.safetensors holds 8388608 bytes, over", oversized.Message);

        // The worker serves only the pipeline's own format.
        var pth = Assert.Throws<InvalidDataException>(() => ModelFile.Load(Reference.File("unet_gmm_k14.pth"), Cpu, guidedNetFormatOnly: true));
        Assert.Contains("not a GuidedNet model file", pth.Message);
    }
}
