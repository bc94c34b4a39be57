using System.Globalization;
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

    /// <summary>This worker's slice of the work (tokenize: input files; pack: a range of shards).</summary>
    public WorkerSlice Worker { get; init; } = WorkerSlice.All;

    /// <summary>
    /// Folder for the plan and pack steps' document table: an unlinked temp file of about 8 bytes per document
    /// of the build (5 GB for SlimPajama), gone when the process ends. Null: the system temp folder
    /// (<c>$TMPDIR</c>, else <c>/tmp</c>). On a cluster, point it at node-local disk.
    /// </summary>
    public string? TempDirectory { get; init; }

    /// <summary>A document table this large in a temp folder held in memory (tmpfs) gets a warning: 256 MB, 32 M documents (tests set 0).</summary>
    internal long InMemoryTempWarningBytes { get; init; } = 256L << 20;

    /// <summary>Bound on the memory that caches the document table's blocks (tests set it small to exercise eviction).</summary>
    internal long DocumentCacheBytes { get; init; } = DocumentTable.DefaultCacheBytes;

    /// <summary>Whether the pack step may hash 16 shards at a time (<see cref="ShardPacker.LaneHashing"/>; tests compare both ways).</summary>
    internal bool LaneHashing { get; init; } = true;

    /// <summary>The pack step's budget for shards in flight (<see cref="ShardPacker.InFlightBudget"/>; tests make it small).</summary>
    internal long PackInFlightBudget { get; init; } = ShardPacker.DefaultInFlightBudget;
}

public sealed record SourceSummary(string Name, IReadOnlyList<(string Path, RecordCounts Counts)> Files, RecordCounts Totals, long FramedTokens, long TokensInShards);

public sealed record BuildResult(
    BuildSpec Spec,
    OutputLayout Layout,
    IReadOnlyList<SourceSummary> Sources,
    PackResult Pack,
    string ManifestPath,
    long ShardsWritten);

/// <summary>What a tokenize or pack step did for one worker.</summary>
public sealed record StepResult(string Step, WorkerSlice Worker, long Units, long UnitsDone, long UnitsKept);

/// <summary>
/// A build in three steps, each resumable and each splittable over workers with nothing shared but the
/// file system: <see cref="Tokenize"/> (each input file once into the token cache), <see cref="Pack"/>
/// (plan the stream from the caches, write shards and sidecars), <see cref="Finalize"/> (check every unit
/// is done, write the manifest). <see cref="Run"/> does all three in one process. A killed step is run
/// again with the same command: finished units are kept (a cache entry is complete when its metadata
/// exists; a shard when it and its sidecar are exactly what would be written), the rest is redone, and the
/// result is byte-identical to an uninterrupted run.
/// </summary>
public static class BuildPipeline
{
    public static BuildResult Run(BuildSpec spec, BuildOptions options, BuildProgress? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var context = Prepare(spec, options, removeStaleTemps: true);
        progress ??= new BuildProgress();
        // One worker with every file: the entries come back in source, then file order.
        TokenizeFiles(context, options with { Worker = WorkerSlice.All }, progress, cancellationToken, out var all);
        var entries = new TokenCacheEntry[context.Sources.Count][];
        var next = 0;
        for (var s = 0; s < entries.Length; s++)
        {
            entries[s] = [.. all.Skip(next).Take(context.Sources[s].Files.Count)];
            next += entries[s].Length;
        }

        return PackAndFinish(context, entries, options, progress, ShardAction.Resume, cancellationToken);
    }

    /// <summary>Step 1: tokenize this worker's share of the input files (file j goes to worker j mod count).</summary>
    public static StepResult Tokenize(BuildSpec spec, BuildOptions options, BuildProgress? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var context = Prepare(spec, options, removeStaleTemps: false);
        return TokenizeFiles(context, options, progress ?? new BuildProgress(), cancellationToken, out _);
    }

    /// <summary>Step 2: write this worker's contiguous range of shards (every input must be tokenized).</summary>
    public static StepResult Pack(BuildSpec spec, BuildOptions options, BuildProgress? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var context = Prepare(spec, options, removeStaleTemps: false);
        progress ??= new BuildProgress();
        var entries = OpenCaches(context);
        using var documents = IndexDocuments(context, entries, options, progress, cancellationToken);
        var plan = PlanStream(context, documents, progress);
        var shards = spec.Output.ShardCount(plan.TotalTokens);
        var (first, end) = options.Worker.Range(shards);
        using var packer = Packer(context, entries, progress, options, k => k >= first && k < end ? ShardAction.Resume : ShardAction.Skip);
        packer.Pack(plan, cancellationToken);
        return new StepResult("pack", options.Worker, end - first, packer.ShardsWritten, end - first - packer.ShardsWritten);
    }

    /// <summary>Step 3: check that every input is tokenized and every shard written as the plan says, then write the manifest.</summary>
    public static BuildResult Finalize(BuildSpec spec, BuildOptions options, BuildProgress? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var context = Prepare(spec, options, removeStaleTemps: true);
        return PackAndFinish(context, OpenCaches(context), options, progress ?? new BuildProgress(), ShardAction.Check, cancellationToken);
    }

    private sealed record Context(
        BuildSpec Spec,
        OutputLayout Layout,
        SentencePieceTokenizer Tokenizer,
        TokenCache Cache,
        IReadOnlyList<ResolvedSource> Sources,
        Framing Framing,
        int PadId);

    private static Context Prepare(BuildSpec spec, BuildOptions options, bool removeStaleTemps)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var layout = new OutputLayout(options.OutputDirectory, spec.Output.Prefix);
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
        try
        {
            Directory.CreateDirectory(layout.Directory);
            Directory.CreateDirectory(layout.SidecarDirectory);
            Directory.CreateDirectory(cache.Directory);

            // Until a new manifest is written, the folder is not a complete build.
            if (File.Exists(layout.ManifestPath))
            {
                File.Delete(layout.ManifestPath);
            }

            if (removeStaleTemps)
            {
                // Only single-process steps clean up: a worker must not delete another worker's temp file.
                AtomicFile.RemoveStaleTempFiles(layout.Directory);
                AtomicFile.RemoveStaleTempFiles(cache.Directory);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(layout.Directory, "cannot prepare the output folder: " + e.Message, e);
        }

        // A source no stage gives weight is not read at all (a variant may leave out a corpus it does not have).
        var resolved = spec.Sources.Select(s => BuildPlanner.IsUsed(spec, s.Name)
            ? SourceResolver.Resolve(s.Reader, spec.SpecDirectory)
            : new ResolvedSource(s.Reader, [], new ReaderOptions())).ToList();
        return new Context(spec, layout, tokenizer, cache, resolved, Framing.For(spec.Output.Separator, tokenizer.BosId, tokenizer.EosId), padId);
    }

    /// <summary>Tokenizes the worker's files; <paramref name="entries"/> are their cache entries, in job order.</summary>
    private static StepResult TokenizeFiles(Context c, BuildOptions options, BuildProgress progress, CancellationToken cancellationToken, out IReadOnlyList<TokenCacheEntry> entries)
    {
        progress.Phase = "tokenize";
        var jobs = c.Sources
            .SelectMany((r, s) => r.Files.Select(f => (Path: f, r.Options)))
            .Where((_, j) => options.Worker.Owns(j))
            .ToList();
        foreach (var (path, _) in jobs)
        {
            progress.AddInputTotal(new FileInfo(path).Length);
        }

        // Files already complete are kept; the rest are tokenized on Threads threads in all (several files
        // at once, each file over several threads), with caches byte-identical for any thread count.
        entries = c.Cache.GetOrBuildAll(jobs, options.Threads, progress, cancellationToken, out var built);
        return new StepResult("tokenize", options.Worker, jobs.Count, built, jobs.Count - built);
    }

    private static TokenCacheEntry[][] OpenCaches(Context c)
    {
        var entries = c.Sources.Select(r => new TokenCacheEntry[r.Files.Count]).ToArray();
        for (var s = 0; s < c.Sources.Count; s++)
        {
            for (var f = 0; f < c.Sources[s].Files.Count; f++)
            {
                entries[s][f] = c.Cache.TryOpen(c.Sources[s].Files[f], c.Sources[s].Options) ?? throw new IoFailureException(
                    c.Sources[s].Files[f], "not tokenized yet (no complete token cache entry): run the tokenize step for it first");
            }
        }

        return entries;
    }

    /// <summary>Reads and checks every cache index into the table the plan and the packer look documents up in.</summary>
    private static DocumentTable IndexDocuments(Context c, TokenCacheEntry[][] entries, BuildOptions options, BuildProgress progress, CancellationToken cancellationToken)
    {
        progress.Phase = "plan";
        var temp = options.TempDirectory ?? Path.GetTempPath();
        var bytes = DocumentTable.TableBytes(DocumentTable.DocumentsIn(entries));
        if (bytes >= options.InMemoryTempWarningBytes && FileSystems.IsInMemory(temp))
        {
            progress.Warn(string.Create(CultureInfo.InvariantCulture,
                $"the document table ({bytes / 1e9:N1} GB) goes to {temp}, which is in memory (tmpfs): it will take that much RAM, outside this process's RSS; give --temp-dir (or TMPDIR) a folder on disk"));
        }

        return DocumentTable.Build(entries, temp, cancellationToken, options.DocumentCacheBytes);
    }

    private static ScheduledPlan PlanStream(Context c, DocumentTable documents, BuildProgress progress)
    {
        var plan = new ScheduledPlan(c.Spec, documents, c.Framing);
        progress.SetShardsTotal(c.Spec.Output.ShardCount(plan.TotalTokens));
        return plan;
    }

    private static ShardPacker Packer(Context c, TokenCacheEntry[][] entries, BuildProgress progress, BuildOptions options, Func<long, ShardAction> action) =>
        new(new PackContext
        {
            Layout = c.Layout,
            ChunkSize = c.Spec.Output.ChunkSize,
            Dtype = LitPkdsFormat.DtypeFor(c.Tokenizer.VocabularySize),
            Framing = c.Framing,
            Separator = c.Spec.Output.Separator,
            Tail = c.Spec.Output.Tail,
            PadId = c.PadId,
            VocabularySize = c.Tokenizer.VocabularySize,
            SourceNames = c.Spec.Sources.Select(s => s.Name).ToList(),
            FilePaths = c.Sources.Select((r, s) => (IReadOnlyList<string>)r.Files.Select(f => DisplayPath(c.Spec, c.Spec.Sources[s], f)).ToList()).ToList(),
            Caches = entries,
            StageNames = c.Spec.Stages.Select(s => s.Name).ToList(),
            SpecHash = c.Spec.SpecHash,
            TokenizerSha256 = c.Tokenizer.ModelSha256,
        })
        { Progress = progress, ActionFor = action, Threads = Math.Max(1, options.Threads), LaneHashing = options.LaneHashing, InFlightBudget = options.PackInFlightBudget };

    private static BuildResult PackAndFinish(Context c, TokenCacheEntry[][] entries, BuildOptions options, BuildProgress progress, ShardAction action, CancellationToken cancellationToken)
    {
        var summaries = new List<SourceSummary>();
        for (var s = 0; s < c.Sources.Count; s++)
        {
            var totals = new RecordCounts();
            var files = new List<(string, RecordCounts)>();
            for (var f = 0; f < c.Sources[s].Files.Count; f++)
            {
                totals.Add(entries[s][f].Counts);
                files.Add((DisplayPath(c.Spec, c.Spec.Sources[s], c.Sources[s].Files[f]), entries[s][f].Counts));
            }

            var rejected = totals.RejectedTotal;
            var cap = c.Spec.Sources[s].Reader.MaxBadRecords;
            if (rejected > cap)
            {
                var reasons = string.Join(", ", totals.Rejected.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value}")));
                throw new BadInputException(c.Spec.Sources[s].Name, -1, -1, string.Create(CultureInfo.InvariantCulture,
                    $"{rejected} bad records skipped ({reasons}), more than max_bad_records {cap}"));
            }

            summaries.Add(new SourceSummary(c.Spec.Sources[s].Name, files, totals, entries[s].Sum(e => e.FramedTokens(c.Framing)), 0));
        }

        using var documents = IndexDocuments(c, entries, options, progress, cancellationToken);
        var plan = PlanStream(c, documents, progress);
        progress.Phase = action == ShardAction.Check ? "check" : "pack";
        PackResult pack;
        long written;
        using (var packer = Packer(c, entries, progress, options, _ => action))
        {
            pack = packer.Pack(plan, cancellationToken);
            written = packer.ShardsWritten;
        }

        var inShards = pack.Shards.Sum(s => s.TokensBySource.Values.Sum()) + pack.Shards.Sum(s => s.Pad);
        if (inShards + pack.TailDroppedTokens - pack.TailPaddedTokens != plan.TotalTokens || pack.TokensIn != plan.TotalTokens)
        {
            throw new InvalidOperationException("token accounting does not balance: planned tokens != tokens in shards + dropped - padded");
        }

        RemoveStaleShards(c.Layout, pack.Shards.Count);
        for (var s = 0; s < summaries.Count; s++)
        {
            summaries[s] = summaries[s] with { TokensInShards = pack.Shards.Sum(x => x.TokensBySource[summaries[s].Name]) };
        }

        // The manifest, last.
        BuildManifest.Write(c.Layout.ManifestPath, c.Spec, c.Tokenizer, c.Spec.Output.ChunkSize, LitPkdsFormat.DtypeFor(c.Tokenizer.VocabularySize), c.PadId, summaries, pack);
        progress.Phase = "done";
        return new BuildResult(c.Spec, c.Layout, summaries, pack, c.Layout.ManifestPath, written);
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

    /// <summary>Shards from an earlier, longer build with the same prefix would be read by the trainer: remove them.</summary>
    private static void RemoveStaleShards(OutputLayout layout, int count)
    {
        foreach (var path in Directory.EnumerateFiles(layout.Directory, layout.Prefix + "_*.bin"))
        {
            var name = Path.GetFileName(path);
            var digits = name[(layout.Prefix.Length + 1)..^4];
            if (digits.Length == 10 && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= count)
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
