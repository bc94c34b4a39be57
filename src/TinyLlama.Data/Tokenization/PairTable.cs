namespace TinyLlama.Data.Tokenization;

/// <summary>
/// The merge rules of a BPE vocabulary as a read-only open-addressing hash table:
/// (left symbol, right symbol) → the vocabulary id of their concatenation, when that is a mergeable piece.
/// </summary>
internal sealed class PairTable
{
    private const ulong Empty = ulong.MaxValue;

    private readonly ulong[] _keys;
    private readonly int[] _values;
    private readonly int _shift;

    public PairTable(IReadOnlyCollection<KeyValuePair<(int Left, int Right), int>> pairs)
    {
        var capacity = 16;
        while (capacity < pairs.Count * 2)
        {
            capacity *= 2;
        }

        _shift = 64 - System.Numerics.BitOperations.Log2((uint)capacity);
        _keys = new ulong[capacity];
        _values = new int[capacity];
        Array.Fill(_keys, Empty);
        foreach (var (pair, merged) in pairs)
        {
            var key = Key(pair.Left, pair.Right);
            var slot = Slot(key);
            while (_keys[slot] != Empty)
            {
                slot = (slot + 1) & (capacity - 1);
            }

            _keys[slot] = key;
            _values[slot] = merged;
        }
    }

    /// <summary>The id of the piece <paramref name="left"/> + <paramref name="right"/>, or -1. Both must be ≥ 0.</summary>
    public int Find(int left, int right)
    {
        var key = Key(left, right);
        var keys = _keys;
        var mask = keys.Length - 1;
        var slot = Slot(key);
        while (true)
        {
            var k = keys[slot];
            if (k == key)
            {
                return _values[slot];
            }

            if (k == Empty)
            {
                return -1;
            }

            slot = (slot + 1) & mask;
        }
    }

    private static ulong Key(int left, int right) => ((ulong)(uint)left << 32) | (uint)right;

    private int Slot(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);
}
