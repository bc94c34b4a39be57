namespace TinyLlama.Data.Tokenization;

/// <summary>
/// A bounded, single-thread cache of chunk → ids, where a chunk is a short sequence of symbols that the
/// tokenizer has proven to encode independently of its neighbours. When the arena or the table fills up,
/// everything is dropped at once, so memory stays flat (about 12 MB per encoder, allocated on first use).
/// </summary>
/// <remarks>
/// Laid out for as few cache misses per lookup as possible (the table is far larger than the CPU caches):
/// one 64-bit slot holds the high bits of the chunk's hash and the entry's arena offset; the entry is one
/// contiguous run of the arena: a header (key length | value length &lt;&lt; 8), the key, the value. A hit
/// touches one slot and one run of the arena.
/// </remarks>
internal sealed class ChunkCache
{
    /// <summary>Chunks longer than this (in symbols) are not cached.</summary>
    public const int MaxKeyLength = 64;

    private const int SlotBits = 19;
    private const int MaxEntries = 1 << 18;
    private const int ArenaSize = 1 << 21;
    private const int OffsetBits = 22; // arena offset + 1 fits
    private const ulong OffsetMask = (1UL << OffsetBits) - 1;

    private readonly ulong[] _slots = new ulong[1 << SlotBits]; // hash tag | (arena offset + 1); 0 = empty
    private readonly int[] _arena = new int[ArenaSize];
    private int _entries;
    private int _arenaUsed;

    /// <summary>Mixes one more symbol into a running chunk hash.</summary>
    public static ulong Mix(ulong hash, int symbol) =>
        System.Numerics.BitOperations.RotateLeft((hash ^ (uint)symbol) * 0x9E3779B97F4A7C15UL, 23);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public bool TryGet(ulong hash, ReadOnlySpan<int> key, out ReadOnlySpan<int> value)
    {
        var slots = _slots;
        var mask = slots.Length - 1;
        var tag = hash & ~OffsetMask;
        var slot = Slot(hash);
        while (true)
        {
            var entry = slots[slot];
            if (entry == 0)
            {
                value = default;
                return false;
            }

            if ((entry & ~OffsetMask) == tag)
            {
                var offset = (int)(entry & OffsetMask) - 1;
                var header = _arena[offset];
                if ((header & 0xFF) == key.Length && _arena.AsSpan(offset + 1, key.Length).SequenceEqual(key))
                {
                    value = _arena.AsSpan(offset + 1 + key.Length, header >> 8);
                    return true;
                }
            }

            slot = (slot + 1) & mask;
        }
    }

    /// <summary>Adds an entry the caller has just looked up and missed.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Add(ulong hash, ReadOnlySpan<int> key, ReadOnlySpan<int> value)
    {
        if (key.Length > MaxKeyLength || value.Length > 1 << 20)
        {
            return;
        }

        var size = 1 + key.Length + value.Length;
        if (_entries == MaxEntries || _arenaUsed + size > _arena.Length)
        {
            Array.Clear(_slots);
            _entries = 0;
            _arenaUsed = 0;
        }

        var offset = _arenaUsed;
        _arena[offset] = key.Length | (value.Length << 8);
        key.CopyTo(_arena.AsSpan(offset + 1));
        value.CopyTo(_arena.AsSpan(offset + 1 + key.Length));
        _arenaUsed += size;
        _entries++;

        var mask = _slots.Length - 1;
        var slot = Slot(hash);
        while (_slots[slot] != 0)
        {
            slot = (slot + 1) & mask;
        }

        _slots[slot] = (hash & ~OffsetMask) | (uint)(offset + 1);
    }

    private static int Slot(ulong hash) => (int)((hash * 0xD6E8FEB86659FD93UL) >> (64 - SlotBits));
}
