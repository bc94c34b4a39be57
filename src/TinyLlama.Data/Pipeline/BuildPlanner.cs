using System.Globalization;
using System.Text.Json.Nodes;
using TinyLlama.Data.Cache;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Packing;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Shards;

namespace TinyLlama.Data.Pipeline;

/// <summary>One stage of a build plan: its token range and what it is in shards.</summary>
public sealed record StageShards(string Name, long Start, long End, double Shards, IReadOnlyList<double> SourceTokens);

/// <summary>
/// What a build will do, before any heavy work: tokens per source per stage, epochs against caps, shards,
/// disk, and whether TinyLlama's loader will read every shard.
/// </summary>
public sealed record BuildPlanReport(
    BuildSpec Spec,
    string SizesFrom,
    IReadOnlyList<MixtureSourceSize> Sizes,
    MixturePlan Plan,
    IReadOnlyList<StageShards> Stages,
    long Shards,
    long TailTokens,
    long ShardBytes,
    IReadOnlyList<string> TrainerNotes)
{
    public long DiskBytes => Shards * ShardBytes;

    public JsonObject ToJson()
    {
        var sources = new JsonArray();
        for (var i = 0; i < Plan.Sources.Count; i++)
        {
            var s = Plan.Sources[i];
            sources.Add(new JsonObject
            {
                ["name"] = s.Name,
                ["available_tokens"] = s.Tokens,
                ["documents"] = s.Documents,
                ["max_epochs"] = s.MaxEpochs,
                ["capacity_tokens"] = s.CapacityTokens,
                ["planned_tokens"] = Math.Round(s.PlannedTokens, 3),
                ["epochs"] = Math.Round(s.Epochs, 6),
                ["feasible"] = s.Feasible,
            });
        }

        var stages = new JsonArray();
        foreach (var st in Stages)
        {
            var by = new JsonObject();
            for (var i = 0; i < st.SourceTokens.Count; i++)
            {
                by[Plan.Sources[i].Name] = Math.Round(st.SourceTokens[i], 3);
            }

            stages.Add(new JsonObject
            {
                ["name"] = st.Name,
                ["start"] = st.Start,
                ["end"] = st.End,
                ["shards"] = Math.Round(st.Shards, 6),
                ["tokens_by_source"] = by,
            });
        }

        return new JsonObject
        {
            ["spec_sha256"] = Spec.SpecHash,
            ["sizes_from"] = SizesFrom,
            ["feasible"] = Plan.IsFeasible,
            ["errors"] = new JsonArray([.. Plan.Errors.Select(e => (JsonNode?)e)]),
            ["total_tokens"] = Plan.TotalTokens,
            ["sources"] = sources,
            ["stages"] = stages,
            ["shards"] = Shards,
            ["tail_tokens"] = TailTokens,
            ["tail"] = Spec.Output.Tail == TailPolicy.Drop ? "drop" : "pad",
            ["shard_bytes"] = ShardBytes,
            ["disk_bytes"] = DiskBytes,
            ["trainer_notes"] = new JsonArray([.. TrainerNotes.Select(e => (JsonNode?)e)]),
        };
    }
}

/// <summary>Plans a build from declared source sizes or from finished token caches, without tokenizing.</summary>
public static class BuildPlanner
{
    /// <summary>True when some stage (or ramp start) gives the source a positive weight.</summary>
    public static bool IsUsed(BuildSpec spec, string source)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Stages.Any(st => st.Weights.GetValueOrDefault(source) > 0 || (st.Ramp?.From?.GetValueOrDefault(source) ?? 0) > 0);
    }

    /// <summary>
    /// Sizes declared in the spec (framed: declared tokens plus one separator per declared document and per
    /// separator of the policy), or null when some used source declares none.
    /// </summary>
    public static IReadOnlyList<MixtureSourceSize>? DeclaredSizes(BuildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var extra = Framing.For(spec.Output.Separator, 1, 2).Extra;
        var sizes = new List<MixtureSourceSize>();
        foreach (var s in spec.Sources)
        {
            if (!IsUsed(spec, s.Name))
            {
                sizes.Add(new MixtureSourceSize(s.Name, 0, s.MaxEpochs, 0));
                continue;
            }

            if (s.DeclaredTokens is not { } tokens)
            {
                return null;
            }

            var docs = s.DeclaredDocuments ?? -1;
            sizes.Add(new MixtureSourceSize(s.Name, tokens + (docs > 0 ? docs * extra : 0), s.MaxEpochs, docs));
        }

        return sizes;
    }

    /// <summary>Sizes from the token caches of every input file; a file not yet tokenized is an error.</summary>
    public static IReadOnlyList<MixtureSourceSize> CachedSizes(BuildSpec spec, TokenCache cache)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(cache);
        var framing = Framing.For(spec.Output.Separator, 1, 2);
        var sizes = new List<MixtureSourceSize>();
        foreach (var s in spec.Sources)
        {
            if (!IsUsed(spec, s.Name))
            {
                sizes.Add(new MixtureSourceSize(s.Name, 0, s.MaxEpochs, 0));
                continue;
            }

            var resolved = SourceResolver.Resolve(s.Reader, spec.SpecDirectory);
            long tokens = 0, docs = 0;
            foreach (var file in resolved.Files)
            {
                var entry = cache.TryOpen(file, resolved.Options) ?? throw new PlanException(
                    $"source '{s.Name}': {file} is not tokenized yet (no complete cache entry in {cache.Directory}); declare sizes in the spec or run build");
                tokens += entry.FramedTokens(framing);
                docs += entry.DocumentCount;
            }

            sizes.Add(new MixtureSourceSize(s.Name, tokens, s.MaxEpochs, docs));
        }

        return sizes;
    }

    public static BuildPlanReport Plan(BuildSpec spec, IReadOnlyList<MixtureSourceSize> sizes, int vocabularySize, string sizesFrom)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(sizes);
        IReadOnlyList<MixtureStage> stages;
        MixturePlan plan;
        try
        {
            stages = ScheduledPlan.ToStages(spec, sizes);
            plan = MixturePlanner.Plan(sizes, stages);
        }
        catch (ArgumentException e)
        {
            throw new SpecException(spec.SpecPath, 0, 0, e.Message, e);
        }

        var chunk = spec.Output.ChunkSize;
        var stageShards = plan.Stages.Select(st => new StageShards(st.Name, st.Start, st.End, (double)st.Tokens / chunk, st.SourceTokens)).ToList();
        var total = plan.TotalTokens;
        var shards = spec.Output.ShardCount(total);
        var tail = spec.Output.TailTokens(total);
        var width = LitPkdsFormat.TokenWidth(LitPkdsFormat.DtypeFor(vocabularySize));
        var notes = TrainerNotes(spec, stageShards, shards);
        return new BuildPlanReport(spec, sizesFrom, sizes, plan, stageShards, shards, tail, LitPkdsFormat.HeaderSize + (chunk * width), notes);
    }

    private static List<string> TrainerNotes(BuildSpec spec, List<StageShards> stages, long shards)
    {
        if (spec.Trainer is not { } t)
        {
            return ["no trainer section: the shard counts are not checked against a loader"];
        }

        var ranges = stages.Select(st => (st.Name, st.Start, st.End - st.Start)).ToList();
        return [.. TrainerConstraints.Check(t, spec.Output.ChunkSize, shards, ranges).Select(f => f.Problem)];
    }
}
