using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace TinyLlama.Data.Tokenization;

/// <summary>
/// The cache of the commonest kind of chunk — at most 8 bytes of text and at most 3 ids (" the", " of",
/// "    ", "if"): about two thirds of all chunk lookups on the bench's text. An entry is 16 bytes: the key's
/// bytes as one 64-bit word, and one word holding the ids (16 bits each) with the key's length, the prefix
/// flag and the number of ids. Four entries make one 64-byte set, aligned to a cache line, so a lookup
/// reads exactly one cache line (the general <see cref="ChunkCache"/> reads a slot and an arena run).
/// </summary>
/// <remarks>
/// Set-associative and bounded (4 MB by default): a new entry takes a free way, else replaces the last
/// way of its set; a hit moves its entry one way towards the front. Chunks seen again and again stay;
/// one-off chunks replace one another in the last way. Only for vocabularies whose ids fit in 16 bits.
/// </remarks>
internal sealed class ShortChunkTable
{
    /// <summary>Longest key, in bytes.</summary>
    public const int MaxKeyBytes = 8;

    /// <summary>Most ids per entry.</summary>
    public const int MaxIds = 3;

    /// <summary>Ids must be below this.</summary>
    public const int MaxId = 1 << 16;

    private const int Ways = 4;
    private const int TagShift = 48; // meta word: ids (3 × 16 bits) | tag (key bytes | prefix << 4) << 48 | count << 53
    private const ulong TagMask = 0x1F;
    private const int CountShift = 53;

    private readonly ulong[] _words; // pinned; entries start at _start, a multiple of 64 bytes from the array's address
    private readonly int _start;
    private readonly int _setBits;

    public ShortChunkTable()
        : this(setBits: 16)
    {
    }

    public ShortChunkTable(int setBits)
    {
        if (setBits is < 1 or > 24)
        {
            throw new ArgumentOutOfRangeException(nameof(setBits));
        }

        _setBits = setBits;
        var words = (1 << setBits) * Ways * 2;
        _words = GC.AllocateArray<ulong>(words + 8, pinned: true);
        unsafe
        {
            var address = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_words));
            _start = (int)((64 - (address & 63)) & 63) / sizeof(ulong);
        }
    }

    /// <summary>The tag of a key: its length and whether the dummy prefix goes in front (never 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Tag(int keyBytes, bool prefixed) => (ulong)(uint)keyBytes | (prefixed ? 16UL : 0UL);

    /// <summary>Up to 8 bytes as one little-endian word, zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Word(ReadOnlySpan<byte> text, int start, int length)
    {
        if (start + sizeof(ulong) <= text.Length)
        {
            var word = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref MemoryMarshal.GetReference(text), start));
            return length == sizeof(ulong) ? word : word & ((1UL << (8 * length)) - 1);
        }

        ulong w = 0;
        for (var k = length - 1; k >= 0; k--)
        {
            w = (w << 8) | text[start + k];
        }

        return w;
    }

    /// <summary>Starts loading a key's set into the CPU cache.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(ulong word, ulong tag)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref Set(word, tag)));
        }
    }

    /// <summary>On a hit, appends the ids and returns true.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public bool TryAppend(ulong word, ulong tag, List<int> ids)
    {
        ref var set = ref Set(word, tag);
        for (var way = 0; way < Ways; way++)
        {
            ref var key = ref Unsafe.Add(ref set, 2 * way);
            var meta = Unsafe.Add(ref key, 1);
            if (key == word && ((meta >> TagShift) & TagMask) == tag)
            {
                var count = (int)(meta >> CountShift);
                ids.Add((int)(meta & 0xFFFF));
                if (count > 1)
                {
                    ids.Add((int)((meta >> 16) & 0xFFFF));
                    if (count > 2)
                    {
                        ids.Add((int)((meta >> 32) & 0xFFFF));
                    }
                }

                if (way > 0)
                {
                    ref var front = ref Unsafe.Add(ref set, 2 * (way - 1));
                    (front, key) = (key, front);
                    (Unsafe.Add(ref front, 1), Unsafe.Add(ref key, 1)) = (Unsafe.Add(ref key, 1), Unsafe.Add(ref front, 1));
                }

                return true;
            }
        }

        return false;
    }

    /// <summary>Adds an entry the caller has just looked up and missed (1 to <see cref="MaxIds"/> ids, each below <see cref="MaxId"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Add(ulong word, ulong tag, ReadOnlySpan<int> value)
    {
        var meta = (tag << TagShift) | ((ulong)(uint)value.Length << CountShift);
        for (var k = 0; k < value.Length; k++)
        {
            meta |= (ulong)(uint)value[k] << (16 * k);
        }

        ref var set = ref Set(word, tag);
        var way = 0;
        while (way < Ways - 1 && Unsafe.Add(ref set, (2 * way) + 1) != 0)
        {
            way++;
        }

        Unsafe.Add(ref set, 2 * way) = word;
        Unsafe.Add(ref set, (2 * way) + 1) = meta;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref ulong Set(ulong word, ulong tag)
    {
        var h = (word ^ (tag * 0xC2B2AE3D27D4EB4FUL)) * 0x9E3779B97F4A7C15UL;
        var set = (int)(h >> (64 - _setBits));
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_words), _start + (set * Ways * 2));
    }
}
