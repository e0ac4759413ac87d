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
            InverseValid = (float)(1.0 / Math.Max(1, input.ValidVoxels)),
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
            GmmL2: Pair(GmmL2, 1.0 / Math.Max(1, input.ValidVoxels)),
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
        public float ConsistencyWeight, Lambda, InverseHalf, InverseValid;
        public double[] Sums = [];
        public float[] PrototypeGradients = [];
    }

    /// <summary>Where one block of eight voxels lives: rows of <c>Stride</c> floats (the volume, or a padded tail copy).</summary>
    private struct Block
    {
        public float* Logits0, Logits1, Features0, Features1, GradLogits0, GradLogits1, GradFeatures0, GradFeatures1;
        public long* Labels, Pseudo0, Pseudo1;
        public long Stride;
    }

    private static void ProcessChunk(Job job, int chunk)
    {
        int classes = job.Classes, channels = job.Channels;
        long sample = chunk / job.ChunksPerSample;
        long start = chunk % job.ChunksPerSample * ChunkVoxels, end = Math.Min(job.Voxels, start + ChunkVoxels);
        bool isLabeled = sample < job.Labeled;
        long pair = isLabeled ? sample : sample - job.Labeled;

        var state = new ChunkState(classes, channels, job, pair,
            stackalloc Vector256<float>[2 * classes * channels],
            stackalloc Vector256<float>[2 * classes * channels],
            stackalloc Vector256<float>[18 * classes + channels],
            stackalloc Vector256<float>[SumCount]);

        // Tail copies: rows of Lanes floats, zero beyond the volume.
        Span<float> tail = stackalloc float[2 * Lanes * (2 * classes + 2 * channels)];
        Span<long> tailLabels = stackalloc long[3 * Lanes];

        var p = new Block { Stride = job.Voxels };
        for (long v = start; v < end; v += Lanes)
        {
            int count = (int)Math.Min(Lanes, end - v);
            float* l0 = (float*)job.Logits[0] + sample * classes * job.Voxels + v;
            float* l1 = (float*)job.Logits[1] + sample * classes * job.Voxels + v;
            float* f0 = (float*)job.Features[0] + sample * channels * job.Voxels + v;
            float* f1 = (float*)job.Features[1] + sample * channels * job.Voxels + v;
            float* gl0 = (float*)job.GradLogits[0] + sample * classes * job.Voxels + v;
            float* gl1 = (float*)job.GradLogits[1] + sample * classes * job.Voxels + v;
            float* gf0 = (float*)job.GradFeatures[0] + sample * channels * job.Voxels + v;
            float* gf1 = (float*)job.GradFeatures[1] + sample * channels * job.Voxels + v;
            long* y = isLabeled ? (long*)job.Labels + sample * job.Voxels + v : null;
            long* p0 = (long*)job.PseudoLabels + sample * job.Voxels + v;
            long* p1 = (long*)job.PseudoLabels + (job.Batch + sample) * job.Voxels + v;
            if (count == Lanes)
            {
                p.Logits0 = l0; p.Logits1 = l1; p.Features0 = f0; p.Features1 = f1;
                p.GradLogits0 = gl0; p.GradLogits1 = gl1; p.GradFeatures0 = gf0; p.GradFeatures1 = gf1;
                p.Labels = y; p.Pseudo0 = p0; p.Pseudo1 = p1; p.Stride = job.Voxels;
                state.Run(ref p, isLabeled, Vector256<float>.AllBitsSet);
                continue;
            }
            fixed (float* t = tail)
            fixed (long* tl = tailLabels)
            {
                tail.Clear();
                tailLabels.Clear();
                float* cursor = t;
                float* Copy(float* source, int rows)
                {
                    float* row = cursor;
                    for (int r = 0; r < rows; r++)
                        for (int i = 0; i < count; i++) row[r * Lanes + i] = source[r * job.Voxels + i];
                    cursor += rows * Lanes;
                    return row;
                }
                p.Logits0 = Copy(l0, classes); p.Logits1 = Copy(l1, classes);
                p.Features0 = Copy(f0, channels); p.Features1 = Copy(f1, channels);
                p.GradLogits0 = cursor; cursor += classes * Lanes;
                p.GradLogits1 = cursor; cursor += classes * Lanes;
                p.GradFeatures0 = cursor; cursor += channels * Lanes;
                p.GradFeatures1 = cursor;
                for (int i = 0; i < count; i++)
                {
                    if (y != null) tl[i] = y[i];
                    tl[Lanes + i] = p0[i];
                    tl[2 * Lanes + i] = p1[i];
                }
                p.Labels = y != null ? tl : null; p.Pseudo0 = tl + Lanes; p.Pseudo1 = tl + 2 * Lanes; p.Stride = Lanes;
                var mask = Vector256.LessThan(Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7), Vector256.Create((float)count));
                state.Run(ref p, isLabeled, mask);
                void CopyBack(float* from, float* to, int rows)
                {
                    for (int r = 0; r < rows; r++)
                        for (int i = 0; i < count; i++) to[r * job.Voxels + i] = from[r * Lanes + i];
                }
                CopyBack(p.GradLogits0, gl0, classes); CopyBack(p.GradLogits1, gl1, classes);
                CopyBack(p.GradFeatures0, gf0, channels); CopyBack(p.GradFeatures1, gf1, channels);
            }
        }
        state.Flush(job, chunk);
    }

    /// <summary>A chunk's constants (broadcast prototypes, per-class factors) and accumulators.</summary>
    private ref struct ChunkState
    {
        private const float Epsilon = (float)GmmLosses.Epsilon;
        private readonly int classes, channels;
        private readonly Span<Vector256<float>> prototypes;     // [2, K, C] broadcast μ of the chunk's pair
        private readonly Span<Vector256<float>> prototypeGrad;  // [2, K, C] Σ over lanes and blocks of ∂/∂μ
        private readonly Span<Vector256<float>> scratch;        // per-voxel rows, see Run
        private readonly Span<Vector256<float>> sums;           // [SumCount] per-lane running sums
        private readonly float[] presence, cpsWeights, diceIntersect, dicePredicted;
        private readonly int presenceOffset;
        private readonly float inversePresent;                  // 1/(Σa + 1e-6)
        private readonly float lambda, consistencyWeight, inverseHalf, inverseValid;

        public ChunkState(int classes, int channels, Job job, long pair,
            Span<Vector256<float>> prototypes, Span<Vector256<float>> prototypeGrad, Span<Vector256<float>> scratch, Span<Vector256<float>> sums)
        {
            this.classes = classes;
            this.channels = channels;
            this.prototypes = prototypes;
            this.prototypeGrad = prototypeGrad;
            this.scratch = scratch;
            this.sums = sums;
            prototypeGrad.Clear();
            sums.Clear();
            int perNetwork = classes * channels;
            for (int n = 0; n < 2; n++)
                for (int i = 0; i < perNetwork; i++)
                    prototypes[n * perNetwork + i] = Vector256.Create(job.Prototypes[(n * job.Labeled + pair) * perNetwork + i]);
            presence = job.Presence;
            presenceOffset = (int)(pair * classes);
            float present = 0;
            for (int k = 0; k < classes; k++) present += presence[presenceOffset + k];
            inversePresent = 1 / (present + 1e-6f);
            cpsWeights = job.CpsWeights;
            diceIntersect = job.DiceIntersect;
            dicePredicted = job.DicePredicted;
            lambda = job.Lambda;
            consistencyWeight = job.ConsistencyWeight;
            inverseHalf = job.InverseHalf;
            inverseValid = job.InverseValid;
        }

        /// <summary>One block of eight voxels, both networks; <paramref name="mask"/> selects the lanes inside the volume.</summary>
        public void Run(ref Block p, bool isLabeled, Vector256<float> mask)
        {
            int k2 = 2 * classes;
            // Scratch rows, each [2, K] (network, class) unless noted; 9 of them and one [C].
            var probabilities = scratch.Slice(0, k2);
            var logProbabilities = scratch.Slice(k2, k2);
            var distances = scratch.Slice(2 * k2, k2);
            var responses = scratch.Slice(3 * k2, k2);
            var gradProbabilities = scratch.Slice(4 * k2, k2);      // ∂total/∂s
            var gradLogProbabilities = scratch.Slice(5 * k2, k2);   // ∂total/∂log s (CE, CPS)
            var feature = scratch.Slice(6 * k2, channels);          // [C] one network's features
            var gradResponses = scratch.Slice(6 * k2 + channels, k2);
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
                for (int k = 1; k < classes; k++) max = Vector256.Max(max, Vector256.Load(z + k * p.Stride));
                var total = Vector256<float>.Zero;
                for (int k = 0; k < classes; k++)
                {
                    var e = Vector256.Exp(Vector256.Load(z + k * p.Stride) - max);
                    probabilities[row + k] = e;
                    total += e;
                }
                var logTotal = Vector256.Log(total) + max;
                var inverseTotal = one / total;
                for (int k = 0; k < classes; k++)
                {
                    logProbabilities[row + k] = Vector256.Load(z + k * p.Stride) - logTotal;
                    probabilities[row + k] *= inverseTotal;
                    gradProbabilities[row + k] = Vector256<float>.Zero;
                    gradLogProbabilities[row + k] = Vector256<float>.Zero;
                    gradResponses[row + k] = Vector256<float>.Zero;
                }

                // CGMM responses r = exp(−(mean_c |f − μ|)²), times presence on labeled samples (CgmmResponses).
                for (int c = 0; c < channels; c++) feature[c] = Vector256.Load(f + c * p.Stride);
                var inverseChannels = Vector256.Create(1f / channels);
                for (int k = 0; k < classes; k++)
                {
                    var sum = Vector256<float>.Zero;
                    var mu = prototypes.Slice((row + k) * channels, channels);
                    for (int c = 0; c < channels; c++) sum += Vector256.Abs(feature[c] - mu[c]);
                    var d = sum * inverseChannels;
                    distances[row + k] = d;
                    responses[row + k] = isLabeled && presence[presenceOffset + k] == 0 ? Vector256<float>.Zero : Vector256.Exp(-(d * d));
                }

                // L1 (GmmLosses.PredictionFit): Σ_k a·BCE(r, s)/A over the present classes.
                var fit = Vector256<float>.Zero;
                var l1Factor = Vector256.Create(-lambda * inverseHalf * inversePresent * 0.5f);
                for (int k = 0; k < classes; k++)
                {
                    if (presence[presenceOffset + k] == 0) continue;
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
                    var l2Factor = Vector256.Create(-lambda * inverseValid * inversePresent * 0.5f);
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
                        if (presence[presenceOffset + k] == 0) continue;
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
                var softmax = scratch.Slice(7 * k2 + channels, k2);
                var gradSoftmax = scratch.Slice(8 * k2 + channels, k2);
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
                    Vector256.Store(s * (gradProbabilities[row + k] - dotG - sumH) + gradLogProbabilities[row + k], gz + k * p.Stride);
                }

                // Through r = exp(−d²): ∂r/∂d = −2d·r; then d = mean_c |f − μ|: ±1/C per channel.
                var gradDistance = distances.Slice(row, classes);  // reused in place: d is not needed after this
                var scale = Vector256.Create(-2f / channels);
                for (int k = 0; k < classes; k++)
                    gradDistance[k] = gradResponses[row + k] * scale * distances[row + k] * responses[row + k] & mask;
                var zero = Vector256<float>.Zero;
                var minusOne = Vector256.Create(-1f);
                for (int c = 0; c < channels; c++)
                {
                    var fc = Vector256.Load(f + c * p.Stride);
                    var grad = Vector256<float>.Zero;
                    for (int k = 0; k < classes; k++)
                    {
                        int index = (row + k) * channels + c;
                        var difference = fc - prototypes[index];
                        var sign = (Vector256.GreaterThan(difference, zero) & one) | (Vector256.LessThan(difference, zero) & minusOne);
                        var term = gradDistance[k] * sign;
                        grad += term;
                        prototypeGrad[index] -= term;
                    }
                    Vector256.Store(grad, gf + c * p.Stride);
                }
            }
        }

        /// <summary>The chunk's sums and prototype gradients, lanes added, into its slots of the job.</summary>
        public readonly void Flush(Job job, int chunk)
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
