using System.Buffers.Binary;
using System.Globalization;

namespace TinyLlama.Data.Shards;

/// <summary>
/// TinyLlama's lit_gpt <c>PackedDataset</c> shard format ("LITPKDS"). A shard is a 24-byte header followed by
/// exactly <c>ChunkSize</c> tokens, little-endian, no footer and no metadata:
/// <code>
/// offset  size  field
///      0     7  magic      ASCII "LITPKDS"
///      7     8  version    u64 LE, always 1
///     15     1  dtype      u8: 8 = uint16 (vocabulary below 65,500 ids), 4 = int32 otherwise
///     16     8  chunk_size u64 LE, tokens in the shard
///     24   n×w  tokens     chunk_size tokens of w = 2 (uint16) or 4 (int32) bytes each
/// </code>
/// File names are <c>{prefix}_{counter:D10}.bin</c>, counter from 0.
/// </summary>
public static class LitPkdsFormat
{
    public const int HeaderSize = 24;
    public const ulong Version = 1;
    public const byte DtypeUInt16 = 8;
    public const byte DtypeInt32 = 4;

    /// <summary>lit_gpt's threshold: a vocabulary below this many ids is stored as uint16.</summary>
    public const int UInt16VocabularyLimit = 65_500;

    /// <summary>TinyLlama's default chunk: 1024 blocks of 2048 + 1 tokens.</summary>
    public const long DefaultChunkSize = 2049L * 1024;

    public static ReadOnlySpan<byte> Magic => "LITPKDS"u8;

    public static byte DtypeFor(int vocabularySize) => vocabularySize < UInt16VocabularyLimit ? DtypeUInt16 : DtypeInt32;

    public static int TokenWidth(byte dtype) => dtype switch
    {
        DtypeUInt16 => 2,
        DtypeInt32 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "only dtype 8 (uint16) and 4 (int32) are written"),
    };

    public static string DtypeName(byte dtype) => dtype switch
    {
        DtypeUInt16 => "uint16",
        DtypeInt32 => "int32",
        _ => dtype.ToString(CultureInfo.InvariantCulture),
    };

    public static string ShardName(string prefix, long counter) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}_{counter:D10}.bin");

    /// <summary>Token <paramref name="index"/> of <paramref name="tokens"/> (the bytes after the header), <paramref name="width"/> 2 or 4.</summary>
    public static int ReadToken(ReadOnlySpan<byte> tokens, int width, long index) => width == 2
        ? BinaryPrimitives.ReadUInt16LittleEndian(tokens[(int)(index * 2)..])
        : BinaryPrimitives.ReadInt32LittleEndian(tokens[(int)(index * 4)..]);

    public static void WriteHeader(Span<byte> destination, byte dtype, long chunkSize)
    {
        if (destination.Length < HeaderSize)
        {
            throw new ArgumentException("header needs 24 bytes", nameof(destination));
        }

        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[7..], Version);
        destination[15] = dtype;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], checked((ulong)chunkSize));
    }

    /// <summary>Parses a header; returns null and a reason when it is not a valid LITPKDS header.</summary>
    public static LitPkdsHeader? TryReadHeader(ReadOnlySpan<byte> source, out string? problem)
    {
        if (source.Length < HeaderSize)
        {
            problem = FormattableString.Invariant($"file is {source.Length} bytes, shorter than the 24-byte header");
            return null;
        }

        if (!source[..7].SequenceEqual(Magic))
        {
            problem = "magic is not LITPKDS";
            return null;
        }

        var version = BinaryPrimitives.ReadUInt64LittleEndian(source[7..]);
        if (version != Version)
        {
            problem = FormattableString.Invariant($"version {version}, expected 1");
            return null;
        }

        var dtype = source[15];
        if (dtype is not (DtypeUInt16 or DtypeInt32))
        {
            problem = FormattableString.Invariant($"dtype code {dtype}, expected 8 (uint16) or 4 (int32)");
            return null;
        }

        var chunk = BinaryPrimitives.ReadUInt64LittleEndian(source[16..]);
        if (chunk == 0 || chunk > int.MaxValue)
        {
            problem = FormattableString.Invariant($"chunk size {chunk} is out of range");
            return null;
        }

        problem = null;
        return new LitPkdsHeader(dtype, (long)chunk);
    }
}

public sealed record LitPkdsHeader(byte Dtype, long ChunkSize)
{
    public int TokenWidth => LitPkdsFormat.TokenWidth(Dtype);

    public long FileLength => LitPkdsFormat.HeaderSize + (ChunkSize * TokenWidth);
}
