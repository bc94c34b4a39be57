namespace TinyLlama.Data.Util;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fully specified PRNG. Used wherever output bytes depend on
/// random choices — the scheduler's document orders, the demo and bench corpora — because System.Random's
/// algorithm is not guaranteed to stay the same across .NET versions. Never replace it: shard bytes depend on
/// its exact output.
/// </summary>
public sealed class SplitMix64(ulong seed)
{
    /// <summary>The golden-ratio increment of the state.</summary>
    public const ulong Gamma = 0x9E3779B97F4A7C15UL;

    private ulong _state = seed;

    /// <summary>The SplitMix64 output function (a bijective 64-bit mixer).</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Advances <paramref name="state"/> by <see cref="Gamma"/> and returns the mixed value.</summary>
    public static ulong Next(ref ulong state)
    {
        state += Gamma;
        return Mix(state);
    }

    public ulong NextUInt64() => Next(ref _state);

    /// <summary>Uniform in [0, bound) without modulo bias (Lemire's method with rejection).</summary>
    public int Next(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(bound, 0);
        var b = (ulong)bound;
        var threshold = (0UL - b) % b;
        while (true)
        {
            var r = NextUInt64();
            var product = Math.BigMul(r, b, out var low);
            if (low >= threshold)
            {
                return (int)product;
            }
        }
    }
}
