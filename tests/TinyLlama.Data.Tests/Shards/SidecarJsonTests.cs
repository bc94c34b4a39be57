using System.Text;
using System.Text.Json.Nodes;
using TinyLlama.Data.Cache;
using TinyLlama.Data.Mixtures;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Packing;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Tests.Shards;

/// <summary>
/// The sidecar writer formats JSON by hand for speed; the oracle here is the sidecar as a JSON tree (how the
/// packer built it before) written by <see cref="CanonicalJson"/>: the bytes must be the same.
/// </summary>
public sealed class SidecarJsonTests
{
    private static PackContext Context(IReadOnlyList<string> sources, SeparatorPolicy separator, byte dtype) => new()
    {
        Layout = new OutputLayout(Path.GetTempPath(), "train"),
        ChunkSize = 4098,
        Dtype = dtype,
        Framing = Framing.For(separator, 1, 2),
        Separator = separator,
        Tail = TailPolicy.Pad,
        PadId = 0,
        VocabularySize = dtype == LitPkdsFormat.DtypeUInt16 ? 32000 : 100_000,
        SourceNames = sources,
        FilePaths = [.. sources.Select((s, i) => (IReadOnlyList<string>)[.. Enumerable.Range(0, 3).Select(f => $"{s}/dir \"ü\"\\{i}/part-{f}.jsonl.zst")])],
        Caches = [.. sources.Select(_ => (IReadOnlyList<TokenCacheEntry>)[])],
        StageNames = ["basic", "domain", "cool\u00e9down"],
        SpecHash = new string('a', 64),
        TokenizerSha256 = new string('b', 64),
    };

    /// <summary>The sidecar as a JSON tree, field by field as the packer wrote it before the hand-written form.</summary>
    private static byte[] Oracle(PackContext ctx, SidecarContent c)
    {
        var spans = new JsonArray();
        var fileTable = new List<(int Source, int File)>();
        foreach (var s in c.Spans)
        {
            var key = (s.Unit.Source, s.Unit.File);
            var fi = fileTable.IndexOf(key);
            if (fi < 0)
            {
                fi = fileTable.Count;
                fileTable.Add(key);
            }

            spans.Add(new JsonArray(s.Offset, s.Unit.Source, fi, s.Record, s.Start, s.End, s.FramedLength, s.Unit.Epoch, s.Unit.Stage));
        }

        var bySource = new JsonObject();
        for (var i = 0; i < ctx.SourceNames.Count; i++)
        {
            bySource[ctx.SourceNames[i]] = c.TokensBySource[i];
        }

        var state = c.State is null ? null : new JsonObject
        {
            ["position"] = c.State.Position,
            ["in_flight"] = c.State.InFlight,
            ["sources"] = new JsonArray([.. c.State.Sources.Select(x => (JsonNode?)new JsonObject
            {
                ["epoch"] = x.Epoch,
                ["index"] = x.Index,
                ["offset"] = x.Offset,
                ["emitted"] = x.Emitted,
            })]),
        };
        return CanonicalJson.SerializeToUtf8(new JsonObject
        {
            ["format"] = "LITPKDS",
            ["shard"] = c.Name,
            ["index"] = c.Index,
            ["sha256"] = c.Sha256,
            ["chunk_size"] = ctx.ChunkSize,
            ["dtype"] = LitPkdsFormat.DtypeName(ctx.Dtype),
            ["vocab_size"] = ctx.VocabularySize,
            ["bos_id"] = ctx.Framing.BosId,
            ["eos_id"] = ctx.Framing.EosId,
            ["pad_id"] = ctx.PadId,
            ["separator"] = SpecLoader.SeparatorName(ctx.Separator),
            ["spec_sha256"] = ctx.SpecHash,
            ["tokenizer_sha256"] = ctx.TokenizerSha256,
            ["start_token"] = c.Index * ctx.ChunkSize,
            ["tokens"] = new JsonObject { ["by_source"] = bySource, ["bos"] = c.Bos, ["eos"] = c.Eos, ["pad"] = c.Pad },
            ["sources"] = new JsonArray([.. ctx.SourceNames.Select(n => (JsonNode?)n)]),
            ["stages"] = new JsonArray([.. ctx.StageNames.Select(n => (JsonNode?)n)]),
            ["files"] = new JsonArray([.. fileTable.Select(f => (JsonNode?)new JsonArray(ctx.SourceNames[f.Source], ctx.FilePaths[f.Source][f.File]))]),
            ["span_fields"] = new JsonArray([.. ShardPacker.SpanFields.Select(n => (JsonNode?)n)]),
            ["spans"] = spans,
            ["scheduler_state"] = state,
        });
    }

    private static SidecarContent Content(int sources, int spanCount, bool state, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var spans = new List<PackSpan>();
        long offset = 0;
        for (var i = 0; i < spanCount; i++)
        {
            var unit = new PackUnit((int)(rng.NextUInt64() % (ulong)sources), (int)(rng.NextUInt64() % 3), (int)(rng.NextUInt64() % 1000), 0, 1, (int)(rng.NextUInt64() % 3), (int)(rng.NextUInt64() % 3));
            var length = (long)(rng.NextUInt64() % 5000) + 1;
            var start = (long)(rng.NextUInt64() % 3);
            spans.Add(new PackSpan(offset, unit, (long)(rng.NextUInt64() % 1_000_000_000_000), start, start + length, start + length + (long)(rng.NextUInt64() % 2)));
            offset += length;
        }

        var cursors = Enumerable.Range(0, sources).Select(s => new SourceCursor(s, s * 7, s * 1000L, s * 123_456_789_012L)).ToList();
        return new SidecarContent(
            Index: (long)(rng.NextUInt64() % 100_000),
            Name: "train_0000000042.bin",
            Sha256: new string('c', 64),
            Pad: (long)(rng.NextUInt64() % 10),
            Bos: (long)(rng.NextUInt64() % 10),
            Eos: 3,
            TokensBySource: [.. Enumerable.Range(0, sources).Select(s => (s * 1_000_003L) + 5)],
            Spans: spans,
            State: state ? new SchedulerState(4098L * 42, sources > 1 ? 1 : -1, cursors) : null);
    }

    [Theory]
    [InlineData(1, 1400, true, SeparatorPolicy.DocEos, LitPkdsFormat.DtypeUInt16)]
    [InlineData(4, 300, true, SeparatorPolicy.BosDocEos, LitPkdsFormat.DtypeInt32)]
    [InlineData(3, 1, false, SeparatorPolicy.BosDoc, LitPkdsFormat.DtypeUInt16)]
    [InlineData(2, 0, true, SeparatorPolicy.DocEos, LitPkdsFormat.DtypeUInt16)]
    [InlineData(2, 0, false, SeparatorPolicy.BosDocEos, LitPkdsFormat.DtypeInt32)]
    public void Bytes_equal_the_canonical_json_of_the_sidecar_tree(int sources, int spans, bool state, SeparatorPolicy separator, byte dtype)
    {
        // Source names out of ordinal order, with characters that JSON escapes or keeps.
        string[] names = ["slimpajama", "Proof-Pile", "sky\u4e2d\u6587", "a\"b\\c"];
        var ctx = Context([.. names.Take(sources)], separator, dtype);
        var writer = new SidecarJson(ctx);
        for (ulong seed = 1; seed <= 3; seed++)
        {
            var content = Content(sources, spans, state, seed);
            var bytes = writer.Write(content);
            Encoding.UTF8.GetString(bytes).Should().Be(Encoding.UTF8.GetString(Oracle(ctx, content)));
        }
    }
}
