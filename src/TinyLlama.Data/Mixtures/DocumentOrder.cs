using TinyLlama.Data.Util;

namespace TinyLlama.Data.Mixtures;

/// <summary>
/// The order in which one source's documents are drawn in one epoch: a bijection from position in the epoch
/// (0..count-1) to document id. Shuffled orders are a keyed pseudo-random permutation computed on demand in O(1)
/// time and memory (no table of a billion entries): a 6-round balanced Feistel network over the smallest even
/// number of bits b ≥ 2 with 2^b ≥ count, with cycle-walking (apply again until the value is below count; fewer
/// than 4 applications on average since 2^b &lt; 4·count).
/// </summary>
/// <remarks>
/// Keys: <c>s = Mix(Mix(seed ^ Mix(source + 1)) ^ Mix((epoch + 1) · Gamma))</c>; the six round keys are successive
/// <see cref="SplitMix64.Next"/> outputs from state s. Round r maps halves (L, R) to (R, L xor (Mix(R xor k_r)
/// and mask)). The sequential order is the identity.
/// </remarks>
internal readonly struct DocumentOrder
{
    private readonly int _count;
    private readonly bool _sequential;
    private readonly int _halfBits;
    private readonly ulong _halfMask;
    private readonly ulong _k0, _k1, _k2, _k3, _k4, _k5;

    public DocumentOrder(int count, SourceOrder order, ulong seed, int source, int epoch)
    {
        _count = count;
        _sequential = order == SourceOrder.Sequential || count <= 1;
        var bits = 2;
        while (bits < 62 && (1L << bits) < count)
        {
            bits += 2;
        }

        _halfBits = bits / 2;
        _halfMask = (1UL << _halfBits) - 1;
        var state = SplitMix64.Mix(SplitMix64.Mix(seed ^ SplitMix64.Mix((ulong)source + 1))
            ^ SplitMix64.Mix(((ulong)epoch + 1) * SplitMix64.Gamma));
        _k0 = SplitMix64.Next(ref state);
        _k1 = SplitMix64.Next(ref state);
        _k2 = SplitMix64.Next(ref state);
        _k3 = SplitMix64.Next(ref state);
        _k4 = SplitMix64.Next(ref state);
        _k5 = SplitMix64.Next(ref state);
    }

    public int Count => _count;

    /// <summary>The document id at <paramref name="index"/> (0 ≤ index &lt; Count) of this epoch's order.</summary>
    public int this[int index]
    {
        get
        {
            if ((uint)index >= (uint)_count)
            {
                throw new ArgumentOutOfRangeException(nameof(index));
            }

            if (_sequential)
            {
                return index;
            }

            var x = (ulong)index;
            do
            {
                x = Encrypt(x);
            }
            while (x >= (ulong)_count);
            return (int)x;
        }
    }

    private ulong Encrypt(ulong x)
    {
        var left = x >> _halfBits;
        var right = x & _halfMask;
        Round(ref left, ref right, _k0);
        Round(ref left, ref right, _k1);
        Round(ref left, ref right, _k2);
        Round(ref left, ref right, _k3);
        Round(ref left, ref right, _k4);
        Round(ref left, ref right, _k5);
        return (left << _halfBits) | right;
    }

    private void Round(ref ulong left, ref ulong right, ulong key)
    {
        var next = left ^ (SplitMix64.Mix(right ^ key) & _halfMask);
        left = right;
        right = next;
    }
}
