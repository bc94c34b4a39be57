namespace TinyLlama.Data.Tokenization;

/// <summary>
/// The merge rules of a BPE vocabulary as a read-only open-addressing hash table:
/// (left symbol, right symbol) → the vocabulary id of their concatenation, when that is a mergeable piece.
/// One 64-bit slot holds the whole entry (left: 21 bits, right: 21 bits, merged id: 22 bits), so a lookup
/// touches one cache line; the table is kept at most half full.
/// </summary>
internal sealed class PairTable
{
    /// <summary>Symbols must be below this; larger vocabularies are refused at load.</summary>
    public const int MaxSymbols = (1 << 21) - 1;

    private const ulong Empty = ulong.MaxValue;
    private const ulong ValueMask = (1UL << 22) - 1;

    private readonly ulong[] _slots;
    private readonly int _shift;

    public PairTable(IReadOnlyCollection<KeyValuePair<(int Left, int Right), int>> pairs)
    {
        var capacity = 16;
        while (capacity < pairs.Count * 2)
        {
            capacity *= 2;
        }

        _shift = 64 - System.Numerics.BitOperations.Log2((uint)capacity);
        _slots = new ulong[capacity];
        Array.Fill(_slots, Empty);
        foreach (var (pair, merged) in pairs)
        {
            var key = Key(pair.Left, pair.Right);
            var slot = Slot(key);
            while (_slots[slot] != Empty)
            {
                slot = (slot + 1) & (capacity - 1);
            }

            _slots[slot] = key | (uint)merged;
        }
    }

    /// <summary>The id of the piece <paramref name="left"/> + <paramref name="right"/>, or -1. Both must be ≥ 0.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public int Find(int left, int right)
    {
        var key = Key(left, right);
        var slots = _slots;
        var mask = slots.Length - 1;
        var slot = Slot(key);
        while (true)
        {
            var entry = slots[slot];
            if ((entry & ~ValueMask) == key)
            {
                return (int)(entry & ValueMask);
            }

            if (entry == Empty)
            {
                return -1;
            }

            slot = (slot + 1) & mask;
        }
    }

    private static ulong Key(int left, int right) => ((ulong)(uint)left << 43) | ((ulong)(uint)right << 22);

    private int Slot(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);
}
