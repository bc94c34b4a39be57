using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Cache;

/// <summary>Counts of what one input file's records became (the accounting the manifest adds up).</summary>
public sealed class RecordCounts
{
    public long Read { get; set; }

    public long Used { get; set; }

    public long Empty { get; set; }

    public SortedDictionary<string, long> Filtered { get; } = new(StringComparer.Ordinal);

    public SortedDictionary<string, long> Rejected { get; } = new(StringComparer.Ordinal);

    public long ReplacedSequences { get; set; }

    public long TextBytes { get; set; }

    public long Tokens { get; set; }

    public long FilteredTotal => Filtered.Values.Sum();

    public long RejectedTotal => Rejected.Values.Sum();

    /// <summary>Every record read is used, empty, filtered or rejected: nothing is lost without a number.</summary>
    public bool Balances => Read == Used + Empty + FilteredTotal + RejectedTotal;

    public void Add(RecordCounts other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Read += other.Read;
        Used += other.Used;
        Empty += other.Empty;
        ReplacedSequences += other.ReplacedSequences;
        TextBytes += other.TextBytes;
        Tokens += other.Tokens;
        foreach (var (k, v) in other.Filtered)
        {
            Filtered[k] = Filtered.GetValueOrDefault(k) + v;
        }

        foreach (var (k, v) in other.Rejected)
        {
            Rejected[k] = Rejected.GetValueOrDefault(k) + v;
        }
    }

    public JsonObject ToJson()
    {
        var filtered = new JsonObject();
        foreach (var (k, v) in Filtered)
        {
            filtered[k] = v;
        }

        var rejected = new JsonObject();
        foreach (var (k, v) in Rejected)
        {
            rejected[k] = v;
        }

        return new JsonObject
        {
            ["read"] = Read,
            ["used"] = Used,
            ["empty"] = Empty,
            ["filtered"] = filtered,
            ["rejected"] = rejected,
            ["replaced_sequences"] = ReplacedSequences,
            ["text_bytes"] = TextBytes,
            ["tokens"] = Tokens,
        };
    }

    public static RecordCounts FromJson(JsonObject o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var c = new RecordCounts
        {
            Read = (long)o["read"]!,
            Used = (long)o["used"]!,
            Empty = (long)o["empty"]!,
            ReplacedSequences = (long)o["replaced_sequences"]!,
            TextBytes = (long)o["text_bytes"]!,
            Tokens = (long)o["tokens"]!,
        };
        foreach (var (k, v) in o["filtered"]!.AsObject())
        {
            c.Filtered[k] = (long)v!;
        }

        foreach (var (k, v) in o["rejected"]!.AsObject())
        {
            c.Rejected[k] = (long)v!;
        }

        return c;
    }
}

/// <summary>A complete token cache of one input file, opened for reading.</summary>
public sealed class TokenCacheEntry
{
    private readonly long[] _pointers;

    internal TokenCacheEntry(string basePath, byte dtype, int[] sizes, long[] records, RecordCounts counts)
    {
        BasePath = basePath;
        Dtype = dtype;
        DocumentTokens = sizes;
        Records = records;
        Counts = counts;
        _pointers = new long[sizes.Length];
        var width = Shards.LitPkdsFormat.TokenWidth(dtype);
        long p = 0;
        for (var i = 0; i < sizes.Length; i++)
        {
            _pointers[i] = p;
            p += (long)sizes[i] * width;
        }
    }

    /// <summary>Path without extension; the entry's files are BasePath + .bin/.idx/.rec/.json.</summary>
    public string BasePath { get; }

    public string BinPath => BasePath + ".bin";

    public byte Dtype { get; }

    /// <summary>Tokens of each used document (no separators), in file order.</summary>
    public IReadOnlyList<int> DocumentTokens { get; }

    /// <summary>Record index (line or row) in the input file of each document.</summary>
    public IReadOnlyList<long> Records { get; }

    public RecordCounts Counts { get; }

    public int DocumentCount => DocumentTokens.Count;

    /// <summary>Byte offset of a document's first token in the .bin file.</summary>
    public long ByteOffset(int document) => _pointers[document];

    internal static TokenCacheEntry Open(string basePath, RecordCounts counts)
    {
        var idxPath = basePath + ".idx";
        byte[] idx;
        byte[] rec;
        try
        {
            idx = File.ReadAllBytes(idxPath);
            rec = File.ReadAllBytes(basePath + ".rec");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(idxPath, "cannot read the token cache: " + e.Message, e);
        }

        if (idx.Length < TokenCacheFormat.IndexHeaderSize || !idx.AsSpan(0, 9).SequenceEqual(TokenCacheFormat.IndexMagic))
        {
            throw new IoFailureException(idxPath, "not a token cache index (bad magic); delete it to rebuild");
        }

        var dtype = idx[17];
        var n = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(idx.AsSpan(18)));
        var expected = TokenCacheFormat.IndexHeaderSize + (4L * n) + (8L * n) + (8L * (n + 1));
        if (idx.Length != expected || rec.Length != 8L * n)
        {
            throw new IoFailureException(idxPath, "token cache index has the wrong size; delete it to rebuild");
        }

        var sizes = MemoryMarshal.Cast<byte, int>(idx.AsSpan(TokenCacheFormat.IndexHeaderSize, 4 * n)).ToArray();
        var records = MemoryMarshal.Cast<byte, long>(rec.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("big-endian hosts are not supported");
        }

        return new TokenCacheEntry(basePath, dtype, sizes, records, counts);
    }
}
