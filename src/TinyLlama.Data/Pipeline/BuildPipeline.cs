using System.Text.Json.Nodes;
using TinyLlama.Data.Cache;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Packing;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Tokenization;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Pipeline;

public sealed record BuildOptions
{
    public required string OutputDirectory { get; init; }

    /// <summary>Token cache folder; null = OUT/cache. Share one between variants to tokenize once.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Tokenizer threads; the output is byte-identical whatever the number.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
}

public sealed record SourceSummary(string Name, IReadOnlyList<(string Path, RecordCounts Counts)> Files, RecordCounts Totals, long FramedTokens, long TokensInShards);

public sealed record BuildResult(
    BuildSpec Spec,
    OutputLayout Layout,
    IReadOnlyList<SourceSummary> Sources,
    PackResult Pack,
    string ManifestPath);

/// <summary>
/// A whole build: resolve sources → tokenize each input file once into the token cache → plan the stream →
/// pack shards and sidecars → write the manifest (last, so a folder without one is never taken for a
/// complete build).
/// </summary>
public static class BuildPipeline
{
    public static BuildResult Run(BuildSpec spec, BuildOptions options, BuildProgress? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        progress ??= new BuildProgress();
        var layout = new OutputLayout(options.OutputDirectory, spec.Output.Prefix);
        PrepareOutput(layout);

        var tokenizer = SentencePieceTokenizer.Load(spec.TokenizerPath);
        var padId = spec.Output.PadId ?? tokenizer.BosId;
        if (padId < 0 || padId >= tokenizer.VocabularySize)
        {
            throw new SpecException(spec.SpecPath, 0, 0, FormattableString.Invariant($"output.pad_id {padId} is not an id of the tokenizer (0..{tokenizer.VocabularySize - 1})"));
        }

        // A plan from declared sizes fails before any heavy work.
        if (BuildPlanner.DeclaredSizes(spec) is { } declared)
        {
            BuildPlanner.Plan(spec, declared, tokenizer.VocabularySize, "declared").Plan.ThrowIfInfeasible();
        }

        var cache = new TokenCache(options.CacheDirectory ?? layout.DefaultCacheDirectory, tokenizer);
        AtomicFile.RemoveStaleTempFiles(cache.Directory);

        // 1. Resolve and tokenize.
        progress.Phase = "tokenize";
        // A source no stage gives weight is not read at all (a variant may leave out a corpus it does not have).
        var resolved = spec.Sources.Select(s => BuildPlanner.IsUsed(spec, s.Name)
            ? SourceResolver.Resolve(s.Reader, spec.SpecDirectory)
            : new ResolvedSource(s.Reader, [], new ReaderOptions())).ToList();
        foreach (var file in resolved.SelectMany(r => r.Files))
        {
            progress.AddInputTotal(new FileInfo(file).Length);
        }

        var jobs = resolved.SelectMany((r, s) => r.Files.Select((f, i) => (Source: s, File: i, Path: f, r.Options))).ToList();
        var entries = resolved.Select(r => new TokenCacheEntry[r.Files.Count]).ToArray();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Threads), CancellationToken = cancellationToken };
        Parallel.ForEach(jobs, parallel, job =>
            entries[job.Source][job.File] = cache.GetOrBuild(job.Path, job.Options, progress, cancellationToken));

        var framing = Framing.For(spec.Output.Separator, tokenizer.BosId, tokenizer.EosId);
        var summaries = new List<SourceSummary>();
        for (var s = 0; s < resolved.Count; s++)
        {
            var totals = new RecordCounts();
            var files = new List<(string, RecordCounts)>();
            for (var f = 0; f < resolved[s].Files.Count; f++)
            {
                totals.Add(entries[s][f].Counts);
                files.Add((DisplayPath(spec, spec.Sources[s], resolved[s].Files[f]), entries[s][f].Counts));
            }

            var rejected = totals.RejectedTotal;
            if (rejected > spec.Sources[s].Reader.MaxBadRecords)
            {
                var reasons = string.Join(", ", totals.Rejected.Select(kv => FormattableString.Invariant($"{kv.Key} {kv.Value}")));
                throw new BadInputException(spec.Sources[s].Name, -1, -1, FormattableString.Invariant(
                    $"{rejected} bad records skipped ({reasons}), more than max_bad_records {spec.Sources[s].Reader.MaxBadRecords}"));
            }

            summaries.Add(new SourceSummary(spec.Sources[s].Name, files, totals, entries[s].Sum(e => e.DocumentTokens.Sum(t => framing.FramedLength(t))), 0));
        }

        // 2. Plan.
        progress.Phase = "plan";
        var planned = resolved.Select((r, s) => new PlannedSource(
            spec.Sources[s].Name,
            entries[s].Select(e => e.DocumentTokens).ToList(),
            framing)).ToList();
        var plan = new ScheduledPlan(spec, planned);
        progress.SetShardsTotal(spec.Output.Tail == TailPolicy.Drop
            ? plan.TotalTokens / spec.Output.ChunkSize
            : (plan.TotalTokens + spec.Output.ChunkSize - 1) / spec.Output.ChunkSize);

        // 3. Pack.
        progress.Phase = "pack";
        var context = new PackContext
        {
            Layout = layout,
            ChunkSize = spec.Output.ChunkSize,
            Dtype = LitPkdsFormat.DtypeFor(tokenizer.VocabularySize),
            Framing = framing,
            Separator = spec.Output.Separator,
            Tail = spec.Output.Tail,
            PadId = padId,
            VocabularySize = tokenizer.VocabularySize,
            SourceNames = spec.Sources.Select(s => s.Name).ToList(),
            FilePaths = resolved.Select((r, s) => (IReadOnlyList<string>)r.Files.Select(f => DisplayPath(spec, spec.Sources[s], f)).ToList()).ToList(),
            Caches = entries,
            StageNames = spec.Stages.Select(s => s.Name).ToList(),
            SpecHash = spec.SpecHash,
            TokenizerSha256 = tokenizer.ModelSha256,
        };
        PackResult pack;
        using (var packer = new ShardPacker(context) { Progress = progress })
        {
            pack = packer.Pack(plan, cancellationToken);
        }

        var inShards = pack.Shards.Sum(s => s.TokensBySource.Values.Sum()) + pack.Shards.Sum(s => s.Pad);
        if (inShards + pack.TailDroppedTokens - pack.TailPaddedTokens != plan.TotalTokens || pack.TokensIn != plan.TotalTokens)
        {
            throw new InvalidOperationException("token accounting does not balance: planned tokens != tokens in shards + dropped - padded");
        }

        RemoveStaleShards(layout, pack.Shards.Count);
        for (var s = 0; s < summaries.Count; s++)
        {
            summaries[s] = summaries[s] with { TokensInShards = pack.Shards.Sum(x => x.TokensBySource[summaries[s].Name]) };
        }

        // 4. Manifest, last.
        var manifest = BuildManifest.Create(spec, tokenizer, context, summaries, pack);
        AtomicFile.WriteAllBytes(layout.ManifestPath, CanonicalJson.SerializeToUtf8(manifest));
        progress.Phase = "done";
        return new BuildResult(spec, layout, summaries, pack, layout.ManifestPath);
    }

    /// <summary>
    /// Where a file is recorded in sidecars and the manifest, '/'-separated: relative to the source's root
    /// for presets (e.g. <c>train/chunk1/example_train_0.jsonl.zst</c>), else relative to the spec's folder.
    /// </summary>
    public static string DisplayPath(BuildSpec spec, MixtureSourceSpec source, string file)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(source);
        var baseDir = source.Reader.Root is { } root ? Path.GetFullPath(Path.Combine(spec.SpecDirectory, root)) : spec.SpecDirectory;
        return Path.GetRelativePath(baseDir, file).Replace('\\', '/');
    }

    private static void PrepareOutput(OutputLayout layout)
    {
        try
        {
            Directory.CreateDirectory(layout.Directory);
            Directory.CreateDirectory(layout.SidecarDirectory);

            // Until the new manifest is written, the folder is not a complete build.
            if (File.Exists(layout.ManifestPath))
            {
                File.Delete(layout.ManifestPath);
            }

            AtomicFile.RemoveStaleTempFiles(layout.Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(layout.Directory, "cannot prepare the output folder: " + e.Message, e);
        }
    }

    /// <summary>Shards from an earlier, longer build with the same prefix would be read by the trainer: remove them.</summary>
    private static void RemoveStaleShards(OutputLayout layout, int count)
    {
        foreach (var path in Directory.EnumerateFiles(layout.Directory, layout.Prefix + "_*.bin"))
        {
            var name = Path.GetFileName(path);
            var digits = name[(layout.Prefix.Length + 1)..^4];
            if (digits.Length == 10 && long.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= count)
            {
                File.Delete(path);
                var sidecar = layout.SidecarPath(name);
                if (File.Exists(sidecar))
                {
                    File.Delete(sidecar);
                }
            }
        }
    }
}
