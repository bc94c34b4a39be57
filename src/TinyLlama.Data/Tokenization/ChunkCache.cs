using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace TinyLlama.Data.Tokenization;

/// <summary>
/// A bounded, single-thread cache of chunk → ids, where a chunk is a run of the text's UTF-8 bytes that the
/// tokenizer has proven to encode independently of its neighbours. Memory stays flat (about 24 MB per encoder,
/// allocated on first use).
/// </summary>
/// <remarks>
/// <para>
/// Keys are the chunk's own bytes as they are in the text (plus one flag: whether the dummy prefix <c>▁</c>
/// goes in front), so a hit needs no decoding into symbols at all. The bytes determine the symbols, so equal
/// keys always have equal ids.
/// </para>
/// <para>
/// Two generations. New entries go into the current one; when it is full, the older one is dropped whole and
/// the current one becomes the older. A hit in the older generation copies the entry into the current one.
/// So the chunks in use (the common words) survive a turnover, and one-off chunks (rare words, numbers,
/// identifiers) age out; dropping everything when full, as before, made every common chunk miss again after
/// each of the 30 flushes of the bench's 205 MB.
/// </para>
/// <para>
/// Laid out for as few cache misses per lookup as possible: one 64-bit slot holds the high bits of the hash
/// (a tag) and the entry's arena offset; the entry is one contiguous run of the arena: a header (key bytes |
/// ids &lt;&lt; 8 | prefix flag &lt;&lt; 17), the ids, then the key bytes. A hit touches one slot and
/// one run of the arena.
/// </para>
/// </remarks>
internal sealed class ChunkCache
{
    /// <summary>Chunks longer than this (in bytes) are not cached.</summary>
    public const int MaxKeyBytes = 255;

    /// <summary>At most this many ids per entry: byte fallback gives at most one id per byte, plus the prefix.</summary>
    private const int MaxValueLength = MaxKeyBytes + 1;
    private const int OffsetBits = 26; // arena offset + 1 fits
    private const ulong OffsetMask = (1UL << OffsetBits) - 1;
    private const int ValueShift = 8; // header: key bytes (8 bits) | ids (9 bits) | prefix flag
    private const int ValueBits = 0x1FF;
    private const int PrefixFlag = 1 << 17;
    private const int MaxEntryInts = 1 + MaxValueLength + ((MaxKeyBytes + 3) / 4);

    private readonly int _maxEntries;
    private readonly int[] _promote = new int[MaxValueLength];
    private Generation _current;
    private Generation _older;

    /// <summary>The default size: 2 × (4 MB of slots + 8 MB of arena).</summary>
    public ChunkCache()
        : this(slotBits: 19, arenaInts: 1 << 21)
    {
    }

    /// <summary>A cache of a given size per generation (small ones let tests turn generations over).</summary>
    public ChunkCache(int slotBits, int arenaInts)
    {
        if (slotBits is < 4 or > 26 || arenaInts < MaxEntryInts || arenaInts >= (1 << OffsetBits) - 1)
        {
            throw new ArgumentOutOfRangeException(nameof(arenaInts), "cache size out of range");
        }

        _maxEntries = (1 << slotBits) / 2; // at most half full
        _current = new Generation(slotBits, arenaInts);
        _older = new Generation(slotBits, arenaInts);
    }

    /// <summary>How many times the generations turned over (for tests).</summary>
    public long Turnovers { get; private set; }

    /// <summary>The hash of a key: its bytes and whether the dummy prefix goes in front.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static ulong Hash(ReadOnlySpan<byte> key, bool prefixed)
    {
        const ulong K = 0x9E3779B97F4A7C15UL;
        var n = key.Length;
        var h = ((ulong)(uint)n * K) ^ (prefixed ? 0x5851F42D4C957F2DUL : 0UL);
        ref var p = ref MemoryMarshal.GetReference(key);
        var i = 0;
        for (; i + 8 <= n; i += 8)
        {
            h = BitOperations.RotateLeft((h ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i))) * K, 29);
        }

        if (i < n)
        {
            ulong tail;
            if (n >= 8)
            {
                tail = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, n - 8)); // overlaps bytes already mixed
            }
            else if (n >= 4)
            {
                tail = Unsafe.ReadUnaligned<uint>(ref p) | ((ulong)Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, n - 4)) << 32);
            }
            else
            {
                tail = p | ((ulong)Unsafe.Add(ref p, n >> 1) << 8) | ((ulong)Unsafe.Add(ref p, n - 1) << 16);
            }

            h = BitOperations.RotateLeft((h ^ tail) * K, 29);
        }

        h ^= h >> 32;
        h *= 0xD6E8FEB86659FD93UL;
        h ^= h >> 29;
        return h;
    }

    /// <summary>Starts loading the current generation's slot of a hash into the CPU cache.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(ulong hash)
    {
        if (Sse.IsSupported)
        {
            var slots = _current.Slots;
            Sse.Prefetch0(Unsafe.AsPointer(ref slots[(int)hash & (slots.Length - 1)]));
        }
    }

    /// <summary>Looks a key up in both generations; a hit in the older one is copied into the current one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryGet(ulong hash, ReadOnlySpan<byte> key, bool prefixed, out ReadOnlySpan<int> value)
    {
        if (_current.TryGet(hash, key, prefixed, out value))
        {
            return true;
        }

        if (!_older.TryGet(hash, key, prefixed, out var old))
        {
            return false;
        }

        // Copy out first: adding may turn the generations over, and then the older arena is the one written to.
        var copy = _promote.AsSpan(0, old.Length);
        old.CopyTo(copy);
        value = Add(hash, key, prefixed, copy);
        return true;
    }

    /// <summary>Adds an entry the caller has just looked up and missed; returns the stored ids.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ReadOnlySpan<int> Add(ulong hash, ReadOnlySpan<byte> key, bool prefixed, ReadOnlySpan<int> value)
    {
        if (key.Length > MaxKeyBytes || value.Length > MaxValueLength)
        {
            return value;
        }

        var size = 1 + value.Length + ((key.Length + 3) >> 2);
        if (_current.Entries == _maxEntries || _current.ArenaUsed + size > _current.Arena.Length)
        {
            (_current, _older) = (_older, _current);
            _current.Clear();
            Turnovers++;
        }

        return _current.Add(hash, key, prefixed, value, size);
    }

    private sealed class Generation(int slotBits, int arenaInts)
    {
        public readonly ulong[] Slots = GC.AllocateArray<ulong>(1 << slotBits, pinned: true); // hash tag | (arena offset + 1); 0 = empty
        public readonly int[] Arena = new int[arenaInts];
        public int Entries;
        public int ArenaUsed;

        public void Clear()
        {
            Array.Clear(Slots);
            Entries = 0;
            ArenaUsed = 0;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
        public bool TryGet(ulong hash, ReadOnlySpan<byte> key, bool prefixed, out ReadOnlySpan<int> value)
        {
            var slots = Slots;
            var mask = slots.Length - 1;
            var tag = hash & ~OffsetMask;
            var slot = (int)hash & mask; // the low bits: the tag is the high ones
            var header = key.Length | (prefixed ? PrefixFlag : 0);
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
                    var stored = Arena[offset];
                    if ((stored & ~(ValueBits << ValueShift)) == header)
                    {
                        var length = (stored >> ValueShift) & ValueBits;
                        var run = Arena.AsSpan(offset + 1, length + ((key.Length + 3) >> 2));
                        if (MemoryMarshal.AsBytes(run[length..])[..key.Length].SequenceEqual(key))
                        {
                            value = run[..length];
                            return true;
                        }
                    }
                }

                slot = (slot + 1) & mask;
            }
        }

        public ReadOnlySpan<int> Add(ulong hash, ReadOnlySpan<byte> key, bool prefixed, ReadOnlySpan<int> value, int size)
        {
            var offset = ArenaUsed;
            var run = Arena.AsSpan(offset, size);
            run[0] = key.Length | (value.Length << ValueShift) | (prefixed ? PrefixFlag : 0);
            value.CopyTo(run[1..]);
            run[^1] = 0; // the key's padding bytes
            key.CopyTo(MemoryMarshal.AsBytes(run[(1 + value.Length)..]));
            ArenaUsed += size;
            Entries++;

            var mask = Slots.Length - 1;
            var slot = (int)hash & mask;
            while (Slots[slot] != 0)
            {
                slot = (slot + 1) & mask;
            }

            Slots[slot] = (hash & ~OffsetMask) | (uint)(offset + 1);
            return run.Slice(1, value.Length);
        }
    }
}
