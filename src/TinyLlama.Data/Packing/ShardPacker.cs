using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Win32.SafeHandles;
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

/// <summary>
/// Writes the stream of <see cref="PackUnit"/>s into fixed-size LITPKDS shards: documents concatenated and
/// split across shard boundaries, each shard written to a temp file and renamed when complete, with a
/// sidecar describing every span inside it. The last partial shard is dropped or padded (the count is
/// returned either way, never silent).
/// </summary>
public sealed class ShardPacker : IDisposable
{
    /// <summary>The fields of each entry of a sidecar's <c>spans</c> array, in order.</summary>
    public static readonly IReadOnlyList<string> SpanFields = ["offset", "source", "file", "record", "start", "end", "length", "epoch", "stage"];

    private const int MaxOpenFiles = 64;
    private readonly PackContext _ctx;
    private readonly int _width;
    private readonly byte[] _buffer;
    private readonly Dictionary<(int Source, int File), SafeFileHandle> _handles = [];
    private readonly List<ShardInfo> _shards = [];
    private readonly List<Span> _spans = [];
    private long _fill;
    private IUnitPlan? _plan;
    private long _tokensIn;

    public ShardPacker(PackContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        _ctx = context;
        _width = LitPkdsFormat.TokenWidth(context.Dtype);
        _buffer = new byte[LitPkdsFormat.HeaderSize + (context.ChunkSize * _width)];
        LitPkdsFormat.WriteHeader(_buffer, context.Dtype, context.ChunkSize);
    }

    public BuildProgress? Progress { get; init; }

    public PackResult Pack(IUnitPlan plan, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        _plan = plan;
        foreach (var unit in plan.Units(_ctx.ChunkSize))
        {
            cancellationToken.ThrowIfCancellationRequested();
            Add(unit);
        }

        long dropped = 0;
        long padded = 0;
        if (_fill > 0)
        {
            if (_ctx.Tail == TailPolicy.Drop)
            {
                dropped = _fill;
            }
            else
            {
                padded = _ctx.ChunkSize - _fill;
                for (var p = _fill; p < _ctx.ChunkSize; p++)
                {
                    Put(p, _ctx.PadId);
                }

                _fill = _ctx.ChunkSize;
                Flush(padded);
            }
        }

        return new PackResult(_shards, _tokensIn, dropped, padded);
    }

    private void Add(PackUnit unit)
    {
        _tokensIn += unit.Length;
        var start = unit.Start;
        while (start < unit.End)
        {
            var take = Math.Min(unit.End - start, _ctx.ChunkSize - _fill);
            var cache = _ctx.Caches[unit.Source][unit.File];
            if (_spans.Count > 0 && _spans[^1] is var last && last.Unit.Source == unit.Source && last.Unit.File == unit.File
                && last.Unit.Document == unit.Document && last.Unit.Epoch == unit.Epoch && last.Unit.Stage == unit.Stage && last.End == start)
            {
                // The next unit of the same document, right after the previous one: one span.
                _spans[^1] = last with { End = start + take };
            }
            else
            {
                _spans.Add(new Span(_fill, unit, cache.Records[unit.Document], start, start + take, _ctx.Framing.FramedLength(cache.DocumentTokens[unit.Document])));
            }

            CopyFramed(unit, cache, start, take);
            _fill += take;
            start += take;
            if (_fill == _ctx.ChunkSize)
            {
                Flush(0);
            }
        }
    }

    /// <summary>Copies framed tokens [start, start + count) of the unit's document to the buffer at _fill.</summary>
    private void CopyFramed(PackUnit unit, TokenCacheEntry cache, long start, long count)
    {
        var framing = _ctx.Framing;
        long docTokens = cache.DocumentTokens[unit.Document];
        var framedLength = framing.FramedLength(docTokens);
        var pos = _fill;
        var end = start + count;
        var p = start;
        if (framing.Bos && p == 0 && p < end)
        {
            Put(pos++, framing.BosId);
            p++;
        }

        // Document ids overlap [p, end) in framed positions [offset, offset + docTokens).
        var offset = framing.Bos ? 1 : 0;
        var idsFrom = Math.Max(p, offset) - offset;
        var idsTo = Math.Min(end, offset + docTokens) - offset;
        if (idsTo > idsFrom)
        {
            var bytes = (int)((idsTo - idsFrom) * _width);
            var dest = _buffer.AsSpan((int)(LitPkdsFormat.HeaderSize + (pos * _width)), bytes);
            var fileOffset = cache.ByteOffset(unit.Document) + (idsFrom * _width);
            ReadExactly(unit, cache, dest, fileOffset);
            pos += idsTo - idsFrom;
            p = offset + idsTo;
        }

        if (framing.Eos && end == framedLength && p == framedLength - 1)
        {
            Put(pos, framing.EosId);
        }
    }

    private void ReadExactly(PackUnit unit, TokenCacheEntry cache, Span<byte> dest, long fileOffset)
    {
        var handle = Handle(unit, cache);
        var done = 0;
        while (done < dest.Length)
        {
            var n = RandomAccess.Read(handle, dest[done..], fileOffset + done);
            if (n == 0)
            {
                throw new IoFailureException(cache.BinPath, "token cache ends early; delete the cache entry to rebuild it");
            }

            done += n;
        }
    }

    private SafeFileHandle Handle(PackUnit unit, TokenCacheEntry cache)
    {
        if (_handles.TryGetValue((unit.Source, unit.File), out var h))
        {
            return h;
        }

        if (_handles.Count >= MaxOpenFiles)
        {
            CloseHandles();
        }

        try
        {
            h = File.OpenHandle(cache.BinPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(cache.BinPath, "cannot open the token cache: " + e.Message, e);
        }

        _handles[(unit.Source, unit.File)] = h;
        return h;
    }

    private void Put(long position, int id)
    {
        var at = _buffer.AsSpan((int)(LitPkdsFormat.HeaderSize + (position * _width)));
        if (_width == 2)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(at, checked((ushort)id));
        }
        else
        {
            BinaryPrimitives.WriteInt32LittleEndian(at, id);
        }
    }

    private void Flush(long pad)
    {
        var index = _shards.Count;
        var name = _ctx.Layout.ShardName(index);
        var sha = Convert.ToHexStringLower(SHA256.HashData(_buffer));
        AtomicFile.WriteAllBytes(_ctx.Layout.ShardPath(index), _buffer);

        var bySource = new long[_ctx.SourceNames.Count];
        long bos = 0;
        long eos = 0;
        var spans = new JsonArray();
        var fileTable = new List<(int Source, int File)>();
        var fileIndex = new Dictionary<(int, int), int>();
        foreach (var s in _spans)
        {
            bySource[s.Unit.Source] += s.End - s.Start;
            var key = (s.Unit.Source, s.Unit.File);
            if (!fileIndex.TryGetValue(key, out var fi))
            {
                fi = fileTable.Count;
                fileIndex[key] = fi;
                fileTable.Add(key);
            }

            // Separator counts follow from the framed positions each span covers.
            if (_ctx.Framing.Bos && s.Start == 0)
            {
                bos++;
            }

            if (_ctx.Framing.Eos && s.End == s.FramedLength)
            {
                eos++;
            }

            spans.Add(new JsonArray(s.Offset, s.Unit.Source, fi, s.Record, s.Start, s.End, s.FramedLength, s.Unit.Epoch, s.Unit.Stage));
        }

        var tokensBySource = new JsonObject();
        var bySourceDict = new SortedDictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < bySource.Length; i++)
        {
            tokensBySource[_ctx.SourceNames[i]] = bySource[i];
            bySourceDict[_ctx.SourceNames[i]] = bySource[i];
        }

        var files = new JsonArray();
        foreach (var (src, file) in fileTable)
        {
            files.Add(new JsonArray(_ctx.SourceNames[src], _ctx.FilePaths[src][file]));
        }

        var sidecar = new JsonObject
        {
            ["format"] = "LITPKDS",
            ["shard"] = name,
            ["index"] = index,
            ["sha256"] = sha,
            ["chunk_size"] = _ctx.ChunkSize,
            ["dtype"] = LitPkdsFormat.DtypeName(_ctx.Dtype),
            ["vocab_size"] = _ctx.VocabularySize,
            ["bos_id"] = _ctx.Framing.BosId,
            ["eos_id"] = _ctx.Framing.EosId,
            ["pad_id"] = _ctx.PadId,
            ["separator"] = SpecLoader.SeparatorName(_ctx.Separator),
            ["spec_sha256"] = _ctx.SpecHash,
            ["tokenizer_sha256"] = _ctx.TokenizerSha256,
            ["start_token"] = index * _ctx.ChunkSize,
            ["tokens"] = new JsonObject
            {
                ["by_source"] = tokensBySource,
                ["bos"] = bos,
                ["eos"] = eos,
                ["pad"] = pad,
            },
            ["sources"] = new JsonArray([.. _ctx.SourceNames.Select(n => (JsonNode?)n)]),
            ["stages"] = new JsonArray([.. _ctx.StageNames.Select(n => (JsonNode?)n)]),
            ["files"] = files,
            ["span_fields"] = new JsonArray([.. SpanFields.Select(n => (JsonNode?)n)]),
            ["spans"] = spans,
            ["scheduler_state"] = StateJson(_plan?.StateAtShardStart(index)),
        };
        AtomicFile.WriteAllBytes(_ctx.Layout.SidecarPath(name), CanonicalJson.SerializeToUtf8(sidecar));
        _shards.Add(new ShardInfo(name, sha, bySourceDict, bos, eos, pad));
        Progress?.AddShard();
        _spans.Clear();
        _fill = 0;
    }

    private static JsonObject? StateJson(SchedulerState? state) => state is null ? null : new JsonObject
    {
        ["position"] = state.Position,
        ["in_flight"] = state.InFlight,
        ["sources"] = new JsonArray([.. state.Sources.Select(c => (JsonNode?)new JsonObject
        {
            ["epoch"] = c.Epoch,
            ["index"] = c.Index,
            ["offset"] = c.Offset,
            ["emitted"] = c.Emitted,
        })]),
    };

    private void CloseHandles()
    {
        foreach (var h in _handles.Values)
        {
            h.Dispose();
        }

        _handles.Clear();
    }

    public void Dispose() => CloseHandles();

    private readonly record struct Span(long Offset, PackUnit Unit, long Record, long Start, long End, long FramedLength);
}
