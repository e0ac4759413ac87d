using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GuidedNet.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// The voxel terms of <see cref="GuidedNetLoss"/> on the CPU: every term's value and its exact
/// gradient in one pass over each voxel, eight voxels to a vector, both networks together. On
/// libtorch the same terms take ~60 elementwise operations per slab, each a pass over memory and a
/// thread fork/join; here a voxel's logits, features and prototypes stay in registers and L1.
///
/// The formulas are those of the term files (reference README §2), with their derivatives written
/// out; <see cref="VoxelTermsInSlabs"/> evaluates the term files themselves through autograd, and
/// the tests hold the two to each other and to the authors' fixtures. Per voxel of network n, with
/// s = softmax(z), r the CGMM responses of the voxel's feature f against the prototypes μ of its
/// labeled sample (presence a, A = Σa + 1e-6), BCE(t, p) = −(t·log(p+ε) + (1−t)·log(1−p+ε))/2:
/// <list type="bullet">
/// <item>labeled: CE = −log s_y; Dice through ∂Dice/∂Σpt·s·t + ∂Dice/∂Σp²·s²; L1 = Σ_k a·BCE(r, s)/A;
/// L2 = Σ_k a·BCE(t, r)/A; consistency Σ_k (softmax(r¹) − softmax(r²))²;</item>
/// <item>unlabeled: L1 against the paired labeled sample's μ and a, r unmasked;</item>
/// <item>both: CPS w[ŷ]·(−log s_ŷ)/Σw, ŷ the other network's argmax.</item>
/// </list>
/// Chunks of voxels run in parallel; their sums and prototype gradients are added in chunk order,
/// so the result does not depend on scheduling.
/// </summary>
internal static unsafe class VoxelTermsCpuKernel
{
    private const int Lanes = 8;                     // floats per Vector256
    private const int ChunkVoxels = 2048;
    private const int TileVoxels = 32;               // voxels copied out of the volume at a time

    // Slots of the per-chunk sums.
    private const int CrossEntropy = 0, GmmL1 = 2, GmmL2 = 4, GmmUnlabeled = 6, Cps = 8, Consistency = 10, SumCount = 11;

    /// <summary>True when the kernel can evaluate these outputs (float32 on the CPU).</summary>
    public static bool Supports(Tensor logits, Tensor features) =>
        logits.device_type == DeviceType.CPU && logits.dtype == ScalarType.Float32 && features.dtype == ScalarType.Float32;

    public static VoxelTermResults Differentiate(VoxelTermInputs input)
    {
        using var scope = NewDisposeScope();
        int classes = input.NumClasses, labeled = input.Labeled;
        int channels = (int)input.Features[0].shape[1];
        long batch = input.Logits[0].shape[0], voxels = input.Voxels;
        var logits = input.Logits.Select(t => t.contiguous()).ToArray();
        var features = input.Features.Select(t => t.contiguous()).ToArray();
        var labels = input.Labels.contiguous();
        var pseudoLabels = input.PseudoLabels.contiguous();
        var gradLogits = logits.Select(t => empty_like(t)).ToArray();
        var gradFeatures = features.Select(t => empty_like(t)).ToArray();

        var job = new Job
        {
            Classes = classes, Channels = channels, Labeled = labeled, Batch = batch, Voxels = voxels,
            ChunksPerSample = (voxels + ChunkVoxels - 1) / ChunkVoxels,
            Logits = Addresses(logits, ScalarType.Float32, "logits"),
            Features = Addresses(features, ScalarType.Float32, "features"),
            GradLogits = Addresses(gradLogits, ScalarType.Float32, "logit gradient"),
            GradFeatures = Addresses(gradFeatures, ScalarType.Float32, "feature gradient"),
            Labels = TensorMemory.Address(labels, ScalarType.Int64, "labels"),
            PseudoLabels = TensorMemory.Address(pseudoLabels, ScalarType.Int64, "pseudo-labels"),
            Prototypes = Floats(input.Prototypes),                                          // [2, L, K, C]
            Presence = Floats(input.Presence),                                              // [L, K]
            CpsWeights = Floats(input.CpsWeights / input.CpsTotals.unsqueeze(1)),           // [2, K], normalised
            DiceIntersect = Floats(input.DiceIntersectGradient),                            // [2, K]
            DicePredicted = Floats(input.DicePredictedGradient),
            ConsistencyWeight = (float)input.ConsistencyWeight,
            Lambda = (float)input.Lambda,
            InverseHalf = (float)(1 / input.HalfVoxels),
        };
        int chunks = (int)(batch * job.ChunksPerSample);
        job.Sums = new double[chunks * SumCount];
        job.PrototypeGradients = new float[chunks * 2 * classes * channels];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, torch.get_num_threads()) };
        Parallel.For(0, chunks, parallel, chunk => ProcessChunk(job, chunk));

        // Chunk order: deterministic.
        var sums = new double[SumCount];
        var gradPrototypes = new double[2 * labeled * classes * channels];
        int perNetwork = classes * channels;
        for (int chunk = 0; chunk < chunks; chunk++)
        {
            for (int i = 0; i < SumCount; i++) sums[i] += job.Sums[chunk * SumCount + i];
            long sample = chunk / job.ChunksPerSample;
            long pair = sample < labeled ? sample : sample - labeled;
            for (int n = 0; n < 2; n++)
                for (int i = 0; i < perNetwork; i++)
                    gradPrototypes[(n * labeled + pair) * perNetwork + i] += job.PrototypeGradients[(chunk * 2 + n) * perNetwork + i];
        }
        double[] Pair(int slot, double scale) => new[] { sums[slot] * scale, sums[slot + 1] * scale };
        double inverseHalf = 1 / input.HalfVoxels;
        return new VoxelTermResults(
            CrossEntropy: Pair(CrossEntropy, inverseHalf),
            GmmL1: Pair(GmmL1, inverseHalf),
            GmmL2: Pair(GmmL2, inverseHalf),
            GmmUnlabeled: Pair(GmmUnlabeled, inverseHalf),
            Cps: Pair(Cps, 1),
            Consistency: sums[Consistency] * input.ConsistencyWeight * inverseHalf / classes,
            GradLogits: gradLogits.Select(t => t.MoveToOuterDisposeScope()).ToArray(),
            GradFeatures: gradFeatures.Select(t => t.MoveToOuterDisposeScope()).ToArray(),
            GradPrototypes: tensor(gradPrototypes.Select(v => (float)v).ToArray(), input.Prototypes.shape).MoveToOuterDisposeScope());
    }

    private static nint[] Addresses(Tensor[] tensors, ScalarType type, string name) =>
        tensors.Select(t => TensorMemory.Address(t, type, name)).ToArray();

    private static float[] Floats(Tensor t) => t.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();

    /// <summary>Everything a chunk reads and writes (pointers as addresses: lambdas cannot capture pointers).</summary>
    private sealed class Job
    {
        public int Classes, Channels, Labeled;
        public long Batch, Voxels, ChunksPerSample;
        public nint[] Logits = [], Features = [], GradLogits = [], GradFeatures = [];
        public nint Labels, PseudoLabels;
        public float[] Prototypes = [], Presence = [], CpsWeights = [], DiceIntersect = [], DicePredicted = [];
        public float ConsistencyWeight, Lambda, InverseHalf;
        public double[] Sums = [];
        public float[] PrototypeGradients = [];
    }

    /// <summary>Where one block of eight voxels lives: rows of <c>Stride</c> floats in the chunk's tile.</summary>
    private struct Block
    {
        public float* Logits0, Logits1, Features0, Features1, GradLogits0, GradLogits1, GradFeatures0, GradFeatures1;
        public long* Labels, Pseudo0, Pseudo1;
        public long Stride;

        /// <summary>The same rows, <paramref name="voxels"/> further on.</summary>
        public readonly Block Offset(int voxels) => new()
        {
            Logits0 = Logits0 + voxels, Logits1 = Logits1 + voxels, Features0 = Features0 + voxels, Features1 = Features1 + voxels,
            GradLogits0 = GradLogits0 + voxels, GradLogits1 = GradLogits1 + voxels,
            GradFeatures0 = GradFeatures0 + voxels, GradFeatures1 = GradFeatures1 + voxels,
            Labels = Labels == null ? null : Labels + voxels, Pseudo0 = Pseudo0 + voxels, Pseudo1 = Pseudo1 + voxels,
            Stride = Stride,
        };
    }

    private static void ProcessChunk(Job job, int chunk)
    {
        int classes = job.Classes, channels = job.Channels;
        long sample = chunk / job.ChunksPerSample, voxels = job.Voxels;
        long start = chunk % job.ChunksPerSample * ChunkVoxels, end = Math.Min(voxels, start + ChunkVoxels);
        bool isLabeled = sample < job.Labeled;
        long pair = isLabeled ? sample : sample - job.Labeled;

        Vector256<float>* vectors = stackalloc Vector256<float>[ChunkState.VectorCount(classes, channels)];
        float* constants = stackalloc float[ChunkState.FloatCount(classes)];
        var state = new ChunkState(job, pair, vectors, constants);

        // The tile: rows of TileVoxels floats, zero beyond the volume's end.
        int rows = 2 * classes + 2 * channels;
        float* tile = stackalloc float[2 * rows * TileVoxels];       // inputs, then gradients
        long* tileLabels = stackalloc long[3 * TileVoxels];          // labels, network 1's targets, network 2's
        var p = new Block
        {
            Logits0 = tile, Logits1 = tile + classes * TileVoxels,
            Features0 = tile + 2 * classes * TileVoxels, Features1 = tile + (2 * classes + channels) * TileVoxels,
            Labels = isLabeled ? tileLabels : null, Pseudo0 = tileLabels + TileVoxels, Pseudo1 = tileLabels + 2 * TileVoxels,
            Stride = TileVoxels,
        };
        p.GradLogits0 = p.Logits0 + rows * TileVoxels; p.GradLogits1 = p.Logits1 + rows * TileVoxels;
        p.GradFeatures0 = p.Features0 + rows * TileVoxels; p.GradFeatures1 = p.Features1 + rows * TileVoxels;
        float* logits0 = (float*)job.Logits[0] + sample * classes * voxels, logits1 = (float*)job.Logits[1] + sample * classes * voxels;
        float* features0 = (float*)job.Features[0] + sample * channels * voxels, features1 = (float*)job.Features[1] + sample * channels * voxels;
        float* gradLogits0 = (float*)job.GradLogits[0] + sample * classes * voxels, gradLogits1 = (float*)job.GradLogits[1] + sample * classes * voxels;
        float* gradFeatures0 = (float*)job.GradFeatures[0] + sample * channels * voxels, gradFeatures1 = (float*)job.GradFeatures[1] + sample * channels * voxels;
        long* labels = isLabeled ? (long*)job.Labels + sample * voxels : null;
        long* pseudo0 = (long*)job.PseudoLabels + sample * voxels;
        long* pseudo1 = (long*)job.PseudoLabels + (job.Batch + sample) * voxels;
        var laneIndex = Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7);

        for (long v = start; v < end; v += TileVoxels)
        {
            int count = (int)Math.Min(TileVoxels, end - v);
            if (count < TileVoxels)
            {
                new Span<float>(tile, rows * TileVoxels).Clear();
                new Span<long>(tileLabels, 3 * TileVoxels).Clear();
            }
            // Each row of the volume is its own stream 4·D·H·W bytes from the next, the same cache
            // set at power-of-two sizes: read once into the tile, the blocks work from L1.
            CopyRows(logits0 + v, voxels, p.Logits0, TileVoxels, classes, count);
            CopyRows(logits1 + v, voxels, p.Logits1, TileVoxels, classes, count);
            CopyRows(features0 + v, voxels, p.Features0, TileVoxels, channels, count);
            CopyRows(features1 + v, voxels, p.Features1, TileVoxels, channels, count);
            if (labels != null) new ReadOnlySpan<long>(labels + v, count).CopyTo(new Span<long>(p.Labels, count));
            new ReadOnlySpan<long>(pseudo0 + v, count).CopyTo(new Span<long>(p.Pseudo0, count));
            new ReadOnlySpan<long>(pseudo1 + v, count).CopyTo(new Span<long>(p.Pseudo1, count));

            for (int lane0 = 0; lane0 < count; lane0 += Lanes)
            {
                var block = p.Offset(lane0);
                var mask = count - lane0 >= Lanes ? Vector256<float>.AllBitsSet : Vector256.LessThan(laneIndex, Vector256.Create((float)(count - lane0)));
                state.Run(in block, isLabeled, mask);
            }

            CopyRows(p.GradLogits0, TileVoxels, gradLogits0 + v, voxels, classes, count);
            CopyRows(p.GradLogits1, TileVoxels, gradLogits1 + v, voxels, classes, count);
            CopyRows(p.GradFeatures0, TileVoxels, gradFeatures0 + v, voxels, channels, count);
            CopyRows(p.GradFeatures1, TileVoxels, gradFeatures1 + v, voxels, channels, count);
        }
        state.Flush(job, chunk);
    }

    private static void CopyRows(float* from, long fromStride, float* to, long toStride, int rows, int count)
    {
        for (int r = 0; r < rows; r++)
            new ReadOnlySpan<float>(from + r * fromStride, count).CopyTo(new Span<float>(to + r * toStride, count));
    }

    /// <summary>A chunk's constants (broadcast prototypes, per-class factors) and accumulators, all on the chunk's stack.</summary>
    private readonly struct ChunkState
    {
        private const float Epsilon = (float)GmmLosses.Epsilon;
        private readonly int classes, channels;
        private readonly Vector256<float>* prototypes;     // [2, K, C] broadcast μ of the chunk's pair
        private readonly Vector256<float>* prototypeGrad;  // [2, K, C] Σ over blocks of ∂/∂μ, per lane
        private readonly Vector256<float>* scratch;        // per-block rows, see Run
        private readonly Vector256<float>* sums;           // [SumCount] per-lane running sums
        private readonly float* presence;                  // [K] a of the chunk's pair
        private readonly float* cpsWeights, diceIntersect, dicePredicted;   // [2, K] each
        private readonly float inversePresent;             // 1/(Σa + 1e-6)
        private readonly float lambda, consistencyWeight, inverseHalf;

        /// <summary>Rows of <see cref="Vector256{T}"/> the chunk needs: prototypes and their gradient, scratch, sums.</summary>
        public static int VectorCount(int classes, int channels) => 4 * classes * channels + 18 * classes + channels + SumCount;

        /// <summary>Floats of per-class constants: presence, CPS weights, the two Dice gradients.</summary>
        public static int FloatCount(int classes) => 7 * classes;

        public ChunkState(Job job, long pair, Vector256<float>* vectors, float* floats)
        {
            classes = job.Classes;
            channels = job.Channels;
            int perNetwork = classes * channels;
            prototypes = vectors;
            prototypeGrad = vectors + 2 * perNetwork;
            scratch = vectors + 4 * perNetwork;
            sums = scratch + 18 * classes + channels;
            new Span<Vector256<float>>(prototypeGrad, 2 * perNetwork).Clear();
            new Span<Vector256<float>>(sums, SumCount).Clear();
            for (int n = 0; n < 2; n++)
                for (int i = 0; i < perNetwork; i++)
                    prototypes[n * perNetwork + i] = Vector256.Create(job.Prototypes[(n * job.Labeled + pair) * perNetwork + i]);
            presence = floats;
            cpsWeights = floats + classes;
            diceIntersect = floats + 3 * classes;
            dicePredicted = floats + 5 * classes;
            float present = 0;
            for (int k = 0; k < classes; k++) present += presence[k] = job.Presence[pair * classes + k];
            for (int i = 0; i < 2 * classes; i++)
            {
                cpsWeights[i] = job.CpsWeights[i];
                diceIntersect[i] = job.DiceIntersect[i];
                dicePredicted[i] = job.DicePredicted[i];
            }
            inversePresent = 1 / (present + 1e-6f);
            lambda = job.Lambda;
            consistencyWeight = job.ConsistencyWeight;
            inverseHalf = job.InverseHalf;
        }

        /// <summary>One block of eight voxels, both networks; <paramref name="mask"/> selects the lanes inside the volume.</summary>
        public void Run(in Block p, bool isLabeled, Vector256<float> mask)
        {
            int classes = this.classes, channels = this.channels, k2 = 2 * classes;
            long stride = p.Stride;
            float* presence = this.presence;
            Vector256<float>* prototypes = this.prototypes, prototypeGrad = this.prototypeGrad, sums = this.sums;
            // Scratch rows, each [2, K] (network, class) unless noted.
            Vector256<float>* probabilities = scratch;
            Vector256<float>* logProbabilities = scratch + k2;
            Vector256<float>* distances = scratch + 2 * k2;
            Vector256<float>* responses = scratch + 3 * k2;
            Vector256<float>* gradProbabilities = scratch + 4 * k2;      // ∂total/∂s
            Vector256<float>* gradLogProbabilities = scratch + 5 * k2;   // ∂total/∂log s (CE, CPS)
            Vector256<float>* gradResponses = scratch + 6 * k2;
            Vector256<float>* softmax = scratch + 7 * k2;                // softmax_k(r) (consistency)
            Vector256<float>* gradSoftmax = scratch + 8 * k2;
            Vector256<float>* feature = scratch + 9 * k2;                // [C] one network's features
            var one = Vector256.Create(1f);
            var epsilon = Vector256.Create(Epsilon);
            var labels = isLabeled ? LoadLabels(p.Labels) : default;

            for (int n = 0; n < 2; n++)
            {
                float* z = n == 0 ? p.Logits0 : p.Logits1;
                float* f = n == 0 ? p.Features0 : p.Features1;
                var pseudo = LoadLabels(n == 0 ? p.Pseudo0 : p.Pseudo1);
                int row = n * classes;

                // Softmax over the classes.
                var max = Vector256.Load(z);
                for (int k = 1; k < classes; k++) max = Vector256.Max(max, Vector256.Load(z + k * stride));
                var total = Vector256<float>.Zero;
                for (int k = 0; k < classes; k++)
                {
                    var e = Vector256.Exp(Vector256.Load(z + k * stride) - max);
                    probabilities[row + k] = e;
                    total += e;
                }
                var logTotal = Vector256.Log(total) + max;
                var inverseTotal = one / total;
                for (int k = 0; k < classes; k++)
                {
                    logProbabilities[row + k] = Vector256.Load(z + k * stride) - logTotal;
                    probabilities[row + k] *= inverseTotal;
                    gradProbabilities[row + k] = Vector256<float>.Zero;
                    gradLogProbabilities[row + k] = Vector256<float>.Zero;
                    gradResponses[row + k] = Vector256<float>.Zero;
                }

                // CGMM responses r = exp(−(mean_c |f − μ|)²), times presence on labeled samples (CgmmResponses).
                for (int c = 0; c < channels; c++) feature[c] = Vector256.Load(f + c * stride);
                var inverseChannels = Vector256.Create(1f / channels);
                for (int k = 0; k < classes; k++)
                {
                    Vector256<float>* mu = prototypes + (row + k) * channels;
                    // Two partial sums: the additions do not wait on each other.
                    var even = Vector256<float>.Zero;
                    var odd = Vector256<float>.Zero;
                    int c = 0;
                    for (; c + 1 < channels; c += 2)
                    {
                        even += Vector256.Abs(feature[c] - mu[c]);
                        odd += Vector256.Abs(feature[c + 1] - mu[c + 1]);
                    }
                    if (c < channels) even += Vector256.Abs(feature[c] - mu[c]);
                    var d = (even + odd) * inverseChannels;
                    distances[row + k] = d;
                    responses[row + k] = isLabeled && presence[k] == 0 ? Vector256<float>.Zero : Vector256.Exp(-(d * d));
                }

                // L1 (GmmLosses.PredictionFit): Σ_k a·BCE(r, s)/A over the present classes.
                var fit = Vector256<float>.Zero;
                var l1Factor = Vector256.Create(-lambda * inverseHalf * inversePresent * 0.5f);
                for (int k = 0; k < classes; k++)
                {
                    if (presence[k] == 0) continue;
                    var s = probabilities[row + k];
                    var r = responses[row + k];
                    var logP = Vector256.Log(s + epsilon);
                    var logQ = Vector256.Log(one - s + epsilon);
                    var ratio = logP - logQ;
                    fit += r * ratio + logQ;
                    gradProbabilities[row + k] += l1Factor * (r / (s + epsilon) - (one - r) / (one - s + epsilon));
                    gradResponses[row + k] += l1Factor * ratio;
                }
                sums[(isLabeled ? GmmL1 : GmmUnlabeled) + n] += fit * Vector256.Create(-0.5f * inversePresent) & mask;

                if (isLabeled)
                {
                    var crossEntropy = Vector256<float>.Zero;
                    var responseFit = Vector256<float>.Zero;
                    var ceGrad = Vector256.Create(-0.5f * inverseHalf);
                    var l2Factor = Vector256.Create(-lambda * inverseHalf * inversePresent * 0.5f);
                    for (int k = 0; k < classes; k++)
                    {
                        var t = Vector256.Equals(labels, Vector256.Create((float)k)) & one;
                        var s = probabilities[row + k];
                        crossEntropy -= t * logProbabilities[row + k];
                        gradLogProbabilities[row + k] += t * ceGrad;
                        // Dice through its gradient (½ of the supervised loss): ∂/∂s of Σ ∂D/∂Σpt·s·t + ∂D/∂Σp²·s².
                        gradProbabilities[row + k] += Vector256.Create(0.5f * diceIntersect[row + k]) * t
                            + Vector256.Create(dicePredicted[row + k]) * s;
                        // L2 (GmmLosses.ResponseFit): Σ_k a·BCE(t, r)/A.
                        if (presence[k] == 0) continue;
                        var r = responses[row + k];
                        var logR = Vector256.Log(r + epsilon);
                        var logNotR = Vector256.Log(one - r + epsilon);
                        responseFit += t * (logR - logNotR) + logNotR;
                        gradResponses[row + k] += l2Factor * (t / (r + epsilon) - (one - t) / (one - r + epsilon));
                    }
                    sums[CrossEntropy + n] += crossEntropy & mask;
                    sums[GmmL2 + n] += responseFit * Vector256.Create(-0.5f * inversePresent) & mask;
                }

                // Weighted CPS (WeightedCps): w[ŷ]/Σw · (−log s_ŷ).
                var weight = Vector256<float>.Zero;
                var nll = Vector256<float>.Zero;
                for (int k = 0; k < classes; k++)
                {
                    var hit = Vector256.Equals(pseudo, Vector256.Create((float)k)) & one;
                    weight += hit * Vector256.Create(cpsWeights[row + k]);
                    nll -= hit * logProbabilities[row + k];
                }
                sums[Cps + n] += weight * nll & mask;
                var cpsGrad = -Vector256.Create(consistencyWeight) * weight;
                for (int k = 0; k < classes; k++)
                    gradLogProbabilities[row + k] += (Vector256.Equals(pseudo, Vector256.Create((float)k)) & one) * cpsGrad;
            }

            // CGMM consistency (CgmmConsistency) couples the networks' responses; 2λ in the total.
            if (isLabeled)
            {
                for (int n = 0; n < 2; n++)
                {
                    var total = Vector256<float>.Zero;
                    for (int k = 0; k < classes; k++)
                    {
                        // r ∈ [0, 1]: exp needs no shift.
                        var e = Vector256.Exp(responses[n * classes + k]);
                        softmax[n * classes + k] = e;
                        total += e;
                    }
                    var inverse = one / total;
                    for (int k = 0; k < classes; k++) softmax[n * classes + k] *= inverse;
                }
                var squares = Vector256<float>.Zero;
                var consGrad = Vector256.Create(2 * lambda * consistencyWeight * inverseHalf / classes * 2);
                for (int k = 0; k < classes; k++)
                {
                    var difference = softmax[k] - softmax[classes + k];
                    squares += difference * difference;
                    gradSoftmax[k] = consGrad * difference;
                    gradSoftmax[classes + k] = -(consGrad * difference);
                }
                sums[Consistency] += squares & mask;
                for (int n = 0; n < 2; n++)
                {
                    var dot = Vector256<float>.Zero;
                    for (int k = 0; k < classes; k++) dot += softmax[n * classes + k] * gradSoftmax[n * classes + k];
                    for (int k = 0; k < classes; k++)
                        gradResponses[n * classes + k] += softmax[n * classes + k] * (gradSoftmax[n * classes + k] - dot);
                }
            }

            var signBit = Vector256.Create(-0f);
            for (int n = 0; n < 2; n++)
            {
                int row = n * classes;
                float* gz = n == 0 ? p.GradLogits0 : p.GradLogits1;
                float* gf = n == 0 ? p.GradFeatures0 : p.GradFeatures1;
                float* f = n == 0 ? p.Features0 : p.Features1;

                // Through the softmax: ∂/∂z_j = s_j(g_j − Σ s·g) + h_j − s_j·Σh (g = ∂/∂s, h = ∂/∂log s).
                var dotG = Vector256<float>.Zero;
                var sumH = Vector256<float>.Zero;
                for (int k = 0; k < classes; k++)
                {
                    dotG += probabilities[row + k] * gradProbabilities[row + k];
                    sumH += gradLogProbabilities[row + k];
                }
                for (int k = 0; k < classes; k++)
                {
                    var s = probabilities[row + k];
                    Vector256.Store(s * (gradProbabilities[row + k] - dotG - sumH) + gradLogProbabilities[row + k], gz + k * stride);
                }

                // Through r = exp(−d²): ∂r/∂d = −2d·r; then d = mean_c |f − μ|: sign(f − μ)/C per channel
                // (sign 0 at f = μ, as libtorch's), applied by moving the difference's sign bit onto ∂/∂d.
                Vector256<float>* gradDistance = distances + row;   // in place: d is not needed after this
                var scale = Vector256.Create(-2f / channels);
                for (int k = 0; k < classes; k++)
                    gradDistance[k] = gradResponses[row + k] * scale * distances[row + k] * responses[row + k] & mask;
                for (int c = 0; c < channels; c++)
                {
                    var fc = Vector256.Load(f + c * stride);
                    var even = Vector256<float>.Zero;
                    var odd = Vector256<float>.Zero;
                    for (int k = 0; k < classes; k++)
                    {
                        int index = (row + k) * channels + c;
                        var difference = fc - prototypes[index];
                        var term = Vector256.AndNot(gradDistance[k] ^ (difference & signBit), Vector256.Equals(difference, Vector256<float>.Zero));
                        if ((k & 1) == 0) even += term; else odd += term;
                        prototypeGrad[index] -= term;
                    }
                    Vector256.Store(even + odd, gf + c * stride);
                }
            }
        }

        /// <summary>The chunk's sums and prototype gradients, lanes added, into its slots of the job.</summary>
        public void Flush(Job job, int chunk)
        {
            for (int i = 0; i < SumCount; i++) job.Sums[chunk * SumCount + i] = LaneSum(sums[i]);
            int size = 2 * classes * channels;
            for (int i = 0; i < size; i++) job.PrototypeGradients[chunk * size + i] = (float)LaneSum(prototypeGrad[i]);
        }

        private static double LaneSum(Vector256<float> v)
        {
            double sum = 0;
            for (int i = 0; i < Lanes; i++) sum += v.GetElement(i);
            return sum;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> LoadLabels(long* labels) => Vector256.Create(
            (float)labels[0], labels[1], labels[2], labels[3], labels[4], labels[5], labels[6], labels[7]);
    }
}
