namespace TinyLlama.Data.Pipeline;

/// <summary>
/// Live counters of a running build, updated by worker threads with Interlocked operations and read by
/// the CLI's progress display. The library never writes to the console itself.
/// </summary>
public sealed class BuildProgress
{
    private long _inputBytesTotal;
    private long _inputBytesDone;
    private long _documents;
    private long _tokens;
    private long _textBytes;
    private long _shardsWritten;
    private long _shardsTotal;

    /// <summary>What the build is doing now: "tokenize", "plan", "pack", "verify".</summary>
    public string Phase { get; set; } = "start";

    public long InputBytesTotal => Interlocked.Read(ref _inputBytesTotal);

    public long InputBytesDone => Interlocked.Read(ref _inputBytesDone);

    public long Documents => Interlocked.Read(ref _documents);

    public long Tokens => Interlocked.Read(ref _tokens);

    public long TextBytes => Interlocked.Read(ref _textBytes);

    public long ShardsWritten => Interlocked.Read(ref _shardsWritten);

    public long ShardsTotal => Interlocked.Read(ref _shardsTotal);

    internal void AddInputTotal(long bytes) => Interlocked.Add(ref _inputBytesTotal, bytes);

    internal void AddInputDone(long bytes) => Interlocked.Add(ref _inputBytesDone, bytes);

    internal void AddDocument(long tokens, long textBytes)
    {
        Interlocked.Increment(ref _documents);
        Interlocked.Add(ref _tokens, tokens);
        Interlocked.Add(ref _textBytes, textBytes);
    }

    internal void SetShardsTotal(long total) => Interlocked.Exchange(ref _shardsTotal, total);

    internal void AddShard() => Interlocked.Increment(ref _shardsWritten);
}
