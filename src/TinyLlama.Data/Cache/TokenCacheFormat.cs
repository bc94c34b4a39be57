using System.Buffers.Binary;

namespace TinyLlama.Data.Cache;

/// <summary>
/// The token cache of one input file, in Megatron-LM's <c>MMapIndexedDataset</c> layout so that a cache is
/// also a Megatron dataset (<c>.bin</c> + <c>.idx</c>), plus two files of ours:
/// <code>
/// {key}.bin   the ids of every used document, concatenated, no separators; uint16 or int32 LE
/// {key}.idx   Megatron index:
///               0  9  magic "MMIDIDX\0\0"
///               9  8  version u64 LE = 1
///              17  1  dtype code u8 (Megatron: 8 = uint16, 4 = int32)
///              18  8  sequence count N u64 LE (one sequence per document)
///              26  8  document count N+1 u64 LE
///              34  …  sizes int32[N] (tokens per document), pointers int64[N] (byte offsets into .bin),
///                     document indices int64[N+1] = 0, 1, …, N
/// {key}.rec   int64 LE [N]: the record index (line or row) in the input file of each document
/// {key}.json  counts and checksums; written last: a cache entry without it is incomplete and redone
/// </code>
/// </summary>
public static class TokenCacheFormat
{
    public static ReadOnlySpan<byte> IndexMagic => "MMIDIDX\0\0"u8;

    public const int IndexHeaderSize = 34;

    public static void WriteIndexHeader(Span<byte> destination, byte dtype, long documents)
    {
        IndexMagic.CopyTo(destination);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[9..], 1);
        destination[17] = dtype;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[18..], (ulong)documents);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[26..], (ulong)documents + 1);
    }
}
