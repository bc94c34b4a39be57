namespace TinyLlama.Data.Tokenization;

/// <summary>
/// A bounded, single-thread cache of chunk → ids, where a chunk is a short sequence of symbols that the
/// tokenizer has proven to encode independently of its neighbours. Keys and values live in one int arena;
/// when the arena or the entry table fills up, everything is dropped at once, so memory stays flat
/// (about 14 MB per thread that encodes with a given tokenizer, allocated on first use).
/// </summary>
internal sealed class ChunkCache
{
    /// <summary>Chunks longer than this (in symbols) are not cached.</summary>
    public const int MaxKeyLength = 64;

    private const int SlotBits = 19;
    private const int MaxEntries = 1 << 18;
    private const int ArenaSize = 1 << 21;

    private readonly int[] _slots = new int[1 << SlotBits]; // entry index + 1; 0 = empty
    private readonly ulong[] _entryHash = new ulong[MaxEntries];
    private readonly int[] _entryOffset = new int[MaxEntries];
    private readonly byte[] _entryKeyLength = new byte[MaxEntries];
    private readonly short[] _entryValueLength = new short[MaxEntries];
    private readonly int[] _arena = new int[ArenaSize];
    private int _entries;
    private int _arenaUsed;

    /// <summary>Mixes one more symbol into a running chunk hash.</summary>
    public static ulong Mix(ulong hash, int symbol) =>
        System.Numerics.BitOperations.RotateLeft((hash ^ (uint)symbol) * 0x9E3779B97F4A7C15UL, 23);

    public bool TryGet(ulong hash, ReadOnlySpan<int> key, out ReadOnlySpan<int> value)
    {
        var mask = _slots.Length - 1;
        var slot = Slot(hash);
        while (true)
        {
            var entry = _slots[slot] - 1;
            if (entry < 0)
            {
                value = default;
                return false;
            }

            if (_entryHash[entry] == hash && _entryKeyLength[entry] == key.Length)
            {
                var offset = _entryOffset[entry];
                if (_arena.AsSpan(offset, key.Length).SequenceEqual(key))
                {
                    value = _arena.AsSpan(offset + key.Length, _entryValueLength[entry]);
                    return true;
                }
            }

            slot = (slot + 1) & mask;
        }
    }

    /// <summary>Adds an entry the caller has just looked up and missed.</summary>
    public void Add(ulong hash, ReadOnlySpan<int> key, ReadOnlySpan<int> value)
    {
        if (key.Length > MaxKeyLength || value.Length > short.MaxValue)
        {
            return;
        }

        if (_entries == MaxEntries || _arenaUsed + key.Length + value.Length > _arena.Length)
        {
            Array.Clear(_slots);
            _entries = 0;
            _arenaUsed = 0;
        }

        var entry = _entries++;
        _entryHash[entry] = hash;
        _entryOffset[entry] = _arenaUsed;
        _entryKeyLength[entry] = (byte)key.Length;
        _entryValueLength[entry] = (short)value.Length;
        key.CopyTo(_arena.AsSpan(_arenaUsed));
        value.CopyTo(_arena.AsSpan(_arenaUsed + key.Length));
        _arenaUsed += key.Length + value.Length;

        var mask = _slots.Length - 1;
        var slot = Slot(hash);
        while (_slots[slot] != 0)
        {
            slot = (slot + 1) & mask;
        }

        _slots[slot] = entry + 1;
    }

    private static int Slot(ulong hash) => (int)((hash * 0xD6E8FEB86659FD93UL) >> (64 - SlotBits));
}
