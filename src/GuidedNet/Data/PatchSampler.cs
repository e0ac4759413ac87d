using GuidedNet.Data.Augmentation;
using GuidedNet.Training;

namespace GuidedNet.Data;

/// <summary>A training batch: images [B, 1, D, H, W] and labels [B, D, H, W] (zeros for unlabeled samples).</summary>
public sealed record TrainingBatch(int Iteration, float[] Images, long[] Labels, int Size, int Labeled, int[] Patch);

/// <summary>
/// Two-stream batches (the reference's TwoStreamBatchSampler): the first samples of each batch come
/// from the labeled cases, the rest from the unlabeled pool, each stream walking through its own
/// shuffled epochs. Every sample is augmented as the reference does: a random in-plane rot90 and
/// flip, then a random crop of the patch size, zero-padded where the volume is smaller.
/// The batch of iteration i depends only on (seed, i), so resumed runs see the same batches.
/// <para>
/// Foreground oversampling (nnU-Net's): a fraction of the labeled samples is centred on a voxel of
/// a class drawn uniformly among the classes present in the case, so a small structure is in a
/// labeled patch as often as a large one. Its draws come from a generator of their own, so with
/// the fraction at 0 (the reference presets) every batch is exactly the uniform sampler's.
/// </para>
/// <para>
/// With nnU-Net's augmentation (<see cref="AugmentationOptions.IsEnabled"/>, the product's
/// recipe) the rot90 and flip give way to its transforms: the patch is read through a rotation,
/// zoom, optional elastic field and mirrors about its centre (<see cref="SpatialTransform"/>), then
/// its intensities are changed (<see cref="IntensityTransforms"/>). Every draw still comes from
/// (seed, iteration, sample).
/// </para>
/// </summary>
public sealed class PatchSampler
{
    private readonly IReadOnlyList<TrainingCase> _labeled;
    private readonly IReadOnlyList<TrainingCase> _unlabeled;
    private readonly int[] _patch;
    private readonly int _labeledPerBatch;
    private readonly int _unlabeledPerBatch;
    private readonly long _seed;
    private readonly double _foregroundFraction;
    private readonly AugmentationOptions _augmentation;
    private readonly bool _nnUNetAugmentation;

    /// <summary>Per labeled case: for each class present (background excluded), up to <see cref="MaxLocations"/> of its voxel indices.</summary>
    private readonly Dictionary<TrainingCase, (int Class, int[] Voxels)[]> _classLocations = new();

    /// <summary>Voxel positions kept per class and case (evenly spaced over the class's voxels, as nnU-Net keeps 10,000).</summary>
    private const int MaxLocations = 10_000;

    /// <summary>Where the rows a patch needs are read from a cached case (reused: sampling allocates nothing per patch).</summary>
    private readonly CaseBuffer _buffer = new();

    /// <summary>Keys the oversampling generator apart from the augmentation's (seed, iteration, sample).</summary>
    private const long ForegroundStream = 7;

    public PatchSampler(IReadOnlyList<TrainingCase> labeled, IReadOnlyList<TrainingCase> unlabeled, int[] patch,
        int labeledPerBatch, int unlabeledPerBatch, long seed, double foregroundFraction = 0, AugmentationOptions? augmentation = null)
    {
        if (!(foregroundFraction >= 0 && foregroundFraction <= 1)) throw new ArgumentException("the foreground fraction must be in [0, 1]");
        if (labeled.Count == 0) throw new ArgumentException("training needs at least one labeled case");
        if (unlabeledPerBatch > 0 && unlabeled.Count == 0) throw new ArgumentException("unlabeled samples were asked for, but the unlabeled pool is empty");
        _labeled = labeled;
        _unlabeled = unlabeled;
        _patch = patch;
        _labeledPerBatch = labeledPerBatch;
        _unlabeledPerBatch = unlabeledPerBatch;
        _seed = seed;
        _foregroundFraction = foregroundFraction;
        _augmentation = augmentation ?? AugmentationOptions.Reference;
        _augmentation.Validate();
        _nnUNetAugmentation = _augmentation.IsEnabled;
        if (foregroundFraction > 0)
            foreach (var c in labeled) _classLocations[c] = ClassLocations(c);
    }

    private static (int Class, int[] Voxels)[] ClassLocations(TrainingCase c)
    {
        var labels = c.ReadLabels();
        var counts = new int[256];
        foreach (byte label in labels) counts[label]++;
        var kept = new List<int>?[256];
        var seen = new int[256];
        for (int i = 0; i < labels.Length; i++)
        {
            int label = labels[i];
            if (label == 0) continue;
            int n = seen[label]++, count = counts[label], keep = Math.Min(count, MaxLocations);
            var list = kept[label] ??= new List<int>(keep);
            // Evenly spaced: the j-th kept voxel is the floor(j · count / keep)-th of the class.
            if (list.Count < keep && (long)list.Count * count / keep == n) list.Add(i);
        }
        return Enumerable.Range(1, 255).Where(k => kept[k] is not null).Select(k => (k, kept[k]!.ToArray())).ToArray();
    }

    public int BatchSize => _labeledPerBatch + _unlabeledPerBatch;

    public TrainingBatch Sample(int iteration)
    {
        lock (_buffer) return SampleWithBuffer(iteration);
    }

    private TrainingBatch SampleWithBuffer(int iteration)
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
            var centre = isLabeled ? ForegroundVoxel(source, iteration, s) : null;
            var image = images.AsSpan((int)(s * patchVoxels), (int)patchVoxels);
            var label = isLabeled ? labels.AsSpan((int)(s * patchVoxels), (int)patchVoxels) : Span<long>.Empty;
            if (_nnUNetAugmentation) AugmentAsNnUNet(source, rng, centre, image, label);
            else Augment(source, rng, centre, image, label);
        }
        return new TrainingBatch(iteration, images, labels, b, _labeledPerBatch, _patch);
    }

    /// <summary>Case index at a position of a stream that walks through shuffled epochs.</summary>
    private int StreamIndex(int stream, int position, int count)
    {
        int epoch = position / count;
        return new DeterministicRandom(_seed, stream, epoch).Permutation(count)[position % count];
    }

    /// <summary>The voxel (index in the case) a forced-foreground sample is centred on, or null for a uniform crop.</summary>
    private int? ForegroundVoxel(TrainingCase c, int iteration, int sample)
    {
        if (_foregroundFraction <= 0) return null;
        var rng = new DeterministicRandom(_seed, ForegroundStream, iteration, sample);
        if (rng.NextDouble() >= _foregroundFraction) return null;
        var classes = _classLocations[c];
        if (classes.Length == 0) return null; // nothing but background in this case
        var (_, voxels) = classes[rng.Next(classes.Length)];
        return voxels[rng.Next(voxels.Length)];
    }

    /// <summary>
    /// rot90 (k quarter turns in the y–x plane), a flip of y or x, then a padded crop: random, or
    /// centred on <paramref name="centre"/> (a voxel index of the case) as far as the volume allows.
    /// </summary>
    private void Augment(TrainingCase c, DeterministicRandom rng, int? centre, Span<float> image, Span<long> labels)
    {
        int k = rng.Next(4);
        int flipAxis = rng.Next(2); // 0: y, 1: x of the rotated volume
        // Rotated volume size: quarter turns swap H and W.
        int rd = c.Depth, rh = k % 2 == 0 ? c.Height : c.Width, rw = k % 2 == 0 ? c.Width : c.Height;
        int[] size = { rd, rh, rw };
        int[]? target = centre is { } voxel ? Rotated(c, voxel, k, flipAxis, rh, rw) : null;
        var start = new int[3];
        for (int a = 0; a < 3; a++)
        {
            // Pad (centred, like the reference) when smaller, then pick an offset: random, or the one
            // that centres the target, kept within the same range.
            int padded = Math.Max(size[a], _patch[a]);
            int before = (padded - size[a]) / 2;
            start[a] = target is null
                ? rng.Next(padded - _patch[a] + 1) - before
                : Math.Clamp(target[a] - _patch[a] / 2, -before, padded - _patch[a] - before);
        }
        int pd = _patch[0], ph = _patch[1], pw = _patch[2];
        // The case's rows the crop reads: its planes, and the source rows of the crop's corners
        // (quarter turns and flips map the crop's rectangle onto a rectangle).
        int ry0 = Math.Max(0, start[1]), ry1 = Math.Min(rh, start[1] + ph) - 1, rx0 = Math.Max(0, start[2]), rx1 = Math.Min(rw, start[2] + pw) - 1;
        var region = new CaseRegion(0, 0, 0, 0);
        if (ry0 <= ry1 && rx0 <= rx1)
        {
            int yMin = int.MaxValue, yMax = int.MinValue;
            foreach (int ry in new[] { ry0, ry1 })
                foreach (int rx in new[] { rx0, rx1 })
                {
                    int sy = SourceVoxel(c, k, flipAxis, rh, rw, ry, rx).Y;
                    yMin = Math.Min(yMin, sy);
                    yMax = Math.Max(yMax, sy);
                }
            region = CaseRegion.Spanning(start[0], start[0] + pd - 1, yMin, yMax);
        }
        var voxels = c.Read(region, _buffer);
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
                    var (sy, sx) = SourceVoxel(c, k, flipAxis, rh, rw, ry, rx);
                    image[i] = voxels.Image(vz, sy, sx);
                    if (!labels.IsEmpty) labels[i] = voxels.Label(vz, sy, sx);
                }
            }
        }
    }

    /// <summary>The case's (y, x) under a voxel of the rotated, flipped volume: the flip undone, then the rotation (<see cref="Rotated"/> is the forward map).</summary>
    private static (int Y, int X) SourceVoxel(TrainingCase c, int k, int flipAxis, int rh, int rw, int ry, int rx)
    {
        int fy = flipAxis == 0 ? rh - 1 - ry : ry, fx = flipAxis == 1 ? rw - 1 - rx : rx;
        return k switch
        {
            0 => (fy, fx),
            1 => (fx, c.Width - 1 - fy),
            2 => (c.Height - 1 - fy, c.Width - 1 - fx),
            _ => (c.Height - 1 - fx, fy),
        };
    }

    /// <summary>
    /// nnU-Net's augmentation: the patch centre (on the forced voxel, or where the reference's
    /// padded random crop would centre it), the spatial transform about it, then the intensity transforms.
    /// </summary>
    private void AugmentAsNnUNet(TrainingCase c, DeterministicRandom rng, int? voxel, Span<float> image, Span<long> labels)
    {
        int[] size = { c.Depth, c.Height, c.Width };
        var centre = new double[3];
        if (voxel is { } v)
        {
            // Where the reference-style crop would put it (start = voxel − patch/2), so an even patch reads whole voxels.
            int plane = c.Height * c.Width;
            int[] target = { v / plane, v % plane / c.Width, v % c.Width };
            for (int a = 0; a < 3; a++) centre[a] = target[a] - _patch[a] / 2 + (_patch[a] - 1) / 2.0;
        }
        else
        {
            for (int a = 0; a < 3; a++)
            {
                int padded = Math.Max(size[a], _patch[a]);
                int before = (padded - size[a]) / 2;
                centre[a] = rng.Next(padded - _patch[a] + 1) - before + (_patch[a] - 1) / 2.0;
            }
        }
        var transform = SpatialTransform.Draw(_augmentation, _patch, rng);
        var voxels = c.Read(transform.SourceRegion(centre, _patch), _buffer);
        transform.Apply(c, voxels, centre, _patch, image, labels);
        IntensityTransforms.Apply(_augmentation, _patch, image, rng);
    }

    /// <summary>Where a voxel of the case lies (z, y, x) after k quarter turns and the flip: the inverse of the crop loop's mapping.</summary>
    private static int[] Rotated(TrainingCase c, int voxel, int k, int flipAxis, int rh, int rw)
    {
        int plane = c.Height * c.Width;
        int z = voxel / plane, sy = voxel % plane / c.Width, sx = voxel % c.Width;
        (int fy, int fx) = k switch
        {
            0 => (sy, sx),
            1 => (c.Width - 1 - sx, sy),
            2 => (c.Height - 1 - sy, c.Width - 1 - sx),
            _ => (sx, c.Height - 1 - sy),
        };
        return [z, flipAxis == 0 ? rh - 1 - fy : fy, flipAxis == 1 ? rw - 1 - fx : fx];
    }
}
