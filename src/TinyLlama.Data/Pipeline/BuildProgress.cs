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

    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly List<(string Phase, TimeSpan Start, TimeSpan Cpu, TimeSpan Jit)> _phases = [("start", TimeSpan.Zero, Environment.CpuUsage.TotalTime, System.Runtime.JitInfo.GetCompilationTime())];
    private readonly List<string> _warnings = [];

    /// <summary>What the build is doing now: "tokenize", "plan", "pack", "verify".</summary>
    public string Phase
    {
        get
        {
            lock (_phases)
            {
                return _phases[^1].Phase;
            }
        }

        set
        {
            lock (_phases)
            {
                _phases.Add((value, _clock.Elapsed, Environment.CpuUsage.TotalTime, System.Runtime.JitInfo.GetCompilationTime()));
            }
        }
    }

    /// <summary>
    /// Something the user should know that does not stop the build (the CLI prints each one on stderr as it
    /// comes): a choice that will cost them, said once, before it does.
    /// </summary>
    public void Warn(string message)
    {
        lock (_warnings)
        {
            _warnings.Add(message);
        }
    }

    /// <summary>The warnings so far, in order.</summary>
    public IReadOnlyList<string> Warnings
    {
        get
        {
            lock (_warnings)
            {
                return [.. _warnings];
            }
        }
    }

    /// <summary>
    /// What each phase so far cost (the current one up to now): wall time, the process's CPU time (user + system,
    /// every thread) and the time the JIT spent compiling, in the order the phases started.
    /// </summary>
    public IReadOnlyList<(string Phase, TimeSpan Wall, TimeSpan Cpu, TimeSpan Jit)> PhaseCosts()
    {
        lock (_phases)
        {
            var now = (_clock.Elapsed, Environment.CpuUsage.TotalTime, System.Runtime.JitInfo.GetCompilationTime());
            return [.. _phases.Select((p, i) =>
            {
                var (wall, cpu, jit) = i + 1 < _phases.Count ? (_phases[i + 1].Start, _phases[i + 1].Cpu, _phases[i + 1].Jit) : now;
                return (p.Phase, wall - p.Start, cpu - p.Cpu, jit - p.Jit);
            })];
        }
    }

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
