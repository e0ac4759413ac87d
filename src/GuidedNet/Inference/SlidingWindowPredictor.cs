using System.Diagnostics;
using GuidedNet.Network;
using GuidedNet.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GuidedNet.Inference;

/// <summary>Labels (and optionally class scores) of one volume, in (z, y, x) C order.</summary>
public sealed class SegmentationResult
{
    public required byte[] Labels { get; init; }

    /// <summary>Averaged softmax [K, D, H, W], only when requested (it is K times the volume).</summary>
    public float[]? Scores { get; init; }

    /// <summary>Windows of the tiling, computed or not.</summary>
    public required int Windows { get; init; }

    /// <summary>Windows of the whole volume's tiling minus those computed for the region given (voxels no window reached are background).</summary>
    public int SkippedWindows { get; init; }
}

/// <summary>
/// Sliding-window prediction (reference README §3). Windows of the patch size step by the
/// stride along each axis, the last one clamped to the volume's end; a volume smaller than the
/// patch along an axis is zero-padded (centred) and the padding cropped afterwards. Softmax
/// outputs are averaged uniformly (the reference) or with Gaussian weights (nnU-Net), optionally
/// over mirrored copies, then argmax'd.
///
/// Stitching is memory-bounded: windows run in z order and the accumulator is a ring of one
/// patch depth ([K, patchD, H, W] rather than [K, D, H, W]); slices that no later window touches
/// are finalised to labels and their ring slots reused.
///
/// Fast mode's exits from exactness are here: given a region (the body), only windows the region
/// needs are computed (<see cref="WindowCoverage"/>; a voxel no window covers is background), and the network may run
/// on bf16 or fp16 copies of its weights (the softmax and everything after it stay fp32).
/// </summary>
public sealed class SlidingWindowPredictor
{
    /// <summary>A window batch allocates little managed memory (its tensors are native); other threads get the rest.</summary>
    private const long WindowBudgetBytes = 64L << 20;

    private readonly IReadOnlyList<UNet3D> _networks;
    private readonly Device _device;
    private readonly SlidingWindowOptions _options;

    public SlidingWindowPredictor(UNet3D network, Device device, SlidingWindowOptions options) : this(new[] { network }, device, options)
    {
    }

    /// <param name="networks">one network, or several whose softmax outputs are averaged per window (an ensemble)</param>
    public SlidingWindowPredictor(IReadOnlyList<UNet3D> networks, Device device, SlidingWindowOptions options)
    {
        options.Validate();
        if (networks.Count == 0) throw new ArgumentException("prediction needs at least one network");
        if (networks.Any(n => n.NumClasses != networks[0].NumClasses)) throw new ArgumentException("the networks of an ensemble must have the same classes");
        _networks = networks;
        _device = device;
        _options = options;
    }

    /// <param name="volume">Voxels in (z, y, x) C order.</param>
    /// <param name="region">When given, the windows cover this box (in the volume's coordinates) rather than the whole volume, as the options' <see cref="WindowCoverage"/> says.</param>
    public SegmentationResult Predict(float[] volume, int depth, int height, int width, bool keepScores = false,
        IProgress<SlidingWindowProgress>? progress = null, CancellationToken cancellation = default, VoxelBox? region = null)
    {
        if (volume.LongLength != (long)depth * height * width)
            throw new ArgumentException($"{volume.LongLength} voxels do not fill {depth}x{height}x{width}");
        var clock = Stopwatch.StartNew();
        int[] size = { depth, height, width };
        int[] patch = _options.Patch;
        int[] stride = _options.EffectiveStride();
        int[] padBefore = new int[3], padded = new int[3];
        for (int a = 0; a < 3; a++)
        {
            int pad = Math.Max(0, patch[a] - size[a]);
            padBefore[a] = pad / 2;
            padded[a] = size[a] + pad;
        }
        int total = Enumerable.Range(0, 3).Select(a => WindowStarts(padded[a], patch[a], stride[a]).Length).Aggregate(1, (n, c) => n * c);
        // With a region, the windows cover the region only (in padded coordinates); voxels outside it
        // that no window reaches are background.
        var starts = Enumerable.Range(0, 3).Select(a => region is not { } r
            ? WindowStarts(padded[a], patch[a], stride[a])
            : _options.Coverage == WindowCoverage.TileBody
                ? RegionStarts(padded[a], patch[a], stride[a], r.Start(a) + padBefore[a], r.End(a) + padBefore[a])
                : TouchingStarts(padded[a], patch[a], stride[a], r.Start(a) + padBefore[a], r.End(a) + padBefore[a])).ToArray();
        int toCompute = starts[0].Length * starts[1].Length * starts[2].Length;
        int numClasses = _networks[0].NumClasses;
        long sliceVoxels = (long)height * width;

        var labels = new byte[volume.LongLength];
        var scores = keepScores ? new float[numClasses * volume.LongLength] : null;
        int done = 0;

        foreach (var network in _networks) network.eval();
        using var lowPrecision = LowPrecisionCopies();
        var networks = lowPrecision?.Networks ?? _networks;
        using (inference_mode())
        using (var scope = NewDisposeScope())
        {
            // [1, 1, Dp, Hp, Wp] on the compute device, zero-padded where the volume is smaller than the patch.
            var input = LoadPadded(volume, size, padded, padBefore);
            using var importance = ImportanceMap(patch); // [pD, pH, pW]
            // Ring accumulators over z: slot (z mod pD) holds global padded slice z.
            using var ring = zeros(new long[] { numClasses, patch[0], padded[1], padded[2] }, device: _device);
            using var ringWeight = zeros(new long[] { patch[0], padded[1], padded[2] }, device: _device);
            // Slices before the first window (a region starting deeper) are background. They must not go
            // through Finalize: their ring slots will hold the first window's slices.
            for (int z = 0; z < starts[0][0]; z++)
            {
                int outZ = z - padBefore[0];
                if (outZ >= 0 && outZ < size[0] && scores is not null)
                    Array.Fill(scores, 1f, (int)(outZ * sliceVoxels), (int)sliceVoxels); // class 0's plane; labels stay 0
            }
            int finalizedUpTo = starts[0][0];

            foreach (int zs in starts[0])
            {
                var windows = (from ys in starts[1] from xs in starts[2] select (ys, xs)).ToArray();
                for (int b = 0; b < windows.Length; b += _options.WindowsPerBatch)
                {
                    cancellation.ThrowIfCancellationRequested();
                    var batch = windows.Skip(b).Take(_options.WindowsPerBatch).ToArray();
                    using var batchScope = NewDisposeScope();
                    using var noCollections = CollectionFreeSection.Enter(WindowBudgetBytes);
                    var patches = cat(batch.Select(w => input[.., .., TensorIndex.Slice(zs, zs + patch[0]),
                        TensorIndex.Slice(w.ys, w.ys + patch[1]), TensorIndex.Slice(w.xs, w.xs + patch[2])]).ToArray(), 0);
                    var probabilities = Probabilities(networks, patches); // [B, K, pD, pH, pW]
                    for (int i = 0; i < batch.Length; i++)
                        AddToRing(ring, ringWeight, probabilities[i], importance, zs, batch[i].ys, batch[i].xs, patch);
                    done += batch.Length;
                    progress?.Report(new SlidingWindowProgress(done, toCompute, volume.LongLength, clock.Elapsed));
                }
                int nextStart = zs == starts[0][^1] ? padded[0] : starts[0][Array.IndexOf(starts[0], zs) + 1];
                Finalize(ring, ringWeight, finalizedUpTo, nextStart, patch[0], padBefore, size, labels, scores, sliceVoxels, mayBeUncovered: region is not null);
                finalizedUpTo = nextStart;
            }
        }
        return new SegmentationResult { Labels = labels, Scores = scores, Windows = total, SkippedWindows = total - toCompute };
    }

    /// <summary>0, s, 2s, … with the last start clamped to size − patch (the reference's tiling).</summary>
    public static int[] WindowStarts(int size, int patch, int stride)
    {
        int count = (int)Math.Ceiling((size - patch) / (double)stride) + 1;
        return Enumerable.Range(0, count).Select(i => Math.Min(stride * i, size - patch)).ToArray();
    }

    /// <summary>The whole volume's window starts whose windows touch [from, to): inside it, exactly the whole tiling's coverage.</summary>
    public static int[] TouchingStarts(int size, int patch, int stride, int from, int to) =>
        WindowStarts(size, patch, stride).Where(s => s < to && s + patch > from).ToArray();

    /// <summary>
    /// The tiling of [from, to) alone: <see cref="WindowStarts"/> over the region's length, shifted to
    /// its start and kept inside the volume; a region shorter than the patch gets one window centred
    /// on it. A region that is the whole axis gives exactly <see cref="WindowStarts"/>.
    /// </summary>
    public static int[] RegionStarts(int size, int patch, int stride, int from, int to)
    {
        if (from < 0 || to > size || from >= to) throw new ArgumentException($"region [{from}, {to}) is not inside [0, {size})");
        int length = to - from;
        int[] local = length >= patch ? WindowStarts(length, patch, stride).Select(s => s + from).ToArray() : [from + length / 2 - patch / 2];
        return local.Select(s => Math.Clamp(s, 0, size - patch)).Distinct().ToArray();
    }

    private Tensor LoadPadded(float[] volume, int[] size, int[] padded, int[] padBefore)
    {
        var cpu = tensor(volume, new long[] { 1, 1, size[0], size[1], size[2] });
        if (padded.SequenceEqual(size)) return cpu.to(_device);
        // F.pad order is last axis first: (W before, W after, H before, H after, D before, D after).
        var pads = new long[6];
        for (int a = 0; a < 3; a++)
        {
            pads[2 * (2 - a)] = padBefore[a];
            pads[2 * (2 - a) + 1] = padded[a] - size[a] - padBefore[a];
        }
        return nn.functional.pad(cpu, pads, PaddingModes.Constant, 0).to(_device);
    }

    /// <summary>Softmax over classes, averaged over mirrorings when TTA is on. [B,1,D,H,W] → [B,K,D,H,W].</summary>
    private Tensor Probabilities(IReadOnlyList<UNet3D> networks, Tensor patches)
    {
        if (!_options.MirrorTta) return Softmax(networks, patches);
        Tensor? sum = null;
        for (int mask = 0; mask < 8; mask++)
        {
            // Each mirroring's activations are released before the next one runs.
            using var scope = NewDisposeScope();
            long[] dims = Enumerable.Range(0, 3).Where(a => (mask & (1 << a)) != 0).Select(a => (long)(a + 2)).ToArray();
            var p = Softmax(networks, dims.Length == 0 ? patches : patches.flip(dims));
            if (dims.Length > 0) p = p.flip(dims);
            if (sum is null) sum = p.MoveToOuterDisposeScope();
            else sum.add_(p, Scalars.One);
        }
        return sum!.div_(Scalars.Eight);
    }

    /// <summary>The network's softmax, or the mean of the networks' (stitching is linear, so this equals averaging whole-volume probabilities).</summary>
    private Tensor Softmax(IReadOnlyList<UNet3D> networks, Tensor patches)
    {
        Tensor? sum = null;
        var precision = _options.Precision.ScalarType();
        foreach (var network in networks)
        {
            using var scope = NewDisposeScope();
            var (logits, features) = network.forward(precision == ScalarType.Float32 ? patches : patches.to(precision));
            features.Dispose();
            var p = logits.to(ScalarType.Float32).softmax(1);
            if (sum is null) sum = p.MoveToOuterDisposeScope();
            else sum.add_(p, Scalars.One);
        }
        if (networks.Count == 1) return sum!;
        using var count = networks.Count.ToScalar();
        return sum!.div_(count);
    }

    /// <summary>The networks' weights in the options' low precision, for one volume (the caller's networks stay fp32); null for fp32.</summary>
    private LowPrecisionNetworks? LowPrecisionCopies()
    {
        if (_options.Precision == InferencePrecision.Float32) return null;
        var copies = _networks.Select(n => LowPrecisionCopy(n, _options.Precision, _device)).ToArray();
        var checkedCopies = new LowPrecisionNetworks(copies);
        try
        {
            for (int i = 0; i < copies.Length; i++) CheckLowPrecision(_networks[i], copies[i], _options.Precision, _device);
        }
        catch
        {
            checkedCopies.Dispose();
            throw;
        }
        return checkedCopies;
    }

    /// <summary>An evaluation copy of the network on the device in that precision (<see cref="UNet3D.ToLowPrecision"/>), unchecked: prediction checks it first (<see cref="CheckLowPrecision"/>).</summary>
    public static UNet3D LowPrecisionCopy(UNet3D network, InferencePrecision precision, Device device)
    {
        var copy = new UNet3D(network.NumClasses, network.BaseChannels, network.InChannels);
        copy.load_state_dict(network.state_dict());
        copy.to(device);
        copy.ToLowPrecision(precision.ScalarType());
        copy.eval();
        return copy;
    }

    /// <summary>Mean logit difference of the low-precision copy, relative to the mean fp32 logit magnitude, that is taken for rounding.</summary>
    public const double MaxLowPrecisionError = 0.1;

    /// <summary>
    /// Refuses a low-precision network whose logits on a fixed input stray from fp32's by more than
    /// rounding can explain: a device's low-precision kernels can be wrong (oneDNN's bf16
    /// convolution was, for some channel counts; <see cref="UNet3D.ToLowPrecision"/>), and a wrong
    /// mask must not pass for a fast one. Measured: rounding gives 0.001–0.02 (trained and random
    /// networks of widths 8 and 16), the faulty kernels 0.3–0.8.
    /// </summary>
    public static void CheckLowPrecision(UNet3D exact, UNet3D low, InferencePrecision precision, Device device)
    {
        exact.eval(); // dropout off: both must compute the same function
        low.eval();
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        using var generator = new Generator(0);
        int edge = UNet3D.SizeMultiple;
        var input = randn(new long[] { 1, exact.InChannels, edge, edge, edge }, generator: generator).to(device);
        var (reference, _) = exact.forward(input);
        var (fast, _) = low.forward(input.to(precision.ScalarType()));
        double error = (reference - fast.to(ScalarType.Float32)).abs().mean().item<float>() / Math.Max(1e-6, reference.abs().mean().item<float>());
        if (!(error <= MaxLowPrecisionError))
            throw new InvalidOperationException(
                $"{precision.Name()} prediction is refused on {device}: the network's logits differ from fp32's by {error:P1} of their size on average " +
                $"(rounding explains at most {MaxLowPrecisionError:P0}), so this device's {precision.Name()} kernels are wrong; predict with fp32 (no --fast, or --precision fp32)");
    }

    private sealed class LowPrecisionNetworks(UNet3D[] networks) : IDisposable
    {
        public IReadOnlyList<UNet3D> Networks => networks;

        public void Dispose()
        {
            foreach (var n in networks) n.Dispose();
        }
    }

    /// <summary>Gaussian importance (σ = patch/8 per axis, max 1, no zeros) or ones.</summary>
    private Tensor ImportanceMap(int[] patch)
    {
        if (!_options.Gaussian) return ones(new long[] { patch[0], patch[1], patch[2] }, device: _device);
        Tensor Axis(int n)
        {
            double sigma = n / 8.0, centre = (n - 1) / 2.0;
            var g = Enumerable.Range(0, n).Select(i => (float)Math.Exp(-0.5 * Math.Pow((i - centre) / sigma, 2))).ToArray();
            return tensor(g);
        }
        using var gz = Axis(patch[0]);
        using var gy = Axis(patch[1]);
        using var gx = Axis(patch[2]);
        var map = gz.view(-1, 1, 1) * gy.view(1, -1, 1) * gx.view(1, 1, -1);
        map.div_(map.max());
        var smallest = map[map.gt(Scalars.Zero)].min();
        map = where(map.gt(Scalars.Zero), map, smallest);
        return map.to(_device);
    }

    private static void AddToRing(Tensor ring, Tensor ringWeight, Tensor probabilities, Tensor importance,
        int zs, int ys, int xs, int[] patch)
    {
        // probabilities: [K, pD, pH, pW]. A window of depth pD covers every ring slot once, possibly wrapping.
        int slot = zs % patch[0];
        foreach (var (from, to, length) in RingPieces(slot, patch[0]))
        {
            var ringPart = ring[.., TensorIndex.Slice(to, to + length), TensorIndex.Slice(ys, ys + patch[1]), TensorIndex.Slice(xs, xs + patch[2])];
            var weightPart = ringWeight[TensorIndex.Slice(to, to + length), TensorIndex.Slice(ys, ys + patch[1]), TensorIndex.Slice(xs, xs + patch[2])];
            var imp = importance[TensorIndex.Slice(from, from + length)];
            // Fused: no [K, pD, pH, pW] product in between (a memory pass per window). With Scalars.One,
            // not TorchSharp's own temporary 1 (see Scalars).
            ringPart.addcmul_(probabilities[.., TensorIndex.Slice(from, from + length)], imp, Scalars.One);
            weightPart.add_(imp, Scalars.One);
        }
    }

    /// <summary>Window rows [from, from+length) go to ring slots [to, to+length): at most two pieces.</summary>
    private static IEnumerable<(int From, int To, int Length)> RingPieces(int slot, int depth)
    {
        yield return (0, slot, depth - slot);
        if (slot > 0) yield return (depth - slot, 0, slot);
    }

    /// <summary>Turns padded slices [from, to) into labels (and scores), cropping padding, and clears their slots.</summary>
    /// <param name="mayBeUncovered">whether some windows were left out, so that a voxel may have no weight (the whole tiling covers every voxel)</param>
    private static void Finalize(Tensor ring, Tensor ringWeight, int from, int to, int depth, int[] padBefore, int[] size,
        byte[] labels, float[]? scores, long sliceVoxels, bool mayBeUncovered)
    {
        int numClasses = (int)ring.shape[0];
        for (int z = from; z < to; z++)
        {
            int outZ = z - padBefore[0];
            int slot = z % depth;
            var slice = ring[.., slot];          // [K, Hp, Wp]
            var weight = ringWeight[slot];       // [Hp, Wp]
            if (outZ >= 0 && outZ < size[0])
            {
                using var scope = NewDisposeScope();
                var cropped = slice[.., TensorIndex.Slice(padBefore[1], padBefore[1] + size[1]), TensorIndex.Slice(padBefore[2], padBefore[2] + size[2])];
                var w = weight[TensorIndex.Slice(padBefore[1], padBefore[1] + size[1]), TensorIndex.Slice(padBefore[2], padBefore[2] + size[2])];
                var averaged = (cropped / w).cpu();
                // Covered by skipped windows only: background, with a background score of 1.
                if (mayBeUncovered && w.eq(Scalars.Zero).cpu() is var uncovered && uncovered.any().item<bool>())
                {
                    averaged = averaged.masked_fill(uncovered, Scalars.Zero);
                    averaged[0].masked_fill_(uncovered, Scalars.One);
                }
                averaged = averaged.contiguous();
                var argmax = Reductions.ArgMax(averaged, 0).to(ScalarType.Byte).contiguous();
                argmax.data<byte>().CopyTo(labels.AsSpan((int)(outZ * sliceVoxels), (int)sliceVoxels));
                if (scores is not null)
                {
                    var values = averaged.data<float>().ToArray(); // [K, H, W]
                    long volumeVoxels = size[0] * sliceVoxels;
                    for (int k = 0; k < numClasses; k++)
                        Array.Copy(values, k * sliceVoxels, scores, k * volumeVoxels + outZ * sliceVoxels, sliceVoxels);
                }
            }
            slice.zero_();
            weight.zero_();
        }
    }
}
