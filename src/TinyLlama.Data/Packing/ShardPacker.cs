using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using TinyLlama.Data.Cache;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Packing;

/// <summary>Everything the packer needs besides the units.</summary>
public sealed record PackContext
{
    public required OutputLayout Layout { get; init; }

    public required long ChunkSize { get; init; }

    public required byte Dtype { get; init; }

    public required Framing Framing { get; init; }

    public required SeparatorPolicy Separator { get; init; }

    public required TailPolicy Tail { get; init; }

    public required int PadId { get; init; }

    public required int VocabularySize { get; init; }

    public required IReadOnlyList<string> SourceNames { get; init; }

    /// <summary>Per source, per file: the display path recorded in sidecars (relative to the spec).</summary>
    public required IReadOnlyList<IReadOnlyList<string>> FilePaths { get; init; }

    /// <summary>Per source, per file: the token cache entry.</summary>
    public required IReadOnlyList<IReadOnlyList<TokenCacheEntry>> Caches { get; init; }

    public required IReadOnlyList<string> StageNames { get; init; }

    public required string SpecHash { get; init; }

    public required string TokenizerSha256 { get; init; }
}

/// <summary>What the packer wrote.</summary>
public sealed record PackResult(IReadOnlyList<ShardInfo> Shards, long TokensIn, long TailDroppedTokens, long TailPaddedTokens)
{
    /// <summary>The most memory the shards in flight took at once (their buffers and span lists; see <see cref="ShardPacker.InFlightBudget"/>).</summary>
    public long PeakInFlightBytes { get; init; }
}

public sealed record ShardInfo(string Name, string Sha256, IReadOnlyDictionary<string, long> TokensBySource, long Bos, long Eos, long Pad);

/// <summary>What the packer does with one shard.</summary>
public enum ShardAction
{
    /// <summary>Write it (temp file, then rename), replacing whatever is there.</summary>
    Write,

    /// <summary>Keep the shard and sidecar already there when they are exactly what would be written; else write.</summary>
    Resume,

    /// <summary>They must already be there, exactly as they would be written (the finalize step); else fail.</summary>
    Check,

    /// <summary>Another worker's shard: neither read nor write it.</summary>
    Skip,
}

/// <summary>
/// Writes the stream of <see cref="PackUnit"/>s into fixed-size LITPKDS shards: documents concatenated and
/// split across shard boundaries, each shard written to a temp file and renamed when complete, with a
/// sidecar describing every span inside it. The last partial shard is dropped or padded (the count is
/// returned either way, never silent).
/// </summary>
/// <remarks>
/// The calling thread walks the units and cuts them into per-shard span lists; each finished list goes to
/// one of the <see cref="Threads"/>, which copies the tokens from the caches into a shard buffer and hashes
/// it (or hands it to a hasher thread, <see cref="LaneHashing"/>); <see cref="IoThreads"/> describe and write
/// the shards. Shards are independent, so the bytes do not depend on the thread count. Tokens are copied only
/// for shards that are written: a resumed build checks and keeps finished shards without reading their
/// tokens, and a worker walks past other workers' shards at the cost of the schedule alone.
/// </remarks>
public sealed class ShardPacker : IDisposable
{
    /// <summary>The fields of each entry of a sidecar's <c>spans</c> array, in order.</summary>
    public static readonly IReadOnlyList<string> SpanFields = ["offset", "source", "file", "record", "start", "end", "length", "epoch", "stage"];

    private readonly PackContext _ctx;
    private readonly int _width;
    private readonly int _shardBytes;
    private readonly SidecarJson _sidecars;
    private readonly List<PackSpan> _spans = [];
    private readonly ShardList _done;
    private BlockingCollection<ShardJob>? _queue;
    private BlockingCollection<FileJob>? _hashing;
    private BlockingCollection<FileJob>? _files;
    private BlockingCollection<Memory<byte>>? _buffers;
    private readonly ConcurrentBag<AlignedBuffer> _made = [];
    private CancellationTokenSource? _stop;
    private Task[] _writers = [];
    private Task[] _io = [];
    private Task[] _hashers = [];
    private int _buffersMade;
    private int _buffersMax;
    private long _fill;
    private long _index;
    private IUnitPlan? _plan;
    private long _tokensIn;
    private long _written;
    private readonly object _flightGate = new();
    private long _inFlight;
    private long _peakInFlight;

    public ShardPacker(PackContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        _ctx = context;
        _width = LitPkdsFormat.TokenWidth(context.Dtype);
        _shardBytes = checked((int)(LitPkdsFormat.HeaderSize + (context.ChunkSize * _width)));
        _sidecars = new SidecarJson(context);
        _done = new ShardList(context.SourceNames, context.Layout.ShardName);
    }

    public BuildProgress? Progress { get; init; }

    /// <summary>What to do with shard k (default: write every shard).</summary>
    public Func<long, ShardAction> ActionFor { get; init; } = _ => ShardAction.Write;

    /// <summary>
    /// Threads for the CPU work: filling shards from the caches and hashing them. Each fills and hashes one shard
    /// at a time, or, with <see cref="LaneHashing"/>, half of them hash 16 shards at a time and fill when no
    /// filled shard is waiting.
    /// </summary>
    public int Threads { get; init; } = 1;

    /// <summary>
    /// Shards being written to disk at once. These threads wait on the device, not the CPU (an unbuffered write
    /// and an fsync per file), so there are more of them than CPUs: one writer at a time left the disk idle
    /// between files. Each holds one shard's buffer, so memory is (Threads + IoThreads) shard buffers.
    /// </summary>
    public int IoThreads { get; init; } = 4;

    /// <summary>
    /// Whether, with 2 to 4 <see cref="Threads"/> on a CPU with AVX-512 and enough shards to write (128 a hasher),
    /// half of them hash the shards 16 at a time (<see cref="Sha256Lanes"/>) and the others fill them; otherwise
    /// each thread hashes the shards it fills with <see cref="SHA256"/>. The digests, and so every byte written,
    /// are the same either way (tested).
    /// </summary>
    /// <remarks>
    /// A hasher keeps 16 shards in memory, and one hashes about 1.8 GB/s: with more threads, each hashing its
    /// own shards scales further and holds fewer buffers.
    /// </remarks>
    public bool LaneHashing { get; init; } = true;

    /// <summary>
    /// Memory the shards in flight (handed to the threads, not yet written) may take at once: their buffers and
    /// their span lists. The calling thread waits before handing over a shard that would go past it (one shard
    /// is always let through). A 2049 × 1024-token shard of 19-token documents has a span list of about 10 MB,
    /// and with lane hashing up to 2 × 16 + Threads + IoThreads shards can be in flight.
    /// </summary>
    public long InFlightBudget { get; init; } = DefaultInFlightBudget;

    /// <summary>The default <see cref="InFlightBudget"/>: 384 MiB.</summary>
    public const long DefaultInFlightBudget = 384L << 20;

    /// <summary>How many shards were written (not kept from an earlier run, not skipped).</summary>
    public long ShardsWritten => Interlocked.Read(ref _written);

    public PackResult Pack(IUnitPlan plan, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        _plan = plan;
        var threads = Math.Max(1, Threads);
        var io = Math.Max(1, IoThreads);
        var hashers = LaneHashers(threads, plan);
        var fillers = threads - hashers;
        _queue = new BlockingCollection<ShardJob>(boundedCapacity: fillers);
        _hashing = hashers > 0 ? new BlockingCollection<FileJob>() : null;
        _files = new BlockingCollection<FileJob>();
        _buffers = new BlockingCollection<Memory<byte>>();
        _buffersMax = fillers + io + (hashers * LaneBuffers);

        // Cancelled by the caller, or by a thread that failed: then the others stop instead of waiting on a queue.
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _writers = [.. Enumerable.Range(0, fillers).Select(_ => Task.Factory.StartNew(
            FillShards, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))];
        _hashers = [.. Enumerable.Range(0, hashers).Select(_ => Task.Factory.StartNew(
            HashShards, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))];
        _io = [.. Enumerable.Range(0, io).Select(_ => Task.Factory.StartNew(
            WriteFiles, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))];
        long dropped = 0;
        long padded = 0;
        var stoppedByThread = false;
        try
        {
            foreach (var unit in plan.Units(_ctx.ChunkSize))
            {
                _stop.Token.ThrowIfCancellationRequested();
                Add(unit);
            }

            if (_fill > 0)
            {
                if (_ctx.Tail == TailPolicy.Drop)
                {
                    dropped = _fill;
                }
                else
                {
                    padded = _ctx.ChunkSize - _fill;
                    _fill = _ctx.ChunkSize;
                    Flush(padded);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // A thread failed and stopped the others: its failure is the error, thrown below. (Caught here, not
            // replaced in the finally: with no handler further up, as in a program that does not catch, the
            // runtime reports an exception as unhandled before any finally runs.)
            stoppedByThread = true;
        }
        finally
        {
            _queue.CompleteAdding();

            // Every thread has stopped before this returns or throws (no file is being written behind the caller's
            // back); the files of the last shards are queued once every writer is done.
            WaitQuietly(_writers);
            _hashing?.CompleteAdding();
            WaitQuietly(_hashers);
            _files.CompleteAdding();
            WaitQuietly(_io);

            // No thread uses a shard buffer any more: their native memory goes back.
            while (_made.TryTake(out var made))
            {
                ((IDisposable)made).Dispose();
            }
        }

        var failures = _writers.Concat(_hashers).Concat(_io).Where(t => t.IsFaulted).SelectMany(t => t.Exception!.Flatten().InnerExceptions).ToList();
        if (failures.Count > 0)
        {
            // A thread's failure (disk full, a shard that does not check) is the build's error.
            ExceptionDispatchInfo.Capture(failures.FirstOrDefault(x => x is not OperationCanceledException) ?? failures[0]).Throw();
        }

        if (stoppedByThread)
        {
            throw new InvalidOperationException("the packer was stopped, but none of its threads failed");
        }

        return new PackResult(_done, _tokensIn, dropped, padded) { PeakInFlightBytes = _peakInFlight };
    }

    private static void WaitQuietly(Task[] tasks)
    {
        try
        {
            Task.WaitAll(tasks, CancellationToken.None);
        }
        catch (AggregateException)
        {
            // Looked at by the caller, once every task has ended.
        }
    }

    private void Add(PackUnit unit)
    {
        _tokensIn += unit.Length;
        var start = unit.Start;
        while (start < unit.End)
        {
            var take = Math.Min(unit.End - start, _ctx.ChunkSize - _fill);
            if (_spans.Count > 0 && _spans[^1] is var last && last.Unit.Source == unit.Source && last.Unit.File == unit.File
                && last.Unit.Document == unit.Document && last.Unit.Epoch == unit.Epoch && last.Unit.Stage == unit.Stage && last.End == start)
            {
                // The next unit of the same document, right after the previous one: one span.
                _spans[^1] = last with { End = start + take };
            }
            else
            {
                var doc = _plan!.Document(unit);
                _spans.Add(new PackSpan(_fill, unit, doc.Record, start, start + take, _ctx.Framing.FramedLength(doc.Tokens), doc.ByteOffset));
            }

            _fill += take;
            start += take;
            if (_fill == _ctx.ChunkSize)
            {
                Flush(0);
            }
        }
    }

    private void Flush(long pad)
    {
        var index = _index++;
        var action = ActionFor(index);
        var state = _plan?.TakeStateAtShardStart(index);
        if (action != ShardAction.Skip)
        {
            // Blocks while the shards in flight take the budget, or every writer is busy and the queue is full.
            // Pooled: a shard of short documents has ~100,000 spans (megabytes), and a new array per shard
            // churned the large-object heap. The writer returns it once the shard is described.
            var spans = ArrayPool<PackSpan>.Shared.Rent(_spans.Count);
            _spans.CopyTo(spans);
            var job = new ShardJob(index, spans, _spans.Count, pad, action, state, _shardBytes + ((long)spans.Length * Unsafe.SizeOf<PackSpan>()));
            EnterFlight(job.Bytes);
            _queue!.Add(job, _stop!.Token);
        }

        _spans.Clear();
        _fill = 0;
    }

    /// <summary>
    /// A filler thread: fills shards from the caches (hashing them too without lane hashing) and hands them to a
    /// hasher or the I/O threads; a shard kept from an earlier run is checked and recorded here.
    /// </summary>
    private void FillShards()
    {
        using var writer = new ShardWriter(this);
        try
        {
            foreach (var job in _queue!.GetConsumingEnumerable(_stop!.Token))
            {
                var file = writer.Fill(job, hash: _hashing is null);
                if (file is null)
                {
                    Finish(job, writer.Kept!);
                }
                else
                {
                    (_hashing ?? _files)!.Add(file, _stop.Token);
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _stop!.Cancel();
            throw;
        }
    }

    /// <summary>
    /// A hasher thread (lane hashing): keeps up to 16 filled shards in <see cref="Sha256Lanes"/>, taking a new
    /// one into a lane as soon as one is free, and hands each hashed shard to the I/O threads.
    /// </summary>
    /// <remarks>
    /// A run with idle lanes wastes their share of the CPU. So when a lane is free and no filled shard is
    /// waiting, the hasher fills the next shard itself; when there is none to fill either, it waits for one
    /// (at most a few milliseconds while other lanes are busy: a filler may be waiting for a buffer that only
    /// the I/O threads give back) and then runs with what it has.
    /// </remarks>
    private unsafe void HashShards()
    {
        using var writer = new ShardWriter(this);
        using var lanes = new Sha256Lanes();
        var done = new List<(object Token, byte[] Digest)>();
        try
        {
            while (true)
            {
                while (lanes.Busy < Sha256Lanes.Lanes)
                {
                    // No filled shard is waiting: fill the next one here rather than hash with idle lanes. Only
                    // with a buffer in hand, never waiting for one: the buffers may all be in the queue of filled
                    // shards that only the hashers take from.
                    if (!_hashing!.TryTake(out var job) && TryRentBuffer(out var free))
                    {
                        if (_queue!.TryTake(out var shard))
                        {
                            job = writer.Fill(shard, hash: false, free);
                            if (job is null)
                            {
                                Finish(shard, writer.Kept!);
                                continue;
                            }
                        }
                        else
                        {
                            _buffers!.Add(free);
                        }
                    }

                    if (job is null)
                    {
                        var wait = lanes.Busy == 0 ? Timeout.Infinite : _hashing.IsAddingCompleted ? 0 : IdleLaneWaitMs;
                        if (!_hashing.TryTake(out job, wait, _stop!.Token))
                        {
                            if (lanes.Busy == 0)
                            {
                                return; // every shard is hashed
                            }

                            break;
                        }
                    }

                    using var pinned = job.Buffer.Pin(); // native memory: the pointer stays valid after the handle
                    lanes.Start((byte*)pinned.Pointer, _shardBytes, job);
                }

                // 64 KiB of each lane a run: short enough that a freed lane soon takes the next shard.
                lanes.Run(1024, done);
                foreach (var (token, digest) in done)
                {
                    var job = (FileJob)token;
                    job.Sha256 = Convert.ToHexStringLower(digest);
                    _files!.Add(job, _stop!.Token);
                }

                done.Clear();
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _stop!.Cancel();
            throw;
        }
    }

    /// <summary>How long a hasher with idle lanes waits for another shard before it runs without.</summary>
    private const int IdleLaneWaitMs = 2;

    /// <summary>
    /// Shard buffers per hasher: its 16 lanes, and as many again between the fillers, the hasher and the I/O
    /// threads. With fewer the lanes went idle while shards were being written (measured: docs/perf.md).
    /// </summary>
    private const int LaneBuffers = 2 * Sha256Lanes.Lanes;

    /// <summary>
    /// Shards a hasher needs, at least: while its lanes fill at the start and empty at the end, some are idle,
    /// and over a few generations of 16 shards that is a large share (the bench build's own pack of 31 shards
    /// took 0.40–0.42 s at 2 threads with a hasher, 0.33 s without).
    /// </summary>
    private const long ShardsPerHasher = 8 * Sha256Lanes.Lanes;

    /// <summary>
    /// Hasher threads out of <paramref name="threads"/>: half of 2 to 4 threads, as many as the shards to write
    /// (<see cref="ShardsPerHasher"/> each) and their buffers (within <see cref="InFlightBudget"/>: not with large
    /// shards) allow; 0 without AVX-512.
    /// </summary>
    private int LaneHashers(int threads, IUnitPlan plan)
    {
        if (!LaneHashing || threads is < 2 or > 4 || !Sha256Lanes.IsSupported)
        {
            return 0;
        }

        // At most this many shards are filled here: the others are another worker's (and some may be kept).
        var total = (plan.TotalTokens + _ctx.ChunkSize - 1) / _ctx.ChunkSize;
        long mine = 0;
        for (long k = 0; k < total && mine < 2 * ShardsPerHasher; k++)
        {
            mine += ActionFor(k) == ShardAction.Skip ? 0 : 1;
        }

        var hashers = threads / 2;
        while (hashers > 0 && ((long)hashers * LaneBuffers * _shardBytes > InFlightBudget || hashers * ShardsPerHasher > mine))
        {
            hashers--;
        }

        return hashers;
    }

    /// <summary>An I/O thread: writes a filled, hashed shard (unbuffered where possible, then renamed) and its sidecar.</summary>
    private void WriteFiles()
    {
        var sidecar = new ArrayBufferWriter<byte>();
        try
        {
            foreach (var file in _files!.GetConsumingEnumerable(_stop!.Token))
            {
                var job = file.Job;
                var sha = file.Sha256 ?? throw new InvalidOperationException("a shard reached the I/O threads unhashed");
                sidecar.ResetWrittenCount();
                _sidecars.Write(Content(job, file.Name, sha, file.Counts), sidecar);
                AtomicFile.WriteAllBytesUnbuffered(_ctx.Layout.ShardPath(job.Index), file.Buffer.Span, _shardBytes);
                _buffers!.Add(file.Buffer);
                AtomicFile.WriteAllBytes(_ctx.Layout.SidecarPath(file.Name), sidecar.WrittenSpan);
                Interlocked.Increment(ref _written);
                Finish(job, new ShardInfo(file.Name, sha, file.BySource, file.Counts.Bos, file.Counts.Eos, job.Pad));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _stop!.Cancel();
            throw;
        }
    }

    /// <summary>Counts a shard's memory in flight; waits while that would pass <see cref="InFlightBudget"/> and others are in flight.</summary>
    private void EnterFlight(long bytes)
    {
        lock (_flightGate)
        {
            while (_inFlight > 0 && _inFlight + bytes > InFlightBudget)
            {
                _stop!.Token.ThrowIfCancellationRequested();
                Monitor.Wait(_flightGate, 50);
            }

            _inFlight += bytes;
            _peakInFlight = Math.Max(_peakInFlight, _inFlight);
        }
    }

    /// <summary>A shard's memory is no longer in flight.</summary>
    private void LeaveFlight(long bytes)
    {
        lock (_flightGate)
        {
            _inFlight -= bytes;
            Monitor.PulseAll(_flightGate);
        }
    }

    /// <summary>A shard written or kept: recorded, its span list back to the pool, its memory no longer in flight.</summary>
    private void Finish(ShardJob job, ShardInfo info)
    {
        _done.Add(job.Index, info);
        Progress?.AddShard();
        ArrayPool<PackSpan>.Shared.Return(job.SpanArray);
        LeaveFlight(job.Bytes);
    }

    /// <summary>A free shard buffer (header written): one given back by an I/O thread, a new one while fewer than the cap exist, else wait.</summary>
    private Memory<byte> RentBuffer() => TryRentBuffer(out var buffer) ? buffer : _buffers!.Take(_stop!.Token);

    /// <summary>A free shard buffer (header written) without waiting: one given back, or a new one while fewer than the cap exist.</summary>
    private bool TryRentBuffer(out Memory<byte> buffer)
    {
        if (_buffers!.TryTake(out buffer))
        {
            return true;
        }

        for (var made = Volatile.Read(ref _buffersMade); made < _buffersMax; made = Volatile.Read(ref _buffersMade))
        {
            if (Interlocked.CompareExchange(ref _buffersMade, made + 1, made) == made)
            {
                // Native memory (never moved by the GC): the hashers take a pointer into it. Not cleared: after the
                // header, every shard writes all its bytes (tokens, then padding) before it is hashed or written,
                // and the bytes past the shard's length that the unbuffered write rounds up to are cut off.
                var aligned = new AlignedBuffer(_shardBytes, zeroed: false);
                _made.Add(aligned);
                buffer = aligned.Memory;
                LitPkdsFormat.WriteHeader(buffer.Span, _ctx.Dtype, _ctx.ChunkSize);
                return true;
            }
        }

        return false;
    }

    private (long Bos, long Eos, long[] BySource) Count(ArraySegment<PackSpan> spans)
    {
        long bos = 0, eos = 0;
        var bySource = new long[_ctx.SourceNames.Count];
        foreach (var s in spans)
        {
            bySource[s.Unit.Source] += s.End - s.Start;
            bos += _ctx.Framing.Bos && s.Start == 0 ? 1 : 0;
            eos += _ctx.Framing.Eos && s.End == s.FramedLength ? 1 : 0;
        }

        return (bos, eos, bySource);
    }

    private static SidecarContent Content(ShardJob job, string name, string sha, (long Bos, long Eos, long[] BySource) counts) =>
        new(job.Index, name, sha, job.Pad, counts.Bos, counts.Eos, counts.BySource, job.Spans, job.State);

    public void Dispose()
    {
        _queue?.Dispose();
        _hashing?.Dispose();
        _files?.Dispose();
        _buffers?.Dispose();
        _stop?.Dispose();
    }

    /// <summary>One shard's worth of spans (the first <paramref name="SpanCount"/> of a pooled array), handed to a writer.</summary>
    /// <remarks><paramref name="Bytes"/>: what it counts against <see cref="InFlightBudget"/> until it is written or kept.</remarks>
    private sealed record ShardJob(long Index, PackSpan[] SpanArray, int SpanCount, long Pad, ShardAction Action, SchedulerState? State, long Bytes)
    {
        public ArraySegment<PackSpan> Spans => new(SpanArray, 0, SpanCount);
    }

    /// <summary>A filled shard, handed to the hasher (lane hashing) and then to an I/O thread, which writes it and its sidecar.</summary>
    private sealed class FileJob(ShardJob job, string name, (long Bos, long Eos, long[] BySource) counts, SortedDictionary<string, long> bySource, Memory<byte> buffer)
    {
        public ShardJob Job { get; } = job;

        public string Name { get; } = name;

        public (long Bos, long Eos, long[] BySource) Counts { get; } = counts;

        public SortedDictionary<string, long> BySource { get; } = bySource;

        public Memory<byte> Buffer { get; } = buffer;

        /// <summary>The shard's digest, hex: set by the filler, or by the hasher with lane hashing.</summary>
        public string? Sha256 { get; set; }
    }

    /// <summary>A writer thread's open cache files; it fills shard buffers rented from the packer.</summary>
    private sealed class ShardWriter(ShardPacker packer) : IDisposable
    {
        private const int MaxOpenFiles = 64;
        private readonly PackContext _ctx = packer._ctx;
        private readonly int _width = packer._width;
        private readonly Dictionary<(int Source, int File), CacheView> _views = [];

        /// <summary>After <see cref="Fill"/> returned null: the shard kept from an earlier run.</summary>
        public ShardInfo? Kept { get; private set; }

        /// <summary>
        /// The filled shard, hashed when <paramref name="hash"/> (else a hasher thread hashes it); or null when
        /// the shard on disk is kept (<see cref="Kept"/>). It fills <paramref name="buffer"/> when given (given
        /// back to the pool when the shard is kept), else a buffer rented from the packer.
        /// </summary>
        public FileJob? Fill(ShardJob job, bool hash, Memory<byte>? buffer = null)
        {
            var name = _ctx.Layout.ShardName(job.Index);
            var counts = packer.Count(job.Spans);
            string? sha = null;
            if (job.Action is ShardAction.Resume or ShardAction.Check)
            {
                sha = ExistingMatches(job, name, _ctx.Layout.ShardPath(job.Index), _ctx.Layout.SidecarPath(name), counts);
                if (sha is null && job.Action == ShardAction.Check)
                {
                    throw new ShardException(name, -1, "missing, incomplete or not what this spec and these caches give: run the pack step for it (or build) again");
                }
            }

            var bySource = new SortedDictionary<string, long>(StringComparer.Ordinal);
            for (var i = 0; i < counts.BySource.Length; i++)
            {
                bySource[_ctx.SourceNames[i]] = counts.BySource[i];
            }

            if (sha is not null)
            {
                if (buffer is { } unused)
                {
                    packer._buffers!.Add(unused);
                }

                Kept = new ShardInfo(name, sha, bySource, counts.Bos, counts.Eos, job.Pad);
                return null;
            }

            var filled = buffer ?? packer.RentBuffer();
            var shard = filled.Span[..packer._shardBytes];
            Materialize(job, shard);
            return new FileJob(job, name, counts, bySource, filled)
            {
                Sha256 = hash ? Convert.ToHexStringLower(SHA256.HashData(shard)) : null,
            };
        }

        /// <summary>The sha256 of the shard on disk when it and its sidecar are exactly what this shard would be; else null.</summary>
        private string? ExistingMatches(ShardJob job, string name, string path, string sidecarPath, (long Bos, long Eos, long[] BySource) counts)
        {
            try
            {
                if (!File.Exists(path) || !File.Exists(sidecarPath) || new FileInfo(path).Length != packer._shardBytes)
                {
                    return null;
                }

                var existing = File.ReadAllBytes(sidecarPath);
                if (JsonNode.Parse(existing)?["sha256"]?.GetValue<string>() is not { Length: 64 } sha)
                {
                    return null;
                }

                var expected = packer._sidecars.Write(Content(job, name, sha, counts));
                if (!expected.AsSpan().SequenceEqual(existing))
                {
                    return null;
                }

                return Hashing.Sha256File(path) == sha ? sha : null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or InvalidOperationException)
            {
                return null;
            }
        }

        /// <summary>Copies every span's framed tokens from the caches into the buffer, then the padding.</summary>
        private void Materialize(ShardJob job, Span<byte> shard)
        {
            foreach (var s in job.Spans)
            {
                CopyFramed(shard, s, _ctx.Caches[s.Unit.Source][s.Unit.File]);
            }

            for (var p = _ctx.ChunkSize - job.Pad; p < _ctx.ChunkSize; p++)
            {
                Put(shard, p, _ctx.PadId);
            }
        }

        /// <summary>Copies the span's framed tokens [Start, End) of its document to the buffer at its offset.</summary>
        private void CopyFramed(Span<byte> shard, PackSpan span, TokenCacheEntry cache)
        {
            var framing = _ctx.Framing;
            var unit = span.Unit;
            var framedLength = span.FramedLength;
            var docTokens = framedLength - framing.Extra;
            var pos = span.Offset;
            var end = span.End;
            var p = span.Start;
            if (framing.Bos && p == 0 && p < end)
            {
                Put(shard, pos++, framing.BosId);
                p++;
            }

            // Document ids overlap [p, end) in framed positions [offset, offset + docTokens).
            var offset = framing.Bos ? 1 : 0;
            var idsFrom = Math.Max(p, offset) - offset;
            var idsTo = Math.Min(end, offset + docTokens) - offset;
            if (idsTo > idsFrom)
            {
                var bytes = (int)((idsTo - idsFrom) * _width);
                var dest = shard.Slice((int)(LitPkdsFormat.HeaderSize + (pos * _width)), bytes);
                View(unit, cache).CopyTo(dest, span.CacheOffset + (idsFrom * _width));
                pos += idsTo - idsFrom;
                p = offset + idsTo;
            }

            if (framing.Eos && end == framedLength && p == framedLength - 1)
            {
                Put(shard, pos, framing.EosId);
            }
        }

        private CacheView View(PackUnit unit, TokenCacheEntry cache)
        {
            if (_views.TryGetValue((unit.Source, unit.File), out var view))
            {
                return view;
            }

            if (_views.Count >= MaxOpenFiles)
            {
                Dispose();
            }

            if (cache.Dtype != _ctx.Dtype)
            {
                throw new IoFailureException(cache.BinPath, "the token cache's dtype is not the shards' dtype; delete the cache entry to rebuild it");
            }

            view = new CacheView(cache.BinPath);
            _views[(unit.Source, unit.File)] = view;
            return view;
        }

        private void Put(Span<byte> shard, long position, int id)
        {
            var at = shard[(int)(LitPkdsFormat.HeaderSize + (position * _width))..];
            if (_width == 2)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(at, checked((ushort)id));
            }
            else
            {
                BinaryPrimitives.WriteInt32LittleEndian(at, id);
            }
        }

        /// <summary>Closes the open cache files.</summary>
        public void Dispose()
        {
            foreach (var v in _views.Values)
            {
                v.Dispose();
            }

            _views.Clear();
        }
    }
}

