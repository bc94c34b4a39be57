using System.Buffers.Binary;
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

/// <summary>One document of a token cache, as its index describes it.</summary>
/// <param name="Tokens">Ids of the document (no separators).</param>
/// <param name="ByteOffset">Offset of its first id in the <c>.bin</c> file.</param>
/// <param name="Record">Record index (line or row) in the input file.</param>
public readonly record struct CachedDocument(int Tokens, long ByteOffset, long Record);

/// <summary>
/// A complete token cache of one input file, opened for reading. Opening reads the index header and checks
/// the files' sizes only; nothing per document is held in memory (a corpus of a billion documents must not
/// need gigabytes to plan). <see cref="ReadIndex"/> streams the documents in file order and checks them.
/// </summary>
public sealed class TokenCacheEntry
{
    private const int ReadBuffer = 1 << 16;
    private readonly long _binLength;

    private TokenCacheEntry(string basePath, byte dtype, int documents, long binLength, RecordCounts counts)
    {
        BasePath = basePath;
        Dtype = dtype;
        DocumentCount = documents;
        _binLength = binLength;
        Counts = counts;
    }

    /// <summary>Path without extension; the entry's files are BasePath + .bin/.idx/.rec/.json.</summary>
    public string BasePath { get; }

    public string BinPath => BasePath + ".bin";

    public string IndexPath => BasePath + ".idx";

    public string RecordsPath => BasePath + ".rec";

    public byte Dtype { get; }

    public RecordCounts Counts { get; }

    /// <summary>Documents in the cache (the used records of the file).</summary>
    public int DocumentCount { get; }

    /// <summary>Ids in the cache, all documents (no separators).</summary>
    public long Tokens => Counts.Tokens;

    /// <summary>Tokens of all documents framed by <paramref name="framing"/>.</summary>
    public long FramedTokens(Packing.Framing framing) => Tokens + ((long)DocumentCount * framing.Extra);

    /// <summary>
    /// The documents in file order, streamed from the <c>.idx</c> and <c>.rec</c> files (a few buffers of memory
    /// whatever their number), each checked as it is read: sizes not negative, pointers equal to the running
    /// sum of sizes, record numbers increasing; at the end, the sizes must add up to the metadata's token count
    /// and fill the <c>.bin</c> exactly. A cache that fails is an <see cref="IoFailureException"/> naming the file.
    /// </summary>
    public IEnumerable<CachedDocument> ReadIndex()
    {
        var n = DocumentCount;
        var width = Shards.LitPkdsFormat.TokenWidth(Dtype);
        using var idx = OpenRead(IndexPath);
        using var rec = OpenRead(RecordsPath);
        using var sizes = new BinaryReader(idx, System.Text.Encoding.UTF8, leaveOpen: true);
        using var pointers = new BinaryReader(OpenRead(IndexPath), System.Text.Encoding.UTF8, leaveOpen: false);
        using var records = new BinaryReader(rec, System.Text.Encoding.UTF8, leaveOpen: true);
        idx.Seek(TokenCacheFormat.IndexHeaderSize, SeekOrigin.Begin);
        pointers.BaseStream.Seek(TokenCacheFormat.IndexHeaderSize + (4L * n), SeekOrigin.Begin);
        long total = 0;
        long lastRecord = -1;
        for (var d = 0; d < n; d++)
        {
            int size;
            long pointer, record;
            try
            {
                size = sizes.ReadInt32();
                pointer = pointers.ReadInt64();
                record = records.ReadInt64();
            }
            catch (IOException e)
            {
                throw new IoFailureException(IndexPath, "cannot read the token cache index: " + e.Message + Rebuild, e);
            }

            if (size < 0 || pointer != total * width || record <= lastRecord)
            {
                throw new IoFailureException(size < 0 || pointer != total * width ? IndexPath : RecordsPath, FormattableString.Invariant(
                    $"token cache index is corrupt at document {d} (size {size}, pointer {pointer}, record {record}){Rebuild}"));
            }

            total += size;
            lastRecord = record;
            yield return new CachedDocument(size, pointer, record);
        }

        if (total != Counts.Tokens || total * width != _binLength)
        {
            throw new IoFailureException(IndexPath, FormattableString.Invariant(
                $"token cache index sizes add up to {total} tokens; the metadata says {Counts.Tokens} and the .bin holds {_binLength / width}{Rebuild}"));
        }
    }

    private string Rebuild => "; delete " + BasePath + ".* to rebuild";

    private static FileStream OpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, ReadBuffer, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(path, "cannot read the token cache: " + e.Message, e);
        }
    }

    /// <summary>Opens an entry whose files have the sizes its metadata gives (checked by the caller).</summary>
    internal static TokenCacheEntry Open(string basePath, RecordCounts counts, long binLength)
    {
        var idxPath = basePath + ".idx";
        var header = new byte[TokenCacheFormat.IndexHeaderSize];
        long idxLength, recLength;
        try
        {
            using var idx = File.OpenHandle(idxPath, FileMode.Open, FileAccess.Read, FileShare.Read);
            idxLength = RandomAccess.GetLength(idx);
            if (idxLength < header.Length || !Util.FileIo.TryReadExactly(idx, header, 0))
            {
                idxLength = -1;
            }

            recLength = new FileInfo(basePath + ".rec").Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(idxPath, "cannot read the token cache: " + e.Message, e);
        }

        if (idxLength < TokenCacheFormat.IndexHeaderSize || !header.AsSpan(0, 9).SequenceEqual(TokenCacheFormat.IndexMagic))
        {
            throw new IoFailureException(idxPath, "not a token cache index (bad magic); delete it to rebuild");
        }

        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("big-endian hosts are not supported");
        }

        var dtype = header[17];
        var n = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(18));
        if (n > int.MaxValue || (dtype != Shards.LitPkdsFormat.DtypeUInt16 && dtype != Shards.LitPkdsFormat.DtypeInt32))
        {
            throw new IoFailureException(idxPath, "token cache index header is corrupt; delete it to rebuild");
        }

        var expected = TokenCacheFormat.IndexHeaderSize + (4L * (long)n) + (8L * (long)n) + (8L * ((long)n + 1));
        if (idxLength != expected || recLength != 8L * (long)n || counts.Used != (long)n)
        {
            throw new IoFailureException(idxPath, "token cache index has the wrong size; delete it to rebuild");
        }

        return new TokenCacheEntry(basePath, dtype, (int)n, binLength, counts);
    }
}
