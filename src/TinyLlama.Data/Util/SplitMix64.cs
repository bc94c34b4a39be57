namespace TinyLlama.Data.Util;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fully specified PRNG. Used wherever output bytes depend on
/// random choices, because System.Random's algorithm is not guaranteed to stay the same across .NET versions.
/// </summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

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
