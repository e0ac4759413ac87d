namespace GuidedNet.Data;

/// <summary>A training batch: images [B, 1, D, H, W] and labels [B, D, H, W] (zeros for unlabeled samples).</summary>
public sealed record TrainingBatch(int Iteration, float[] Images, long[] Labels, int Size, int Labeled, int[] Patch);

/// <summary>
/// Two-stream batches (the reference's TwoStreamBatchSampler): the first samples of each batch come
/// from the labeled cases, the rest from the unlabeled pool, each stream walking through its own
/// shuffled epochs. Every sample is augmented as the reference does: a random in-plane rot90 and
/// flip, then a random crop of the patch size, zero-padded where the volume is smaller.
/// The batch of iteration i depends only on (seed, i), so resumed runs see the same batches.
/// </summary>
public sealed class PatchSampler
{
    private readonly IReadOnlyList<TrainingCase> _labeled;
    private readonly IReadOnlyList<TrainingCase> _unlabeled;
    private readonly int[] _patch;
    private readonly int _labeledPerBatch;
    private readonly int _unlabeledPerBatch;
    private readonly long _seed;

    public PatchSampler(IReadOnlyList<TrainingCase> labeled, IReadOnlyList<TrainingCase> unlabeled, int[] patch,
        int labeledPerBatch, int unlabeledPerBatch, long seed)
    {
        if (labeled.Count == 0) throw new ArgumentException("training needs at least one labeled case");
        if (unlabeledPerBatch > 0 && unlabeled.Count == 0) throw new ArgumentException("unlabeled samples were asked for, but the unlabeled pool is empty");
        _labeled = labeled;
        _unlabeled = unlabeled;
        _patch = patch;
        _labeledPerBatch = labeledPerBatch;
        _unlabeledPerBatch = unlabeledPerBatch;
        _seed = seed;
    }

    public int BatchSize => _labeledPerBatch + _unlabeledPerBatch;

    public TrainingBatch Sample(int iteration)
    {
        int b = BatchSize;
        long patchVoxels = (long)_patch[0] * _patch[1] * _patch[2];
        var images = new float[b * patchVoxels];
        var labels = new long[b * patchVoxels];
        for (int s = 0; s < b; s++)
        {
            bool isLabeled = s < _labeledPerBatch;
            var pool = isLabeled ? _labeled : _unlabeled;
            int position = iteration * (isLabeled ? _labeledPerBatch : _unlabeledPerBatch) + (isLabeled ? s : s - _labeledPerBatch);
            var source = pool[StreamIndex(isLabeled ? 1 : 2, position, pool.Count)];
            var rng = new DeterministicRandom(_seed, iteration, s);
            Augment(source, rng, images.AsSpan((int)(s * patchVoxels), (int)patchVoxels),
                isLabeled ? labels.AsSpan((int)(s * patchVoxels), (int)patchVoxels) : Span<long>.Empty);
        }
        return new TrainingBatch(iteration, images, labels, b, _labeledPerBatch, _patch);
    }

    /// <summary>Case index at a position of a stream that walks through shuffled epochs.</summary>
    private int StreamIndex(int stream, int position, int count)
    {
        int epoch = position / count;
        return new DeterministicRandom(_seed, stream, epoch).Permutation(count)[position % count];
    }

    /// <summary>rot90 (k quarter turns in the y–x plane), a flip of y or x, then a padded random crop.</summary>
    private void Augment(TrainingCase c, DeterministicRandom rng, Span<float> image, Span<long> labels)
    {
        int k = rng.Next(4);
        int flipAxis = rng.Next(2); // 0: y, 1: x of the rotated volume
        // Rotated volume size: quarter turns swap H and W.
        int rd = c.Depth, rh = k % 2 == 0 ? c.Height : c.Width, rw = k % 2 == 0 ? c.Width : c.Height;
        int[] size = { rd, rh, rw };
        var start = new int[3];
        for (int a = 0; a < 3; a++)
        {
            // Pad (centred, like the reference) when smaller, then pick a random offset.
            int padded = Math.Max(size[a], _patch[a]);
            int before = (padded - size[a]) / 2;
            start[a] = rng.Next(padded - _patch[a] + 1) - before;
        }
        int pd = _patch[0], ph = _patch[1], pw = _patch[2];
        int i = 0;
        for (int z = 0; z < pd; z++)
        {
            int vz = z + start[0];
            for (int y = 0; y < ph; y++)
            {
                int ry = y + start[1];
                for (int x = 0; x < pw; x++, i++)
                {
                    int rx = x + start[2];
                    if (vz < 0 || vz >= rd || ry < 0 || ry >= rh || rx < 0 || rx >= rw)
                    {
                        image[i] = 0;
                        if (!labels.IsEmpty) labels[i] = 0;
                        continue;
                    }
                    // Undo the flip, then the rotation, to find the source voxel.
                    int fy = flipAxis == 0 ? rh - 1 - ry : ry, fx = flipAxis == 1 ? rw - 1 - rx : rx;
                    (int sy, int sx) = k switch
                    {
                        0 => (fy, fx),
                        1 => (fx, c.Width - 1 - fy),
                        2 => (c.Height - 1 - fy, c.Width - 1 - fx),
                        _ => (c.Height - 1 - fx, fy),
                    };
                    long source = ((long)vz * c.Height + sy) * c.Width + sx;
                    image[i] = c.Image[source];
                    if (!labels.IsEmpty) labels[i] = c.Labels![source];
                }
            }
        }
    }
}
