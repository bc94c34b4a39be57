using System.Security.Cryptography;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Cache;

/// <summary>
/// The cache entry of one input file while it is being built: its reader (used by one thread at a time),
/// its <c>.bin</c> being written in batch order, and the counts, sizes and record numbers that go into
/// <c>.idx/.rec/.json</c> when the last batch is written. The scheduling flags are guarded by the pool's lock.
/// </summary>
internal sealed class FileBuild : IDisposable
{
    private readonly TokenCache _cache;
    private readonly IncrementalHash _binHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly RecordCounts _counts = new();
    private readonly List<int> _sizes = [];
    private readonly List<long> _records = [];
    private readonly long _fileLength;
    private IRecordReader? _reader;
    private AtomicFile? _bin;
    private long _reported;

    public FileBuild(TokenCache cache, string inputPath, ReaderOptions options, string basePath)
    {
        _cache = cache;
        InputPath = inputPath;
        Options = options;
        BasePath = basePath;
        _fileLength = new FileInfo(inputPath).Length;
        _reader = RecordReaders.Open(inputPath, options);
        try
        {
            _bin = new AtomicFile(basePath + ".bin");
        }
        catch
        {
            _reader.Dispose();
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
                    _sizes.Add(r.Tokens);
                    _records.Add(r.Index);
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

        progress?.AddInputDone(batch.FileBytesConsumed - _reported);
        _reported = batch.FileBytesConsumed;
    }

    /// <summary>After the last batch: commits the <c>.bin</c>, then writes <c>.idx</c>, <c>.rec</c> and, last, <c>.json</c>.</summary>
    public void Finish()
    {
        var bin = _bin ?? throw new InvalidOperationException("the cache file is closed");
        if (!_counts.Balances)
        {
            throw new InvalidOperationException($"{InputPath}: record accounting does not balance");
        }

        var binSha = Convert.ToHexStringLower(_binHash.GetHashAndReset());
        var binLength = bin.Stream.Length;
        bin.Commit();
        _bin = null;
        _cache.WriteEntryFiles(this, _counts, _sizes, _records, binSha, binLength, LitPkdsFormat.TokenWidth(_cache.Dtype));
    }

    public void Dispose()
    {
        _reader?.Dispose();
        _reader = null;
        _bin?.Dispose();
        _bin = null;
        _binHash.Dispose();
    }
}
