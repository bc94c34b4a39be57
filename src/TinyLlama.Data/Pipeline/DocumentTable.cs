using System.Buffers.Binary;
using System.Globalization;
using Microsoft.Win32.SafeHandles;
using TinyLlama.Data.Cache;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Pipeline;

/// <summary>
/// What the scheduler and the packer need of every document of every source, looked up by (source, document
/// in the source): its size, where its ids are in its file's <c>.bin</c>, and its record number. The
/// documents are not held in memory: at SlimPajama's ~590 million documents that would be gigabytes. They are
/// copied, in one sequential pass that also checks every cache index, into one unlinked temp file of about
/// 8 bytes a document, and read back through a bounded cache of its blocks. The process's memory is then the
/// block cache (<see cref="DefaultCacheBytes"/>) plus a few bytes a file, whatever the number of documents.
/// </summary>
/// <remarks>
/// <para>
/// Layout, little-endian, in blocks of 64 documents (the table's documents in order: sources, then their
/// files, then the documents of each file): <c>int64</c> the offset, in tokens, of the block's first document
/// within its file's <c>.bin</c>; then per document <c>int32 tokens, int32 record − document-in-file</c> (the
/// records skipped before it in its file). 520 bytes a block. A document's offset is the block's offset, or 0
/// where its file starts inside the block, plus the sizes before it in the block: at most 63 additions.
/// </para>
/// <para>
/// The cache is direct-mapped: block b (one <c>pread</c>) lives in slot b mod slots. Up to 8.2 million
/// documents (the default 64 MB) every block stays cached after its first read. Above, a shuffled draw mostly
/// misses, at the cost of one small read (under a microsecond here); the packer's lookup of the document the
/// scheduler just drew hits the same block unless the one draw in between took its slot. Sequential passes
/// (totals) read 64 blocks at once, past the cache.
/// </para>
/// <para>
/// One temp file per table (per process): it is created in the temp folder the build is given
/// (<see cref="BuildOptions.TempDirectory"/>) and unlinked at once on Unix (closed-and-deleted elsewhere), so a
/// killed build leaves nothing behind. The table belongs to the thread that built it (the one that walks the
/// schedule and cuts shards); a lookup from another thread throws instead of racing on the block cache.
/// </para>
/// </remarks>
internal sealed class DocumentTable : IDisposable
{
    public const int RecordsPerBlock = 64;
    public const int BlockBytes = HeaderSize + (RecordsPerBlock * RecordSize);

    /// <summary>The default bound on the block cache: 129,055 blocks, 8.2 million documents.</summary>
    public const long DefaultCacheBytes = 64L << 20;

    private const int HeaderSize = 8;
    private const int RecordSize = 8;

    /// <summary>Blocks a sequential pass reads at once, and blocks written at once.</summary>
    private const int SequentialBlocks = 64;
    private const int WriteBlocks = 2048;

    private readonly string _path;
    private readonly SafeFileHandle _handle;
    private readonly int[][] _fileStarts;
    private readonly int[][] _widths;
    private readonly long[] _sourceBase;
    private readonly long[] _sourceTokens;
    private readonly long _blocks;
    private readonly int _owner = Environment.CurrentManagedThreadId;
    private readonly byte[] _cache;
    private readonly long[] _blockIn;

    private DocumentTable(string path, SafeFileHandle handle, int[][] fileStarts, int[][] widths, long[] sourceBase, long[] sourceTokens, long cacheBytes)
    {
        _sourceTokens = sourceTokens;
        _path = path;
        _handle = handle;
        _fileStarts = fileStarts;
        _widths = widths;
        _sourceBase = sourceBase;
        _blocks = Blocks(sourceBase[^1]);
        var slots = (int)Math.Clamp(cacheBytes / BlockBytes, 1, Array.MaxLength / BlockBytes);

        // Not zeroed: the pages of the slots never used are never touched, so a small table costs little memory.
        _cache = GC.AllocateUninitializedArray<byte>(slots * BlockBytes);
        _blockIn = new long[slots];
        Array.Fill(_blockIn, -1);
    }

    /// <summary>Sources in the table.</summary>
    public int SourceCount => _fileStarts.Length;

    /// <summary>Blocks read into the cache so far (misses).</summary>
    public long BlockReads { get; private set; }

    /// <summary>Bytes of the table of <paramref name="documents"/> documents.</summary>
    public static long TableBytes(long documents) => Blocks(documents) * BlockBytes;

    /// <summary>Documents in all the entries: what a table of them holds.</summary>
    public static long DocumentsIn(IReadOnlyList<IReadOnlyList<TokenCacheEntry>> entries) => entries.Sum(files => files.Sum(e => (long)e.DocumentCount));

    private static long Blocks(long documents) => (documents + RecordsPerBlock - 1) / RecordsPerBlock;

    /// <summary>
    /// Reads (and checks) the index of every cache entry, per source in file order, into a new table in
    /// <paramref name="directory"/>.
    /// </summary>
    public static DocumentTable Build(IReadOnlyList<IReadOnlyList<TokenCacheEntry>> entries, string directory, CancellationToken cancellationToken, long cacheBytes = DefaultCacheBytes)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var path = Path.Combine(directory, "tinyllama-documents" + Util.AtomicFile.TempMarker + Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture));
        var documents = DocumentsIn(entries);

        // Said with every failure to create or write it: a full temp folder is the likely cause at scale.
        var size = string.Create(CultureInfo.InvariantCulture,
            $"; the table needs {TableBytes(documents):N0} bytes (about 8 per document, {documents:N0} documents): give the build a temp folder with that much free space (--temp-dir, or TMPDIR)");
        SafeFileHandle handle;
        try
        {
            handle = Util.FileIo.CreateUnlinked(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(path, "cannot create the document table: " + e.Message + size, e);
        }

        try
        {
            var fileStarts = new int[entries.Count][];
            var widths = new int[entries.Count][];
            var sourceBase = new long[entries.Count + 1];
            var sourceTokens = new long[entries.Count];
            var buffer = new byte[WriteBlocks * BlockBytes];
            long bufferFirstBlock = 0;
            long r = 0;
            for (var s = 0; s < entries.Count; s++)
            {
                sourceBase[s] = r;
                fileStarts[s] = new int[entries[s].Count + 1];
                widths[s] = new int[entries[s].Count];
                long count = 0;
                for (var f = 0; f < entries[s].Count; f++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var entry = entries[s][f];
                    fileStarts[s][f] = (int)count;
                    widths[s][f] = Shards.LitPkdsFormat.TokenWidth(entry.Dtype);
                    long inFile = 0;
                    foreach (var d in entry.ReadIndex())
                    {
                        var block = r / RecordsPerBlock;
                        if (block - bufferFirstBlock == WriteBlocks)
                        {
                            Write(handle, path, buffer, bufferFirstBlock * BlockBytes, size);
                            bufferFirstBlock = block;
                        }

                        var at = buffer.AsSpan((int)(block - bufferFirstBlock) * BlockBytes);
                        var j = (int)(r - (block * RecordsPerBlock));
                        if (j == 0)
                        {
                            BinaryPrimitives.WriteInt64LittleEndian(at, d.ByteOffset / widths[s][f]);
                        }

                        var skipped = d.Record - inFile;
                        if (skipped > int.MaxValue)
                        {
                            throw new PlanException(string.Create(CultureInfo.InvariantCulture,
                                $"{entry.RecordsPath}: more than {int.MaxValue:N0} records skipped before document {inFile}; not supported"));
                        }

                        BinaryPrimitives.WriteInt32LittleEndian(at[(HeaderSize + (j * RecordSize))..], d.Tokens);
                        BinaryPrimitives.WriteInt32LittleEndian(at[(HeaderSize + (j * RecordSize) + 4)..], (int)skipped);
                        sourceTokens[s] += d.Tokens;
                        inFile++;
                        r++;
                    }

                    count += entry.DocumentCount;
                    if (count > int.MaxValue)
                    {
                        throw new PlanException(string.Create(CultureInfo.InvariantCulture,
                            $"source {s + 1} has more than {int.MaxValue:N0} documents; split it into several sources"));
                    }
                }

                fileStarts[s][entries[s].Count] = (int)count;
            }

            sourceBase[entries.Count] = r;

            // The last block whole (its unused records are never read): every block read is BlockBytes long.
            Write(handle, path, buffer.AsSpan(0, (int)(Blocks(r) - bufferFirstBlock) * BlockBytes), bufferFirstBlock * BlockBytes, size);
            return new DocumentTable(path, handle, fileStarts, widths, sourceBase, sourceTokens, cacheBytes);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Documents of source <paramref name="source"/>, all files.</summary>
    public int DocumentCount(int source) => _fileStarts[source][^1];

    /// <summary>Tokens of all documents of source <paramref name="source"/> (no separators), added up as the table was made.</summary>
    public long TokenCount(int source) => _sourceTokens[source];

    /// <summary>Files of source <paramref name="source"/>.</summary>
    public int FileCount(int source) => _fileStarts[source].Length - 1;

    /// <summary>The source's document number of the first document of <paramref name="file"/>.</summary>
    public int FileStart(int source, int file) => _fileStarts[source][file];

    /// <summary>The file holding document <paramref name="document"/> of the source (files may be empty).</summary>
    public int FileOf(int source, int document)
    {
        var starts = _fileStarts[source];
        int lo = 0, hi = starts.Length - 2;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) >>> 1;
            if (starts[mid] <= document)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    /// <summary>Document <paramref name="document"/> (in the source's file order) of source <paramref name="source"/>.</summary>
    public CachedDocument Get(int source, int document)
    {
        Check(source, document);
        var file = FileOf(source, document);
        return Get(source, file, document - _fileStarts[source][file]);
    }

    /// <summary>Document <paramref name="document"/> of file <paramref name="file"/> of the source.</summary>
    public CachedDocument Get(int source, int file, int document)
    {
        var first = _fileStarts[source][file];
        if ((uint)document >= (uint)(_fileStarts[source][file + 1] - first))
        {
            throw new ArgumentOutOfRangeException(nameof(document));
        }

        CheckThread();
        var fileFirst = _sourceBase[source] + first;
        var r = fileFirst + document;
        var block = r / RecordsPerBlock;
        var blockFirst = block * RecordsPerBlock;
        var bytes = Block(block);
        var j = (int)(r - blockFirst);

        // Offset in tokens: from the block's first document when the file started before the block, else
        // from the file's first document (offset 0) inside the block.
        long offset;
        int from;
        if (fileFirst < blockFirst)
        {
            offset = BinaryPrimitives.ReadInt64LittleEndian(bytes);
            from = 0;
        }
        else
        {
            offset = 0;
            from = (int)(fileFirst - blockFirst);
        }

        for (var k = from; k < j; k++)
        {
            offset += BinaryPrimitives.ReadInt32LittleEndian(bytes[(HeaderSize + (k * RecordSize))..]);
        }

        var record = bytes[(HeaderSize + (j * RecordSize))..];
        return new CachedDocument(
            BinaryPrimitives.ReadInt32LittleEndian(record),
            offset * _widths[source][file],
            document + (long)BinaryPrimitives.ReadInt32LittleEndian(record[4..]));
    }

    /// <summary>The size of document <paramref name="document"/> of the source (what the scheduler draws).</summary>
    public int Tokens(int source, int document)
    {
        Check(source, document);
        var r = _sourceBase[source] + document;
        var block = r / RecordsPerBlock;
        return BinaryPrimitives.ReadInt32LittleEndian(Block(block)[(HeaderSize + ((int)(r - (block * RecordsPerBlock)) * RecordSize))..]);
    }

    /// <summary>
    /// The sizes of the source's documents in order, read 64 blocks at a time past the cache (a pass over a
    /// billion documents must not evict the blocks the schedule is using).
    /// </summary>
    public IEnumerable<int> SequentialTokens(int source)
    {
        var buffer = new byte[SequentialBlocks * BlockBytes];
        var from = -1L;
        for (var r = _sourceBase[source]; r < _sourceBase[source + 1]; r++)
        {
            var b = r / RecordsPerBlock;
            if (from < 0 || b >= from + SequentialBlocks)
            {
                from = b;
                Read(b, SequentialBlocks, buffer);
            }

            var at = (int)(b - from) * BlockBytes;
            yield return BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(at + HeaderSize + ((int)(r - (b * RecordsPerBlock)) * RecordSize)));
        }
    }

    private void Check(int source, int document)
    {
        if ((uint)document >= (uint)DocumentCount(source))
        {
            throw new ArgumentOutOfRangeException(nameof(document));
        }

        CheckThread();
    }

    private void CheckThread()
    {
        if (Environment.CurrentManagedThreadId != _owner)
        {
            throw new InvalidOperationException("the document table is used by the thread that built it only");
        }
    }

    /// <summary>The cached bytes of block <paramref name="block"/>, read on a miss.</summary>
    private ReadOnlySpan<byte> Block(long block)
    {
        var slot = (int)(block % _blockIn.Length);
        var bytes = _cache.AsSpan(slot * BlockBytes, BlockBytes);
        if (_blockIn[slot] != block)
        {
            _blockIn[slot] = -1;
            Read(block, 1, bytes);
            _blockIn[slot] = block;
            BlockReads++;
        }

        return bytes;
    }

    /// <summary>Reads <paramref name="blocks"/> blocks from <paramref name="block"/> on (fewer at the end of the table).</summary>
    private void Read(long block, int blocks, Span<byte> into)
    {
        var offset = block * BlockBytes;
        var length = (int)(Math.Min(block + blocks, _blocks) - block) * BlockBytes;
        try
        {
            if (!Util.FileIo.TryReadExactly(_handle, into[..length], offset))
            {
                throw new IOException("the file ends early");
            }
        }
        catch (IOException e)
        {
            throw new IoFailureException(_path, "cannot read the document table (an unlinked temp file): " + e.Message, e);
        }
    }

    private static void Write(SafeFileHandle handle, string path, ReadOnlySpan<byte> bytes, long offset, string size)
    {
        try
        {
            RandomAccess.Write(handle, bytes, offset);
        }
        catch (IOException e)
        {
            throw new IoFailureException(path, "cannot write the document table: " + e.Message + size, e);
        }
    }

    public void Dispose() => _handle.Dispose();
}
