namespace GuidedNet.Data;

/// <summary>
/// SplitMix64, keyed by integers. Sampling and augmentation draw from a generator keyed by
/// (seed, iteration, sample), so a run resumed at iteration k sees exactly the batches an
/// uninterrupted run sees — no generator state has to be saved.
/// </summary>
public sealed class DeterministicRandom
{
    private ulong _state;

    public DeterministicRandom(params long[] key)
    {
        ulong s = 0x9E3779B97F4A7C15UL;
        foreach (long k in key) s = Mix(s ^ (ulong)k);
        _state = s;
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform integer in [0, maxExclusive).</summary>
    public int Next(int maxExclusive) => maxExclusive <= 0 ? 0 : (int)(NextUInt64() % (ulong)maxExclusive);

    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A permutation of 0..n−1 (Fisher–Yates).</summary>
    public int[] Permutation(int n)
    {
        var p = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--)
        {
            int j = Next(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
