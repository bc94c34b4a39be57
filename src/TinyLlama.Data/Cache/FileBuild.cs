using System.Security.Cryptography;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Cache;

/// <summary>
/// The cache entry of one input file while it is being built: its reader (used by one thread at a time),
/// its <c>.bin</c> and <c>.rec</c> being written in batch order, the document sizes going to an unlinked temp
/// file (the <c>.idx</c> needs the count first and is written from it at the end), and the counts that go into
/// <c>.json</c>. Nothing is kept per document in memory, so a file of any number of documents builds in the
/// same memory. The scheduling flags are guarded by the pool's lock.
/// </summary>
internal sealed class FileBuild : IDisposable
{
    private readonly TokenCache _cache;
    private readonly IncrementalHash _binHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly RecordCounts _counts = new();
    private readonly IncrementalHash _recHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly long _fileLength;
    private readonly string _sizesPath;
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _sizes;
    private readonly List<byte> _batchSizes = [];
    private readonly List<byte> _batchRecords = [];
    private IRecordReader? _reader;
    private AtomicFile? _bin;
    private AtomicFile? _rec;
    private long _documents;
    private long _reported;

    public FileBuild(TokenCache cache, string inputPath, ReaderOptions options, string basePath)
    {
        _cache = cache;
        InputPath = inputPath;
        Options = options;
        BasePath = basePath;
        _fileLength = new FileInfo(inputPath).Length;
        _sizesPath = basePath + ".sizes" + AtomicFile.TempMarker + Guid.NewGuid().ToString("N", System.Globalization.CultureInfo.InvariantCulture);
        _reader = RecordReaders.Open(inputPath, options);
        try
        {
            _bin = new AtomicFile(basePath + ".bin");
            _rec = new AtomicFile(basePath + ".rec");
            try
            {
                _sizes = FileIo.CreateUnlinked(_sizesPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new Errors.IoFailureException(_sizesPath, "cannot create: " + e.Message, e);
            }
        }
        catch
        {
            _reader.Dispose();
            _bin?.Dispose();
            _rec?.Dispose();
            throw;
        }
    }

    public string InputPath { get; }

    public ReaderOptions Options { get; }

    public string BasePath { get; }

    // Scheduling state, guarded by the pool's lock.
    public bool ReaderBusy { get; set; }

    public bool ReaderDone { get; set; }

    public bool WriterBusy { get; set; }

    public long NextReadSequence { get; set; }

    public long NextWriteSequence { get; set; }

    public Dictionary<long, TokenizeBatch> Tokenized { get; } = [];

    /// <summary>Reads the next records into the batch; at the end of the file marks it last and closes the reader.</summary>
    public void Read(TokenizeBatch batch, CancellationToken cancellationToken)
    {
        var reader = _reader ?? throw new InvalidOperationException("the reader is closed");
        while (!batch.IsFull)
        {
            if (!reader.MoveNext(cancellationToken))
            {
                batch.IsLast = true;
                break;
            }

            batch.Add(reader.Current);
        }

        if (batch.IsLast)
        {
            batch.FileBytesConsumed = _fileLength;
            reader.Dispose();
            _reader = null;
        }
        else
        {
            batch.FileBytesConsumed = reader.FileBytesConsumed;
        }
    }

    /// <summary>Appends a tokenized batch (the next in order) to the <c>.bin</c> and the accounting.</summary>
    public void Write(TokenizeBatch batch, BuildProgress? progress)
    {
        var bin = _bin ?? throw new InvalidOperationException("the cache file is closed");
        var tokens = batch.TokenBytes;
        try
        {
            bin.Stream.Write(tokens);
        }
        catch (IOException e)
        {
            throw new Errors.IoFailureException(bin.TempPath, "cannot write: " + e.Message, e);
        }

        _binHash.AppendData(tokens);
        foreach (ref readonly var r in batch.Records)
        {
            _counts.Read++;
            _counts.ReplacedSequences += r.Replaced;
            switch (r.Outcome)
            {
                case RecordOutcome.Used:
                    Append(_batchSizes, r.Tokens);
                    Append(_batchRecords, r.Index);
                    _counts.Used++;
                    _counts.Tokens += r.Tokens;
                    _counts.TextBytes += r.TextLength;
                    progress?.AddDocument(r.Tokens, r.TextLength);
                    break;
                case RecordOutcome.Empty:
                    _counts.Empty++;
                    break;
                case RecordOutcome.Filtered:
                    _counts.Filtered[r.Reason ?? "filter"] = _counts.Filtered.GetValueOrDefault(r.Reason ?? "filter") + 1;
                    break;
                case RecordOutcome.Rejected:
                    _counts.Rejected[r.Reason ?? "rejected"] = _counts.Rejected.GetValueOrDefault(r.Reason ?? "rejected") + 1;
                    break;
                default:
                    throw new InvalidOperationException("unknown record outcome");
            }
        }

        WriteIndexParts();
        progress?.AddInputDone(batch.FileBytesConsumed - _reported);
        _reported = batch.FileBytesConsumed;
    }

    private static void Append(List<byte> into, int value)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b, value);
        into.AddRange(b);
    }

    private static void Append(List<byte> into, long value)
    {
        Span<byte> b = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(b, value);
        into.AddRange(b);
    }

    /// <summary>The batch's sizes to the temp file and its record numbers to the <c>.rec</c>.</summary>
    private void WriteIndexParts()
    {
        var rec = _rec ?? throw new InvalidOperationException("the cache file is closed");
        var sizes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_batchSizes);
        var records = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_batchRecords);
        try
        {
            RandomAccess.Write(_sizes, sizes, 4 * _documents);
        }
        catch (IOException e)
        {
            throw new Errors.IoFailureException(_sizesPath, "cannot write: " + e.Message, e);
        }

        rec.Stream.Write(records);
        _recHash.AppendData(records);
        _documents += sizes.Length / 4;
        _batchSizes.Clear();
        _batchRecords.Clear();
    }

    /// <summary>After the last batch: commits the <c>.bin</c> and the <c>.rec</c>, writes the <c>.idx</c> and, last, the <c>.json</c>.</summary>
    public void Finish()
    {
        var bin = _bin ?? throw new InvalidOperationException("the cache file is closed");
        if (!_counts.Balances)
        {
            throw new InvalidOperationException($"{InputPath}: record accounting does not balance");
        }

        var rec = _rec ?? throw new InvalidOperationException("the cache file is closed");
        var binFile = new TokenCache.FileSummary(bin.Stream.Length, Convert.ToHexStringLower(_binHash.GetHashAndReset()));
        bin.Commit();
        _bin = null;
        var recFile = new TokenCache.FileSummary(rec.Stream.Length, Convert.ToHexStringLower(_recHash.GetHashAndReset()));
        rec.Commit();
        _rec = null;
        var idxFile = WriteIndex(LitPkdsFormat.TokenWidth(_cache.Dtype));
        _cache.WriteEntryMetadata(this, _counts, _documents, binFile, idxFile, recFile);
    }

    /// <summary>
    /// Writes the Megatron <c>.idx</c> from the sizes file, streaming: header, sizes, pointers (their running
    /// sum), document indices.
    /// </summary>
    private TokenCache.FileSummary WriteIndex(int width)
    {
        const int Chunk = 1 << 14;
        using var idx = new AtomicFile(BasePath + ".idx");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var n = _documents;
        var buffer = new byte[8 * Chunk];
        void Put(ReadOnlySpan<byte> bytes)
        {
            idx.Stream.Write(bytes);
            hash.AppendData(bytes);
        }

        TokenCacheFormat.WriteIndexHeader(buffer, _cache.Dtype, n);
        Put(buffer.AsSpan(0, TokenCacheFormat.IndexHeaderSize));
        var sizes = new byte[4 * Chunk];
        for (long d = 0; d < n; d += Chunk)
        {
            Put(ReadSizes(d, (int)Math.Min(Chunk, n - d), sizes));
        }

        long pointer = 0;
        for (long d = 0; d < n; d += Chunk)
        {
            var count = (int)Math.Min(Chunk, n - d);
            var chunk = ReadSizes(d, count, sizes);
            for (var i = 0; i < count; i++)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(8 * i), pointer);
                pointer += (long)System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(chunk[(4 * i)..]) * width;
            }

            Put(buffer.AsSpan(0, 8 * count));
        }

        for (long d = 0; d <= n; d += Chunk)
        {
            var count = (int)Math.Min(Chunk, n + 1 - d);
            for (var i = 0; i < count; i++)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(8 * i), d + i);
            }

            Put(buffer.AsSpan(0, 8 * count));
        }

        var summary = new TokenCache.FileSummary(idx.Stream.Length, Convert.ToHexStringLower(hash.GetHashAndReset()));
        idx.Commit();
        return summary;
    }

    private ReadOnlySpan<byte> ReadSizes(long first, int count, byte[] into)
    {
        var span = into.AsSpan(0, 4 * count);
        try
        {
            if (!FileIo.TryReadExactly(_sizes, span, 4 * first))
            {
                throw new IOException("the file ends early");
            }
        }
        catch (IOException e)
        {
            throw new Errors.IoFailureException(_sizesPath, "cannot read: " + e.Message, e);
        }

        return span;
    }

    public void Dispose()
    {
        _reader?.Dispose();
        _reader = null;
        _bin?.Dispose();
        _bin = null;
        _rec?.Dispose();
        _rec = null;
        _sizes.Dispose();
        _binHash.Dispose();
        _recHash.Dispose();
    }
}
