using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using TinyLlama.Data.Mixtures;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Shards;

namespace TinyLlama.Data.Packing;

/// <summary>What one shard's sidecar says, besides the fields every sidecar of a build shares.</summary>
internal readonly record struct SidecarContent(
    long Index,
    string Name,
    string Sha256,
    long Pad,
    long Bos,
    long Eos,
    long[] TokensBySource,
    IReadOnlyList<PackSpan> Spans,
    SchedulerState? State);

/// <summary>
/// A run of a document's framed tokens [<see cref="Start"/>, <see cref="End"/>) placed at <see cref="Offset"/>
/// in a shard: one entry of a sidecar's <c>spans</c> array (<see cref="ShardPacker.SpanFields"/>), and where the
/// document's ids are in its cache's <c>.bin</c> (<see cref="CacheOffset"/>; not in the sidecar).
/// </summary>
internal readonly record struct PackSpan(long Offset, PackUnit Unit, long Record, long Start, long End, long FramedLength, long CacheOffset = 0);

/// <summary>
/// Writes a shard's sidecar straight to UTF-8, in exactly the bytes <see cref="Util.CanonicalJson"/> gives
/// for the same object (keys in ordinal order, two-space indentation, arrays of scalars on one line), without
/// building a JSON tree: a 4 MB shard has about 1,400 spans, and a tree of them cost more than hashing the
/// shard. The strings every sidecar of a build shares are escaped once.
/// </summary>
internal sealed class SidecarJson
{
    private static readonly JsonSerializerOptions StringOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly PackContext _ctx;
    private readonly byte[][] _sourceNames;
    private readonly byte[][][] _filePaths;
    private readonly byte[] _head;
    private readonly byte[] _padId;
    private readonly byte[] _separator;
    private readonly byte[] _sources;
    private readonly byte[] _specToStages;
    private readonly byte[] _tokenizer;
    private readonly byte[] _vocab;
    private readonly int[] _sourcesByName;

    public SidecarJson(PackContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        _ctx = context;
        _sourceNames = [.. context.SourceNames.Select(Quote)];
        _filePaths = [.. context.FilePaths.Select(files => files.Select(Quote).ToArray())];
        _sourcesByName = [.. Enumerable.Range(0, context.SourceNames.Count).OrderBy(i => context.SourceNames[i], StringComparer.Ordinal)];

        // Keys in ordinal order: bos_id, chunk_size, dtype, eos_id, files, format, index, pad_id, scheduler_state,
        // separator, sha256, shard, sources, span_fields, spans, spec_sha256, stages, start_token, tokenizer_sha256,
        // tokens, vocab_size. The fields every sidecar shares are formatted once.
        var ic = CultureInfo.InvariantCulture;
        _head = Utf8(string.Create(ic, $"{{\n  \"bos_id\": {context.Framing.BosId},\n  \"chunk_size\": {context.ChunkSize},\n  \"dtype\": {Str(LitPkdsFormat.DtypeName(context.Dtype))},\n  \"eos_id\": {context.Framing.EosId},\n  \"files\": "));
        _padId = Utf8(string.Create(ic, $",\n  \"pad_id\": {context.PadId},\n  \"scheduler_state\": "));
        _separator = Utf8(string.Create(ic, $",\n  \"separator\": {Str(SpecLoader.SeparatorName(context.Separator))},\n  \"sha256\": "));
        _sources = Utf8(",\n  \"sources\": " + ScalarArray(context.SourceNames) + ",\n  \"span_fields\": " + ScalarArray(ShardPacker.SpanFields) + ",\n  \"spans\": ");
        _specToStages = Utf8(",\n  \"spec_sha256\": " + Str(context.SpecHash) + ",\n  \"stages\": " + ScalarArray(context.StageNames) + ",\n  \"start_token\": ");
        _tokenizer = Utf8(",\n  \"tokenizer_sha256\": " + Str(context.TokenizerSha256) + ",\n  \"tokens\": {\n    \"bos\": ");
        _vocab = Utf8(string.Create(ic, $"\n  }},\n  \"vocab_size\": {context.VocabularySize}\n}}\n"));
    }

    private static string Str(string value) => JsonSerializer.Serialize(value, StringOptions);

    private static byte[] Quote(string value) => Utf8(Str(value));

    private static byte[] Utf8(string value) => Encoding.UTF8.GetBytes(value);

    private static string ScalarArray(IEnumerable<string> values) => "[" + string.Join(", ", values.Select(Str)) + "]";

    /// <summary>The sidecar's bytes.</summary>
    public byte[] Write(SidecarContent c)
    {
        var w = new ArrayBufferWriter<byte>(256 + (c.Spans.Count * 64));
        Write(c, w);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>Appends the sidecar's bytes to <paramref name="w"/> (a writer thread reuses one: a shard of short documents has a sidecar of megabytes).</summary>
    public void Write(SidecarContent c, ArrayBufferWriter<byte> w)
    {
        ArgumentNullException.ThrowIfNull(w);

        // The files table: (source, file) pairs in order of first use by a span.
        var fileTable = new List<(int Source, int File)>();
        var fileIndex = new Dictionary<(int, int), int>();
        var spanFiles = ArrayPool<int>.Shared.Rent(c.Spans.Count);
        for (var i = 0; i < c.Spans.Count; i++)
        {
            var key = (c.Spans[i].Unit.Source, c.Spans[i].Unit.File);
            if (!fileIndex.TryGetValue(key, out var fi))
            {
                fi = fileTable.Count;
                fileIndex[key] = fi;
                fileTable.Add(key);
            }

            spanFiles[i] = fi;
        }

        Raw(w, _head);
        Lines(w, fileTable.Count, isObject: false, indent: 2, i =>
        {
            var (s, f) = fileTable[i];
            Raw(w, "    ["u8);
            Raw(w, _sourceNames[s]);
            Raw(w, ", "u8);
            Raw(w, _filePaths[s][f]);
            Raw(w, "]"u8);
        });

        Raw(w, ",\n  \"format\": \"LITPKDS\",\n  \"index\": "u8);
        Number(w, c.Index);
        Raw(w, _padId);
        State(w, c.State);
        Raw(w, _separator);
        Raw(w, Quote(c.Sha256));
        Raw(w, ",\n  \"shard\": "u8);
        Raw(w, Quote(c.Name));
        Raw(w, _sources);
        var spans = c.Spans;
        Lines(w, spans.Count, isObject: false, indent: 2, i =>
        {
            var s = spans[i];
            Raw(w, "    "u8);
            NumberRow(w, s.Offset, s.Unit.Source, spanFiles[i], s.Record, s.Start, s.End, s.FramedLength, s.Unit.Epoch, s.Unit.Stage);
        });

        Raw(w, _specToStages);
        Number(w, c.Index * _ctx.ChunkSize);
        Raw(w, _tokenizer);
        Number(w, c.Bos);
        Raw(w, ",\n    \"by_source\": "u8);
        var bySource = c.TokensBySource;
        Lines(w, _sourcesByName.Length, isObject: true, indent: 4, i =>
        {
            var s = _sourcesByName[i];
            Raw(w, "      "u8);
            Raw(w, _sourceNames[s]);
            Raw(w, ": "u8);
            Number(w, bySource[s]);
        });

        Raw(w, ",\n    \"eos\": "u8);
        Number(w, c.Eos);
        Raw(w, ",\n    \"pad\": "u8);
        Number(w, c.Pad);
        Raw(w, _vocab);
        ArrayPool<int>.Shared.Return(spanFiles);
    }

    private static void State(ArrayBufferWriter<byte> w, SchedulerState? state)
    {
        if (state is null)
        {
            Raw(w, "null"u8);
            return;
        }

        Raw(w, "{\n    \"in_flight\": "u8);
        Number(w, state.InFlight);
        Raw(w, ",\n    \"position\": "u8);
        Number(w, state.Position);
        Raw(w, ",\n    \"sources\": "u8);
        Lines(w, state.Sources.Count, isObject: false, indent: 4, i =>
        {
            var c = state.Sources[i];
            Raw(w, "      {\n        \"emitted\": "u8);
            Number(w, c.Emitted);
            Raw(w, ",\n        \"epoch\": "u8);
            Number(w, c.Epoch);
            Raw(w, ",\n        \"index\": "u8);
            Number(w, c.Index);
            Raw(w, ",\n        \"offset\": "u8);
            Number(w, c.Offset);
            Raw(w, "\n      }"u8);
        });

        Raw(w, "\n  }"u8);
    }

    /// <summary>
    /// A JSON array or object laid out as <see cref="Util.CanonicalJson"/> lays out one that does not fit a line: empty
    /// as <c>[]</c> / <c>{}</c>, else one item a line (each item writes its own indentation) and the closing bracket
    /// at <paramref name="indent"/> spaces.
    /// </summary>
    private static void Lines(ArrayBufferWriter<byte> w, int count, bool isObject, int indent, Action<int> item)
    {
        if (count == 0)
        {
            Raw(w, isObject ? "{}"u8 : "[]"u8);
            return;
        }

        Raw(w, isObject ? "{\n"u8 : "[\n"u8);
        for (var i = 0; i < count; i++)
        {
            item(i);
            Raw(w, i + 1 < count ? ",\n"u8 : "\n"u8);
        }

        w.GetSpan(indent)[..indent].Fill((byte)' ');
        w.Advance(indent);
        Raw(w, isObject ? "}"u8 : "]"u8);
    }

    private static void Raw(ArrayBufferWriter<byte> w, ReadOnlySpan<byte> bytes) => w.Write(bytes);

    /// <summary>
    /// Numbers as a one-line array: <c>[1, 2, 3]</c> (the order of <see cref="ShardPacker.SpanFields"/> for a span).
    /// Formatted into one span of the writer: a sidecar has a row per span, about 1,400 for a 4 MB shard, and asking
    /// the writer for room per number and separator took the sidecar code to 3.9–4.3 % of a 32-pass pack's samples
    /// (1.7–1.8 % this way; docs/perf.md).
    /// </summary>
    private static void NumberRow(ArrayBufferWriter<byte> w, params ReadOnlySpan<long> values)
    {
        // '[' and ']', and per number at most 20 characters (long.MinValue) and ", ".
        var span = w.GetSpan(2 + (values.Length * 22));
        span[0] = (byte)'[';
        var n = 1;
        for (var i = 0; i < values.Length; i++)
        {
            if (i > 0)
            {
                span[n++] = (byte)',';
                span[n++] = (byte)' ';
            }

            if (!Utf8Formatter.TryFormat(values[i], span[n..], out var written))
            {
                throw new InvalidOperationException("a number does not fit 20 bytes");
            }

            n += written;
        }

        span[n++] = (byte)']';
        w.Advance(n);
    }

    private static void Number(ArrayBufferWriter<byte> w, long value)
    {
        var span = w.GetSpan(20);
        if (!Utf8Formatter.TryFormat(value, span, out var n))
        {
            throw new InvalidOperationException("a number does not fit 20 bytes");
        }

        w.Advance(n);
    }
}
