using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tokenization;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Bench;

/// <summary>
/// One measurement, run inside its own process (the bench starts a child per measurement, so that peak
/// RSS belongs to that measurement alone). Each returns a JSON object of plain numbers.
/// </summary>
public static class BenchMeasure
{
    /// <summary>The kinds of measurement <see cref="Run"/> knows.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["read", "tokenize", "build"];

    /// <summary>Runs one measurement.</summary>
    /// <param name="copy">
    /// For <c>build</c>: this process is one of several copies of the same build run at once (see
    /// <see cref="BenchSuite"/>'s "two 1-thread builds at once"), so it writes to a folder of its own and times
    /// the build alone, without the pack reruns.
    /// </param>
    public static JsonObject Run(string kind, string workDirectory, int threads, string? copy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(kind);
        var corpus = BenchCorpusInfoFile.Load(workDirectory);
        return kind switch
        {
            "read" => Read(corpus, cancellationToken),
            "tokenize" => Tokenize(corpus, cancellationToken),
            "build" => Build(corpus, workDirectory, threads, copy, cancellationToken),
            _ => throw new ArgumentException("unknown measurement " + kind, nameof(kind)),
        };
    }

    /// <summary>Decompress + split lines + parse JSON + filter, one thread, no tokenizing: what reading costs.</summary>
    private static JsonObject Read(BenchCorpusInfo corpus, CancellationToken cancellationToken)
    {
        var options = SlimPajamaOptions();
        var clock = Clock.Start();
        long bytes = 0, docs = 0;
        foreach (var file in corpus.Files)
        {
            using var reader = RecordReaders.Open(file, options);
            while (reader.MoveNext(cancellationToken))
            {
                if (reader.Current.Outcome == RecordOutcome.Used)
                {
                    bytes += reader.Current.Utf8Text.Length;
                    docs++;
                }
            }
        }

        return clock.Stop(new JsonObject { ["kind"] = "read", ["threads"] = 1, ["text_bytes"] = bytes, ["documents"] = docs });
    }

    /// <summary>The tokenizer alone on one thread: every used text, loaded into memory first (not timed), fresh tokenizer.</summary>
    private static JsonObject Tokenize(BenchCorpusInfo corpus, CancellationToken cancellationToken)
    {
        var options = SlimPajamaOptions();
        var texts = new List<byte[]>();
        foreach (var file in corpus.Files)
        {
            using var reader = RecordReaders.Open(file, options);
            while (reader.MoveNext(cancellationToken))
            {
                if (reader.Current.Outcome == RecordOutcome.Used)
                {
                    texts.Add(reader.Current.Utf8Text.ToArray());
                }
            }
        }

        var spec = SpecLoader.Load(corpus.SpecPath);
        var tokenizer = SentencePieceTokenizer.Load(spec.TokenizerPath);
        var ids = new List<int>(1 << 20);
        long bytes = 0, tokens = 0;
        var clock = Clock.Start();
        foreach (var text in texts)
        {
            ids.Clear();
            tokenizer.Encode(text, ids);
            bytes += text.Length;
            tokens += ids.Count;
        }

        return clock.Stop(new JsonObject { ["kind"] = "tokenize", ["threads"] = 1, ["text_bytes"] = bytes, ["tokens"] = tokens, ["documents"] = texts.Count });
    }

    /// <summary>
    /// The whole build (read → tokenize → plan → pack → manifest) into a fresh folder with a fresh cache,
    /// then the same spec again from those caches into another folder: that second run is the pack step
    /// (plus opening the caches and planning), measured on its own. A <paramref name="copy"/> times the build
    /// alone, in a folder of its own.
    /// </summary>
    private static JsonObject Build(BenchCorpusInfo corpus, string workDirectory, int threads, string? copy, CancellationToken cancellationToken)
    {
        var spec = SpecLoader.Load(corpus.SpecPath);
        var outDir = Path.Combine(workDirectory, "out-" + threads.ToString(CultureInfo.InvariantCulture) + (copy is null ? "" : "-copy-" + copy));
        var packDir = outDir + "-pack";
        foreach (var d in new[] { outDir, packDir })
        {
            Retire(d);
        }

        var clock = Clock.Start();
        var progress = new BuildProgress();
        var result = BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = outDir, Threads = threads }, progress, cancellationToken);
        var measured = clock.Stop(new JsonObject
        {
            ["kind"] = "build",
            ["threads"] = threads,
            ["text_bytes"] = result.Sources.Sum(s => s.Totals.TextBytes),
            ["tokens"] = result.Sources.Sum(s => s.Totals.Tokens),
            ["documents"] = result.Sources.Sum(s => s.Totals.Used),
            ["shards"] = result.Pack.Shards.Count,
        });

        RecordPhases(measured, "phase_", progress);

        measured["shards_sha256_first"] = result.Pack.Shards.Count > 0 ? result.Pack.Shards[0].Sha256 : "";
        if (copy is not null)
        {
            Retire(outDir);
            return measured;
        }

        var pack = Clock.Start();
        var packProgress = new BuildProgress();
        var again = BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = packDir, CacheDirectory = result.Layout.DefaultCacheDirectory, Threads = threads }, packProgress, cancellationToken);
        var packed = pack.Stop([]);
        RecordPhases(measured, "rerun_phase_", packProgress);

        long shardBytes = 0;
        foreach (var s in again.Pack.Shards)
        {
            shardBytes += new FileInfo(Path.Combine(packDir, s.Name)).Length;
        }

        measured["rerun_wall_s"] = packed["wall_s"]!.DeepClone();
        measured["pack_wall_s"] = measured["rerun_phase_pack_s"]!.DeepClone();
        measured["pack_cpu_s"] = packed["cpu_s"]!.DeepClone();
        measured["shard_bytes"] = shardBytes;
        measured["identical_shards"] = again.Pack.Shards.Select(s => s.Sha256).SequenceEqual(result.Pack.Shards.Select(s => s.Sha256));
        Retire(packDir);
        PackPasses(corpus, result, measured, threads, cancellationToken);
        Retire(outDir);
        return measured;
    }

    /// <summary>Each phase's wall, CPU and JIT seconds, as <c>{prefix}{phase}_s</c>, <c>…_cpu_s</c> and <c>…_jit_s</c>.</summary>
    private static void RecordPhases(JsonObject into, string prefix, BuildProgress progress)
    {
        foreach (var (phase, wall, cpu, jit) in progress.PhaseCosts())
        {
            into[prefix + phase + "_s"] = Math.Round(wall.TotalSeconds, 3);
            into[prefix + phase + "_cpu_s"] = Math.Round(cpu.TotalSeconds, 3);
            into[prefix + phase + "_jit_s"] = Math.Round(jit.TotalSeconds, 3);
        }
    }

    /// <summary>Passes over the same caches in the larger pack measurement.</summary>
    public const int PackPasses8 = 8;

    /// <summary>
    /// The pack step on a representative amount of output: the build's 0.13 GB of shards pack in well under a
    /// second, where the start, the last shards' fsync and the manifest weigh as much as the steady rate. So the
    /// same caches are packed again with <c>max_epochs: 8</c> (8 passes, each in a new seeded order: 8× the
    /// shards, ≈ 1 GB). Its first shards, the build's full ones, must come out identical to the build's; and
    /// the hash of all its shard hashes lets the suite compare thread counts.
    /// </summary>
    private static void PackPasses(BenchCorpusInfo corpus, BuildResult build, JsonObject measured, int threads, CancellationToken cancellationToken)
    {
        var yaml = File.ReadAllText(corpus.SpecPath);
        var passes = yaml.Replace("    root: corpus\n", FormattableString.Invariant($"    root: corpus\n    max_epochs: {PackPasses8}\n"), StringComparison.Ordinal);
        if (passes == yaml)
        {
            throw new InvalidOperationException("the bench spec has no `root: corpus` line to add max_epochs to");
        }

        var spec = SpecLoader.Parse(corpus.SpecPath, passes);
        var dir = build.Layout.Directory + "-pack" + PackPasses8.ToString(CultureInfo.InvariantCulture);
        Retire(dir);

        var clock = Clock.Start();
        var progress = new BuildProgress();
        var result = BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = dir, CacheDirectory = build.Layout.DefaultCacheDirectory, Threads = threads }, progress, cancellationToken);
        var run = clock.Stop([]);
        var phases = progress.PhaseCosts().ToDictionary(p => p.Phase, p => p.Wall.TotalSeconds, StringComparer.Ordinal);
        var full = build.Pack.Shards.TakeWhile(s => s.Pad == 0).Select(s => s.Sha256).ToList();
        var prefix = "pack" + PackPasses8.ToString(CultureInfo.InvariantCulture) + "_";
        measured[prefix + "shards"] = result.Pack.Shards.Count;
        measured[prefix + "shard_bytes"] = result.Pack.Shards.Sum(s => new FileInfo(Path.Combine(dir, s.Name)).Length);
        measured[prefix + "wall_s"] = Math.Round(phases["pack"], 3);
        measured[prefix + "rerun_wall_s"] = run["wall_s"]!.DeepClone();
        measured[prefix + "cpu_s"] = run["cpu_s"]!.DeepClone();
        measured[prefix + "identical_prefix_shards"] = full.Count;
        measured[prefix + "identical_prefix"] = full.Count > 0 && result.Pack.Shards.Take(full.Count).Select(s => s.Sha256).SequenceEqual(full);
        measured[prefix + "sha256_all"] = Hashing.Sha256Hex(Encoding.ASCII.GetBytes(string.Join('\n', result.Pack.Shards.Select(s => s.Sha256))));
        Retire(dir);
    }

    /// <summary>Where measurements put the output folders they are done with; <see cref="BenchSuite"/> deletes it when the bench ends.</summary>
    public const string RetiredFolder = "retired";

    /// <summary>
    /// Frees the space of an output folder without deleting its files: each file is cut to 0 bytes and the folder
    /// moves to <see cref="RetiredFolder"/>, which the suite deletes at its end.
    /// </summary>
    /// <remarks>
    /// Deleting them at once made the next measurement's file creation slower. On ext4 without a journal (the
    /// bench machine's disk) the kernel does not reuse an inode freed in the last minute or so
    /// (<c>recently_deleted</c>), and it reads the inode table to skip each one: that was 6 % of the CPU
    /// samples of an 8-pass pack made right after deleting the last one's 500 files, 0.6 % with nothing
    /// deleted. A build into a new folder does not pay that, so the bench should not either.
    /// </remarks>
    private static void Retire(string dir)
    {
        if (!Directory.Exists(dir))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Write);
            stream.SetLength(0);
        }

        var retired = Path.Combine(Path.GetDirectoryName(dir)!, RetiredFolder);
        Directory.CreateDirectory(retired);
        Directory.Move(dir, Path.Combine(retired, Path.GetFileName(dir) + "-" + Guid.NewGuid().ToString("N")));
    }

    internal static ReaderOptions SlimPajamaOptions() => new()
    {
        Filters = [new RecordFilter("no_github", "meta.redpajama_set_name", FilterMode.Exclude, ["RedPajamaGithub"])],
    };

    /// <summary>Wall time, process CPU time (user + system, all threads) and the process's peak RSS over a region.</summary>
    private sealed class Clock
    {
        private readonly Stopwatch _wall = Stopwatch.StartNew();
        private readonly TimeSpan _cpu;
        private readonly TimeSpan _jit = System.Runtime.JitInfo.GetCompilationTime();

        private Clock(TimeSpan cpu) => _cpu = cpu;

        public static Clock Start()
        {
            GC.Collect();
            ResetPeakRss();
            return new Clock(Environment.CpuUsage.TotalTime);
        }

        public JsonObject Stop(JsonObject into)
        {
            var wall = _wall.Elapsed.TotalSeconds;
            var cpu = (Environment.CpuUsage.TotalTime - _cpu).TotalSeconds;
            into["wall_s"] = Math.Round(wall, 3);
            into["cpu_s"] = Math.Round(cpu, 3);
            into["jit_s"] = Math.Round((System.Runtime.JitInfo.GetCompilationTime() - _jit).TotalSeconds, 3);
            into["peak_rss_bytes"] = PeakRss();
            return into;
        }

        /// <summary>Linux: writing 5 to clear_refs resets VmHWM to the current RSS.</summary>
        private static void ResetPeakRss()
        {
            try
            {
                File.WriteAllText("/proc/self/clear_refs", "5");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not Linux, or not allowed: the peak then covers the whole process.
            }
        }

        private static long PeakRss()
        {
            try
            {
                foreach (var line in File.ReadLines("/proc/self/status"))
                {
                    if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    {
                        return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }

            return Environment.WorkingSet;
        }
    }
}

/// <summary>Reads the generator's <c>corpus.json</c> (written by <see cref="BenchCorpus.Generate"/>).</summary>
internal static class BenchCorpusInfoFile
{
    public static BenchCorpusInfo Load(string workDirectory) =>
        FromJson(JsonNode.Parse(File.ReadAllText(Path.Combine(workDirectory, "corpus.json")))!.AsObject());

    public static BenchCorpusInfo FromJson(JsonObject o) =>
        new(
            [.. o["files"]!.AsArray().Select(n => (string)n!)],
            (long)o["used_text_bytes"]!,
            (long)o["used_documents"]!,
            (long)o["long_documents"]!,
            (string)o["reference_file"]!,
            (long)o["reference_text_bytes"]!,
            (long)o["reference_documents"]!,
            (string)o["reference_text_lines"]!,
            (string)o["spec"]!);
}
