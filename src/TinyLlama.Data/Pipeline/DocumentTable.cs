using System.Buffers.Binary;
using System.Globalization;
using Microsoft.Win32.SafeHandles;
using TinyLlama.Data.Cache;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Pipeline;

/// <summary>
/// What the scheduler and the packer need of every document of every source, looked up by (source, document
/// in the source): its size, where its ids are in its file's <c>.bin</c>, and its record number. The
/// documents are not held in memory: at SlimPajama's ~590 million documents that would be 12 GB. They are
/// copied, in one sequential pass that also checks every cache index, into one unlinked temp file of 20
/// bytes a document, and read back through a bounded cache of its blocks. The process's memory is then the
/// block cache (<see cref="DefaultCacheBytes"/>) plus four bytes a file, whatever the number of documents.
/// </summary>
/// <remarks>
/// <para>
/// Record layout, little-endian: <c>int32 tokens, int64 byte offset, int64 record</c>; a source's
/// documents follow its files in order. The cache is direct-mapped: block b (51 records, 1,020 bytes, one
/// <c>pread</c>) lives in slot b mod slots. Up to 3.4 million documents (the default 64 MB) every block stays
/// cached after its first read. Above, a shuffled draw mostly misses, at the cost of one small read (about
/// a microsecond); the packer's lookup of the document the scheduler just drew hits the same block unless
/// the one draw in between took its slot. Sequential passes (totals) read 64 blocks at once, past the cache.
/// </para>
/// <para>
/// One temp file per table (per process): it is created in the temp folder the build is given
/// (<see cref="BuildOptions.TempDirectory"/>) and unlinked at once on Unix (closed-and-deleted elsewhere), so a
/// killed build leaves nothing behind. The table belongs to the
/// thread that built it (the one that walks the schedule and cuts shards); a lookup from another thread throws
/// instead of racing on the block cache.
/// </para>
/// </remarks>
internal sealed class DocumentTable : IDisposable
{
    public const int RecordSize = 20;
    public const int RecordsPerBlock = 51;
    public const int BlockBytes = RecordSize * RecordsPerBlock;

    /// <summary>The default bound on the block cache: 65,793 blocks, 3.4 million documents.</summary>
    public const long DefaultCacheBytes = 64L << 20;

    /// <summary>Blocks a sequential pass reads at once.</summary>
    private const int SequentialBlocks = 64;

    private const int WriteRecords = 52_428;

    private readonly string _path;
    private readonly SafeFileHandle _handle;
    private readonly int[][] _fileStarts;
    private readonly long[] _sourceBase;
    private readonly long _records;
    private readonly int _owner = Environment.CurrentManagedThreadId;
    private readonly byte[] _cache;
    private readonly long[] _blockIn;

    private DocumentTable(string path, SafeFileHandle handle, int[][] fileStarts, long[] sourceBase, long records, long cacheBytes)
    {
        _path = path;
        _handle = handle;
        _fileStarts = fileStarts;
        _sourceBase = sourceBase;
        _records = records;
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

    /// <summary>
    /// Reads (and checks) the index of every cache entry, per source in file order, into a new table in
    /// <paramref name="directory"/>.
    /// </summary>
    public static DocumentTable Build(IReadOnlyList<IReadOnlyList<TokenCacheEntry>> entries, string directory, CancellationToken cancellationToken, long cacheBytes = DefaultCacheBytes)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var path = Path.Combine(directory, "tinyllama-documents" + Util.AtomicFile.TempMarker + Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture));
        long documents = 0;
        foreach (var files in entries)
        {
            foreach (var entry in files)
            {
                documents += entry.DocumentCount;
            }
        }

        // Said with every failure to create or write it: a full temp folder is the likely cause at scale.
        var size = string.Create(CultureInfo.InvariantCulture,
            $"; the table needs {documents * RecordSize:N0} bytes ({RecordSize} per document, {documents:N0} documents): give the build a temp folder with that much free space (--temp-dir, or TMPDIR)");
        SafeFileHandle handle;
        try
        {
            Directory.CreateDirectory(directory);
            handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
            if (!OperatingSystem.IsWindows())
            {
                File.Delete(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(path, "cannot create the document table: " + e.Message + size, e);
        }

        try
        {
            var fileStarts = new int[entries.Count][];
            var sourceBase = new long[entries.Count + 1];
            var buffer = new byte[WriteRecords * RecordSize];
            var used = 0;
            long written = 0;
            long records = 0;
            for (var s = 0; s < entries.Count; s++)
            {
                sourceBase[s] = records;
                fileStarts[s] = new int[entries[s].Count + 1];
                long count = 0;
                for (var f = 0; f < entries[s].Count; f++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    fileStarts[s][f] = (int)count;
                    foreach (var d in entries[s][f].ReadIndex())
                    {
                        var at = buffer.AsSpan(used * RecordSize, RecordSize);
                        BinaryPrimitives.WriteInt32LittleEndian(at, d.Tokens);
                        BinaryPrimitives.WriteInt64LittleEndian(at[4..], d.ByteOffset);
                        BinaryPrimitives.WriteInt64LittleEndian(at[12..], d.Record);
                        if (++used == WriteRecords)
                        {
                            Write(handle, path, buffer, written, size);
                            written += buffer.Length;
                            used = 0;
                        }
                    }

                    count += entries[s][f].DocumentCount;
                    if (count > int.MaxValue)
                    {
                        throw new PlanException(string.Create(CultureInfo.InvariantCulture,
                            $"source {s + 1} has more than {int.MaxValue:N0} documents; split it into several sources"));
                    }
                }

                fileStarts[s][entries[s].Count] = (int)count;
                records += count;
            }

            sourceBase[entries.Count] = records;
            Write(handle, path, buffer.AsSpan(0, used * RecordSize), written, size);
            return new DocumentTable(path, handle, fileStarts, sourceBase, records, cacheBytes);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Documents of source <paramref name="source"/>, all files.</summary>
    public int DocumentCount(int source) => _fileStarts[source][^1];

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
        var r = _sourceBase[source] + document;
        if ((uint)document >= (uint)DocumentCount(source))
        {
            throw new ArgumentOutOfRangeException(nameof(document));
        }

        if (Environment.CurrentManagedThreadId != _owner)
        {
            throw new InvalidOperationException("the document table is used by the thread that built it only");
        }

        var block = r / RecordsPerBlock;
        var slot = (int)(block % _blockIn.Length);
        if (_blockIn[slot] != block)
        {
            _blockIn[slot] = -1;
            Read(block, 1, _cache.AsSpan(slot * BlockBytes, BlockBytes));
            _blockIn[slot] = block;
            BlockReads++;
        }

        return Parse(_cache.AsSpan((slot * BlockBytes) + ((int)(r - (block * RecordsPerBlock)) * RecordSize), RecordSize));
    }

    /// <summary>
    /// The sizes of the source's documents in order, read block by block past the cache (a pass over a
    /// billion documents must not evict the blocks the schedule is using).
    /// </summary>
    public IEnumerable<int> SequentialTokens(int source)
    {
        var buffer = new byte[SequentialBlocks * BlockBytes];
        var first = _sourceBase[source];
        var end = _sourceBase[source + 1];
        var from = -1L;
        for (var r = first; r < end; r++)
        {
            var b = r / RecordsPerBlock;
            if (from < 0 || b >= from + SequentialBlocks)
            {
                from = b;
                Read(b, SequentialBlocks, buffer);
            }

            yield return BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan((int)(r - (from * RecordsPerBlock)) * RecordSize));
        }
    }

    private static CachedDocument Parse(ReadOnlySpan<byte> bytes) => new(
        BinaryPrimitives.ReadInt32LittleEndian(bytes),
        BinaryPrimitives.ReadInt64LittleEndian(bytes[4..]),
        BinaryPrimitives.ReadInt64LittleEndian(bytes[12..]));

    /// <summary>Document <paramref name="document"/> of file <paramref name="file"/> of the source.</summary>
    public CachedDocument Get(int source, int file, int document) => Get(source, _fileStarts[source][file] + document);

    /// <summary>Reads <paramref name="blocks"/> blocks from <paramref name="block"/> on (fewer at the end of the table).</summary>
    private void Read(long block, int blocks, Span<byte> into)
    {
        var offset = block * BlockBytes;
        var length = (int)Math.Min((long)blocks * BlockBytes, (_records * RecordSize) - offset);
        var done = 0;
        try
        {
            while (done < length)
            {
                var n = RandomAccess.Read(_handle, into[done..length], offset + done);
                if (n == 0)
                {
                    throw new IOException("the file ends early");
                }

                done += n;
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
