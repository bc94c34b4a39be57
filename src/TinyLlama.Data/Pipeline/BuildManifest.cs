using System.Text;
using System.Text.Json.Nodes;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Packing;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Tokenization;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Pipeline;

/// <summary>The build manifest (<c>manifest.json</c>): the recipe, the accounting and every shard. No timestamps.</summary>
public static class BuildManifest
{
    public const int Version = 1;

    /// <summary>
    /// Writes the manifest to <paramref name="path"/> (temp file, then rename), one shard at a time: its memory
    /// does not grow with the number of shards.
    /// </summary>
    public static void Write(string path, BuildSpec spec, SentencePieceTokenizer tokenizer, long chunkSize, byte dtype, int padId, IReadOnlyList<SourceSummary> sources, PackResult pack)
    {
        ArgumentNullException.ThrowIfNull(pack);
        var head = Create(spec, tokenizer, chunkSize, dtype, padId, sources, pack);
        using var file = new AtomicFile(path);
        using (var writer = new StreamWriter(file.Stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true))
        {
            CanonicalJson.WriteStreamingArray(writer, head, "shards", pack.Shards.Select(ShardJson));
        }

        file.Commit();
    }

    /// <summary>Everything of the manifest but its <c>shards</c> array.</summary>
    public static JsonObject Create(BuildSpec spec, SentencePieceTokenizer tokenizer, long chunkSize, byte dtype, int padId, IReadOnlyList<SourceSummary> sources, PackResult pack)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(pack);
        var sourcesJson = new JsonObject();
        foreach (var s in sources)
        {
            var files = new JsonArray();
            foreach (var (path, counts) in s.Files)
            {
                files.Add(new JsonObject { ["path"] = path, ["records"] = counts.ToJson() });
            }

            sourcesJson[s.Name] = new JsonObject
            {
                ["files"] = files,
                ["records"] = s.Totals.ToJson(),
                ["framed_tokens_available"] = s.FramedTokens,
                ["tokens_in_shards"] = s.TokensInShards,
            };
        }

        return new JsonObject
        {
            ["manifest_version"] = Version,
            ["tool"] = "tinyllama-data",
            ["spec_sha256"] = spec.SpecHash,
            ["spec"] = JsonNode.Parse(spec.CanonicalJson),
            ["tokenizer"] = new JsonObject
            {
                ["file"] = Path.GetFileName(spec.TokenizerPath),
                ["sha256"] = tokenizer.ModelSha256,
                ["vocab_size"] = tokenizer.VocabularySize,
                ["bos_id"] = tokenizer.BosId,
                ["eos_id"] = tokenizer.EosId,
            },
            ["output"] = new JsonObject
            {
                ["format"] = "LITPKDS",
                ["prefix"] = spec.Output.Prefix,
                ["chunk_size"] = chunkSize,
                ["dtype"] = LitPkdsFormat.DtypeName(dtype),
                ["separator"] = SpecLoader.SeparatorName(spec.Output.Separator),
                ["tail"] = spec.Output.Tail == TailPolicy.Drop ? "drop" : "pad",
                ["pad_id"] = padId,
                ["tokens_planned"] = pack.TokensIn,
                ["tail_dropped_tokens"] = pack.TailDroppedTokens,
                ["tail_padded_tokens"] = pack.TailPaddedTokens,
                ["shard_count"] = pack.Shards.Count,
            },
            ["sources"] = sourcesJson,
        };
    }

    private static JsonObject ShardJson(ShardInfo shard)
    {
        var by = new JsonObject();
        foreach (var (k, v) in shard.TokensBySource)
        {
            by[k] = v;
        }

        return new JsonObject
        {
            ["name"] = shard.Name,
            ["sha256"] = shard.Sha256,
            ["tokens_by_source"] = by,
            ["bos"] = shard.Bos,
            ["eos"] = shard.Eos,
            ["pad"] = shard.Pad,
        };
    }
}
