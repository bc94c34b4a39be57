using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
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
public sealed record PackResult(IReadOnlyList<ShardInfo> Shards, long TokensIn, long TailDroppedTokens, long TailPaddedTokens);

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
/// one of <see cref="Threads"/> writers, which copy the tokens from the caches, hash, write and describe the
/// shard. Shards are independent, so the bytes do not depend on the thread count. Tokens are copied only
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
    private BlockingCollection<FileJob>? _files;
    private BlockingCollection<Memory<byte>>? _buffers;
    private readonly ConcurrentBag<AlignedBuffer> _made = [];
    private CancellationTokenSource? _stop;
    private Task[] _writers = [];
    private Task[] _io = [];
    private int _buffersMade;
    private int _buffersMax;
    private long _fill;
    private long _index;
    private IUnitPlan? _plan;
    private long _tokensIn;
    private long _written;

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

    /// <summary>Shards filled and hashed at once (the CPU work: each writer fills one shard's buffer at a time).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>
    /// Shards being written to disk at once. These threads wait on the device, not the CPU (an unbuffered write
    /// and an fsync per file), so there are more of them than CPUs: one writer at a time left the disk idle
    /// between files. Each holds one shard's buffer, so memory is (Threads + IoThreads) shard buffers.
    /// </summary>
    public int IoThreads { get; init; } = 4;

    /// <summary>How many shards were written (not kept from an earlier run, not skipped).</summary>
    public long ShardsWritten => Interlocked.Read(ref _written);

    public PackResult Pack(IUnitPlan plan, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        _plan = plan;
        var threads = Math.Max(1, Threads);
        var io = Math.Max(1, IoThreads);
        _queue = new BlockingCollection<ShardJob>(boundedCapacity: threads);
        _files = new BlockingCollection<FileJob>();
        _buffers = new BlockingCollection<Memory<byte>>();
        _buffersMax = threads + io;

        // Cancelled by the caller, or by a thread that failed: then the others stop instead of waiting on a queue.
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _writers = [.. Enumerable.Range(0, threads).Select(_ => Task.Factory.StartNew(
            FillShards, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))];
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
            _files.CompleteAdding();
            WaitQuietly(_io);

            // No thread uses a shard buffer any more: their native memory goes back.
            while (_made.TryTake(out var made))
            {
                ((IDisposable)made).Dispose();
            }
        }

        var failures = _writers.Concat(_io).Where(t => t.IsFaulted).SelectMany(t => t.Exception!.Flatten().InnerExceptions).ToList();
        if (failures.Count > 0)
        {
            // A thread's failure (disk full, a shard that does not check) is the build's error.
            ExceptionDispatchInfo.Capture(failures.FirstOrDefault(x => x is not OperationCanceledException) ?? failures[0]).Throw();
        }

        if (stoppedByThread)
        {
            throw new InvalidOperationException("the packer was stopped, but none of its threads failed");
        }

        return new PackResult(_done, _tokensIn, dropped, padded);
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
            // Blocks while every writer is busy and the queue is full: memory stays at Threads + queue shards.
            // Pooled: a shard of short documents has ~100,000 spans (megabytes), and a new array per shard
            // churned the large-object heap. The writer returns it once the shard is described.
            var spans = ArrayPool<PackSpan>.Shared.Rent(_spans.Count);
            _spans.CopyTo(spans);
            _queue!.Add(new ShardJob(index, spans, _spans.Count, pad, action, state), _stop!.Token);
        }

        _spans.Clear();
        _fill = 0;
    }

    /// <summary>A writer thread: fills, hashes and describes shards; hands their files to the I/O threads.</summary>
    private void FillShards()
    {
        using var writer = new ShardWriter(this);
        try
        {
            foreach (var job in _queue!.GetConsumingEnumerable(_stop!.Token))
            {
                var file = writer.Fill(job);
                ArrayPool<PackSpan>.Shared.Return(job.SpanArray);
                if (file is not null)
                {
                    _files!.Add(file, _stop.Token);
                }
                else
                {
                    Done(job.Index, writer.Kept!);
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _stop!.Cancel();
            throw;
        }
    }

    /// <summary>An I/O thread: writes a filled shard (unbuffered where possible, then renamed) and its sidecar.</summary>
    private void WriteFiles()
    {
        try
        {
            foreach (var file in _files!.GetConsumingEnumerable(_stop!.Token))
            {
                AtomicFile.WriteAllBytesUnbuffered(_ctx.Layout.ShardPath(file.Info.Index), file.Buffer.Span, _shardBytes);
                _buffers!.Add(file.Buffer);
                AtomicFile.WriteAllBytes(_ctx.Layout.SidecarPath(file.Info.Shard.Name), file.Sidecar.AsSpan(0, file.SidecarLength));
                ArrayPool<byte>.Shared.Return(file.Sidecar);
                Interlocked.Increment(ref _written);
                Done(file.Info.Index, file.Info.Shard);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _stop!.Cancel();
            throw;
        }
    }

    private void Done(long index, ShardInfo info)
    {
        _done.Add(index, info);

        Progress?.AddShard();
    }

    /// <summary>A free shard buffer (header written): one given back by an I/O thread, a new one while fewer than the cap exist, else wait.</summary>
    private Memory<byte> RentBuffer()
    {
        if (_buffers!.TryTake(out var buffer))
        {
            return buffer;
        }

        if (Interlocked.Increment(ref _buffersMade) <= _buffersMax)
        {
            var made = new AlignedBuffer(_shardBytes);
            _made.Add(made);
            buffer = made.Memory;
            LitPkdsFormat.WriteHeader(buffer.Span, _ctx.Dtype, _ctx.ChunkSize);
            return buffer;
        }

        return _buffers.Take(_stop!.Token);
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
        _files?.Dispose();
        _buffers?.Dispose();
        _stop?.Dispose();
    }

    /// <summary>One shard's worth of spans (the first <paramref name="SpanCount"/> of a pooled array), handed to a writer.</summary>
    private sealed record ShardJob(long Index, PackSpan[] SpanArray, int SpanCount, long Pad, ShardAction Action, SchedulerState? State)
    {
        public ArraySegment<PackSpan> Spans => new(SpanArray, 0, SpanCount);
    }

    /// <summary>A filled shard and its sidecar (the first <paramref name="SidecarLength"/> bytes of a pooled array), handed to an I/O thread.</summary>
    private sealed record FileJob((long Index, ShardInfo Shard) Info, Memory<byte> Buffer, byte[] Sidecar, int SidecarLength);

    /// <summary>A writer thread's open cache files; it fills shard buffers rented from the packer.</summary>
    private sealed class ShardWriter(ShardPacker packer) : IDisposable
    {
        private const int MaxOpenFiles = 64;
        private readonly PackContext _ctx = packer._ctx;
        private readonly int _width = packer._width;
        private readonly Dictionary<(int Source, int File), CacheView> _views = [];
        private readonly ArrayBufferWriter<byte> _sidecar = new();

        /// <summary>After <see cref="Fill"/> returned null: the shard kept from an earlier run.</summary>
        public ShardInfo? Kept { get; private set; }

        /// <summary>The shard's files to write; or null when the shard on disk is kept (<see cref="Kept"/>).</summary>
        public FileJob? Fill(ShardJob job)
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
                Kept = new ShardInfo(name, sha, bySource, counts.Bos, counts.Eos, job.Pad);
                return null;
            }

            var buffer = packer.RentBuffer();
            var shard = buffer.Span[..packer._shardBytes];
            Materialize(job, shard);
            sha = Convert.ToHexStringLower(SHA256.HashData(shard));
            var info = new ShardInfo(name, sha, bySource, counts.Bos, counts.Eos, job.Pad);
            _sidecar.ResetWrittenCount();
            packer._sidecars.Write(Content(job, name, sha, counts), _sidecar);
            var sidecar = ArrayPool<byte>.Shared.Rent(_sidecar.WrittenCount);
            _sidecar.WrittenSpan.CopyTo(sidecar);
            return new FileJob((job.Index, info), buffer, sidecar, _sidecar.WrittenCount);
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

