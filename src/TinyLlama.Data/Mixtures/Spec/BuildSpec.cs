using TinyLlama.Data.Readers;

namespace TinyLlama.Data.Mixtures.Spec;

/// <summary>How documents are framed with control tokens before packing.</summary>
public enum SeparatorPolicy
{
    /// <summary><c>doc+eos</c>: ids then EOS (TinyLlama's scripts: <c>sp.encode(text) + [eos]</c>).</summary>
    DocEos,

    /// <summary><c>bos+doc</c>: BOS then ids.</summary>
    BosDoc,

    /// <summary><c>bos+doc+eos</c>: BOS, ids, EOS.</summary>
    BosDocEos,
}

/// <summary>What happens to the last, partial shard.</summary>
public enum TailPolicy
{
    /// <summary>Dropped, as TinyLlama does; the dropped token count is reported.</summary>
    Drop,

    /// <summary>Filled up to the chunk size with the pad token; the padded token count is reported.</summary>
    Pad,
}

/// <summary>A source of the mixture: how to read it (<see cref="Reader"/>) and how the scheduler draws from it.</summary>
public sealed record MixtureSourceSpec
{
    public required SourceSpec Reader { get; init; }

    public string Name => Reader.Name;

    public SourceOrder Order { get; init; } = SourceOrder.Shuffled;

    /// <summary>How many passes over the source the build may make (repetition cap).</summary>
    public double MaxEpochs { get; init; } = 1;

    /// <summary>Declared size in tokens (for <c>plan</c> before any tokenizing), if given.</summary>
    public long? DeclaredTokens { get; init; }

    /// <summary>Declared size in documents, if given.</summary>
    public long? DeclaredDocuments { get; init; }
}

/// <summary>A linear ramp at the start of a stage: from <see cref="From"/> (or the previous stage's weights) to the stage's.</summary>
public sealed record RampSpec(long Tokens, IReadOnlyDictionary<string, double>? From);

/// <summary>One stage of the schedule.</summary>
public sealed record StageSpec
{
    public required string Name { get; init; }

    /// <summary>Tokens in this stage; null means "all": every used token of every source, once (single stage only).</summary>
    public long? Tokens { get; init; }

    /// <summary>Target weight per source name (normalised to shares); sources not named have weight 0.</summary>
    public required IReadOnlyDictionary<string, double> Weights { get; init; }

    public RampSpec? Ramp { get; init; }

    /// <summary>Trainer batch size in tokens during this stage (recorded for the trainer; e.g. 1.8M → 7.2M in the cooldown).</summary>
    public long? BatchTokens { get; init; }
}

public sealed record OutputSpec
{
    public required string Prefix { get; init; }

    public long ChunkSize { get; init; } = Shards.LitPkdsFormat.DefaultChunkSize;

    public SeparatorPolicy Separator { get; init; } = SeparatorPolicy.DocEos;

    public TailPolicy Tail { get; init; } = TailPolicy.Drop;

    /// <summary>Token used to pad the tail; null = BOS (TinyLlama's fill/separator token).</summary>
    public int? PadId { get; init; }

    /// <summary>How many shards a stream of <paramref name="tokens"/> tokens fills under the tail policy.</summary>
    public long ShardCount(long tokens) => Tail == TailPolicy.Drop ? tokens / ChunkSize : (tokens + ChunkSize - 1) / ChunkSize;

    /// <summary>Tokens dropped (tail: drop) or padded (tail: pad) at the end of such a stream.</summary>
    public long TailTokens(long tokens) => Tail == TailPolicy.Drop ? tokens % ChunkSize : (ShardCount(tokens) * ChunkSize) - tokens;
}

/// <summary>The trainer that will read the shards; <c>plan</c> and <c>verify</c> check the shards fit it.</summary>
public sealed record TrainerSpec
{
    public long BlockSize { get; init; } = 2049;

    public int WorldSize { get; init; } = 1;

    public int Workers { get; init; } = 1;

    /// <summary>lit_gpt PackedDataset's n_chunks: files shuffled together in one buffer.</summary>
    public int BufferFiles { get; init; } = 8;
}

/// <summary>A whole build spec after loading, merging <c>extends</c> and validating.</summary>
public sealed record BuildSpec
{
    public required string SpecPath { get; init; }

    public string SpecDirectory => Path.GetDirectoryName(Path.GetFullPath(SpecPath))!;

    public int Version { get; init; } = 1;

    public ulong Seed { get; init; }

    /// <summary>Absolute path of the SentencePiece model.</summary>
    public required string TokenizerPath { get; init; }

    public required IReadOnlyList<MixtureSourceSpec> Sources { get; init; }

    public required IReadOnlyList<StageSpec> Stages { get; init; }

    public required OutputSpec Output { get; init; }

    public TrainerSpec? Trainer { get; init; }

    /// <summary>Longest scheduling unit in tokens: longer documents are split into units of at most this.</summary>
    public int MaxUnitTokens { get; init; } = 8192;

    /// <summary>sha256 of the canonical JSON of the merged spec: the identity of the build's recipe.</summary>
    public required string SpecHash { get; init; }

    /// <summary>The merged spec as canonical JSON text (recorded in the manifest).</summary>
    public required string CanonicalJson { get; init; }

    public int SourceIndex(string name)
    {
        for (var i = 0; i < Sources.Count; i++)
        {
            if (string.Equals(Sources[i].Name, name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
