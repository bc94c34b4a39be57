using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

namespace TinyLlama.Data.Bench;

/// <summary>What <c>tinyllama-data bench</c> runs.</summary>
public sealed record BenchOptions
{
    /// <summary>The sample corpora the input is generated from (../shared/data).</summary>
    public required string SamplesDirectory { get; init; }

    public required string TokenizerPath { get; init; }

    /// <summary>Where the corpus is generated and builds are written (never inside the repository).</summary>
    public required string WorkDirectory { get; init; }

    public long TextMegabytes { get; init; } = 200;

    public int Files { get; init; } = 8;

    public ulong Seed { get; init; } = 20240101;

    public int Rounds { get; init; } = 3;

    public IReadOnlyList<int> Threads { get; init; } = [1, 2];

    /// <summary>Run the python and spm_encode references (pinned to CPU 0) on the corpus's first file.</summary>
    public bool Reference { get; init; } = true;

    public string Python { get; init; } = "/usr/bin/python3";

    public string SpmEncode { get; init; } = "spm_encode";

    /// <summary>The command line that reproduces the run, recorded in the report.</summary>
    public string CommandLine { get; init; } = "";

    /// <summary>
    /// Makes the command that runs one measurement in a fresh process: the arguments after the program
    /// (<c>bench-one KIND --work DIR --threads N</c>) in, the process to start out (the CLI wires itself).
    /// </summary>
    public required Func<IReadOnlyList<string>, ProcessStartInfo> Child { get; init; }
}

/// <summary>
/// The benchmark: generates the input, then runs every measurement once per round, interleaved (so slow
/// drifts of a shared machine hit them alike), each in its own process, and reports the medians with the
/// machine and the load, as Markdown (docs/perf.md) and JSON.
/// </summary>
public static class BenchSuite
{
    private const double MB = 1e6;

    public static (string Markdown, JsonObject Json) Run(BenchOptions options, Action<string>? log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        log ??= _ => { };
        var work = Path.GetFullPath(options.WorkDirectory);
        options = options with
        {
            SamplesDirectory = Path.GetFullPath(options.SamplesDirectory),
            TokenizerPath = Path.GetFullPath(options.TokenizerPath),
        };
        Directory.CreateDirectory(work);
        var retired = Path.Combine(work, BenchMeasure.RetiredFolder);
        DeleteRetired(retired);
        var loadBefore = LoadAverage();
        log($"generating {options.TextMegabytes} MB of text into {work} (reused when already there)");
        var corpus = BenchCorpus.Generate(options.SamplesDirectory, options.TokenizerPath, work, options.TextMegabytes * 1_000_000, options.Files, options.Seed);
        log(FormattableString.Invariant($"corpus: {corpus.Files.Count} files, {corpus.UsedTextBytes / MB:F1} MB of used text, {corpus.UsedDocuments:N0} documents ({corpus.LongDocuments} of 1–5 MB)"));

        var runs = new Dictionary<string, List<JsonObject>>(StringComparer.Ordinal);
        var order = new List<string>();
        void Add(string key, JsonObject result)
        {
            if (!runs.TryGetValue(key, out var list))
            {
                runs[key] = list = [];
                order.Add(key);
            }

            list.Add(result);
            log($"  {key}: {Summary(result)}");
        }

        for (var round = 1; round <= options.Rounds; round++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            log(FormattableString.Invariant($"round {round}/{options.Rounds} (load {LoadAverage()})"));
            Add("read", Child(options, "read", 1, work));
            Add("tokenize", Child(options, "tokenize", 1, work));
            // Odd rounds build with the fewest threads first, even rounds with the most, so that no build always
            // runs right after the same other one (a measurement can be slowed by what ran just before it).
            foreach (var t in round % 2 == 1 ? options.Threads : options.Threads.Reverse())
            {
                Add("build-" + t.ToString(CultureInfo.InvariantCulture), Child(options, "build", t, work));
            }

            if (options.Threads.Contains(1) && options.Threads.Contains(2) && Environment.ProcessorCount >= 2)
            {
                Add(TwoCopies, Copies(options, work));
            }

            if (options.Reference)
            {
                Add("python", BenchReference.RunPython(options.Python, work, options.TokenizerPath, corpus.ReferenceFile));
                Add("spm_encode", BenchReference.RunSpmEncode(options.SpmEncode, work, options.TokenizerPath, corpus.ReferenceTextLines));
            }
        }

        DeleteRetired(retired);
        var json = new JsonObject
        {
            ["machine"] = Machine(loadBefore),
            ["corpus"] = new JsonObject
            {
                ["files"] = corpus.Files.Count,
                ["used_text_bytes"] = corpus.UsedTextBytes,
                ["used_documents"] = corpus.UsedDocuments,
                ["long_documents"] = corpus.LongDocuments,
                ["reference_text_bytes"] = corpus.ReferenceTextBytes,
                ["reference_documents"] = corpus.ReferenceDocuments,
            },
            ["rounds"] = options.Rounds,
            ["command"] = options.CommandLine,
        };
        var medians = new JsonObject();
        foreach (var key in order)
        {
            medians[key] = Median(runs[key]);
        }

        json["median"] = medians;
        json["all"] = new JsonObject(order.Select(k => KeyValuePair.Create(k, (JsonNode?)new JsonArray([.. runs[k]]))));
        json["machine"]!["loadavg_after"] = LoadAverage();
        return (Markdown(json, corpus, options), json);
    }

    /// <summary>The output folders the measurements are done with (see <c>BenchMeasure.Retire</c>), deleted when no measurement runs.</summary>
    private static void DeleteRetired(string retired)
    {
        if (Directory.Exists(retired))
        {
            Directory.Delete(retired, recursive: true);
        }
    }

    /// <summary>Pinned like the references: N threads on CPUs 0..N-1 (or, for a copy, its own CPU).</summary>
    private static JsonObject Child(BenchOptions options, string kind, int threads, string work, int? copy = null)
    {
        var ic = CultureInfo.InvariantCulture;
        var cpus = copy is { } c ? c.ToString(ic) : threads <= 1 ? "0" : "0-" + (threads - 1).ToString(ic);
        string[] args = ["bench-one", kind, "--work", work, "--threads", threads.ToString(ic), .. copy is null ? Array.Empty<string>() : ["--copy", cpus]];
        var start = options.Child(args);
        var stdout = BenchReference.Capture("taskset", ["-c", cpus, start.FileName, .. start.ArgumentList], null, $"measurement {kind} ({threads} threads{(copy is null ? "" : ", copy on CPU " + cpus)})");
        return JsonNode.Parse(stdout.Trim().Split('\n')[^1])!.AsObject();
    }

    /// <summary>The key of <see cref="Copies"/>' measurement.</summary>
    private const string TwoCopies = "build-1x2";

    /// <summary>
    /// Two 1-thread builds at once, each in its own process pinned to its own CPU (0 and 1), each into its own
    /// folder: they share nothing but the machine (its memory, last-level cache and disk). How fast they run
    /// side by side, against one build alone, is what this machine's second core gives this work when nothing
    /// in our code is shared, waited for or serial: the ceiling for the 2-thread build's scaling.
    /// </summary>
    private static JsonObject Copies(BenchOptions options, string work)
    {
        var copies = Enumerable.Range(0, 2).Select(cpu => Task.Run(() => Child(options, "build", 1, work, cpu))).ToArray();
        Task.WhenAll(copies).GetAwaiter().GetResult();
        var (a, b) = (copies[0].Result, copies[1].Result);
        var (wa, wb) = (Num(a["wall_s"]), Num(b["wall_s"]));
        return new JsonObject
        {
            ["kind"] = TwoCopies,
            ["threads"] = 2,
            ["text_bytes"] = Num(a["text_bytes"]) + Num(b["text_bytes"]),
            ["tokens"] = Num(a["tokens"]) + Num(b["tokens"]),
            ["wall_s"] = Math.Max(wa, wb),
            ["cpu_s"] = Num(a["cpu_s"]) + Num(b["cpu_s"]),
            ["peak_rss_bytes"] = Math.Max(Num(a["peak_rss_bytes"]), Num(b["peak_rss_bytes"])),
            ["copy0_wall_s"] = wa,
            ["copy1_wall_s"] = wb,
            ["copy0_cpu_s"] = Num(a["cpu_s"]),
            ["copy1_cpu_s"] = Num(b["cpu_s"]),

            // Builds per second of the two together; a copy that ends first leaves the other alone for its last
            // moments, so this errs towards a higher ceiling.
            ["builds_per_s"] = (1 / wa) + (1 / wb),
            ["shards_sha256_first"] = (string?)a["shards_sha256_first"] == (string?)b["shards_sha256_first"] ? (string?)a["shards_sha256_first"] : "the copies differ",
        };
    }

    private static JsonObject Median(List<JsonObject> runs)
    {
        var median = new JsonObject();
        foreach (var (key, value) in runs[0])
        {
            if (value is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number)
            {
                median[key] = MedianOf(runs.Select(r => Num(r[key])));
            }
            else
            {
                median[key] = value?.DeepClone();
            }
        }

        return median;
    }

    /// <summary>The middle value, or the mean of the two middle ones: the tables' medians and the round-by-round ones alike.</summary>
    private static double MedianOf(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static double Num(JsonNode? node) =>
        double.Parse(node?.ToJsonString() ?? throw new InvalidOperationException("a measurement is missing a number"), CultureInfo.InvariantCulture);

    private static string Summary(JsonObject r)
    {
        var bytes = r["text_bytes"] is { } b ? Num(b) : double.NaN;
        var wall = Num(r["wall_s"]);
        var cpu = Num(r["cpu_s"]);
        var rss = Num(r["peak_rss_bytes"]) / (1 << 20);
        var text = double.IsNaN(bytes) ? "" : FormattableString.Invariant($"{bytes / MB / wall:F1} MB/s wall, {bytes / MB / cpu:F1} MB/CPU-s, ");
        var pack = r["pack_wall_s"] is { } p ? FormattableString.Invariant($", pack {Num(r["shard_bytes"]) / 1e9 / Num(p):F2} GB/s") : "";
        pack += r["pack8_wall_s"] is { } p8 ? FormattableString.Invariant($", pack ×8 {Num(r["pack8_shard_bytes"]) / 1e9 / Num(p8):F2} GB/s, {Num(r["pack8_cpu_s"]) / (Num(r["pack8_shard_bytes"]) / 1e9):F2} CPU-s/GB") : "";
        return FormattableString.Invariant($"{text}{wall:F2} s wall, {cpu:F2} s CPU, peak RSS {rss:F0} MiB{pack}");
    }

    private static JsonObject Machine(string loadBefore)
    {
        var cpu = "unknown";
        long memory = 0;
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
            var mem = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            memory = long.Parse(mem[9..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
        }

        return new JsonObject
        {
            ["nproc"] = Environment.ProcessorCount,
            ["cpu"] = cpu,
            ["memory_bytes"] = memory,
            ["os"] = RuntimeInformation.OSDescription,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
            ["loadavg_before"] = loadBefore,
        };
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string Markdown(JsonObject json, BenchCorpusInfo corpus, BenchOptions options)
    {
        var m = json["median"]!.AsObject();
        var machine = json["machine"]!.AsObject();
        var s = new StringBuilder();
        var ic = CultureInfo.InvariantCulture;
        s.AppendLine(ic, $"Machine: {machine["nproc"]} CPUs ({machine["cpu"]}), {(long)machine["memory_bytes"]! / (1L << 30)} GiB, {machine["os"]}, {machine["runtime"]}; load average {machine["loadavg_before"]} before, {machine["loadavg_after"]} after.");
        s.AppendLine();
        s.AppendLine(ic, $"Input: {corpus.Files.Count} SlimPajama-layout jsonl.zst files, {corpus.UsedTextBytes / MB:F1} MB of used text in {corpus.UsedDocuments:N0} documents ({corpus.LongDocuments} of 1–5 MB); the references read the first file ({corpus.ReferenceTextBytes / MB:F1} MB, {corpus.ReferenceDocuments:N0} documents). Medians of {json["rounds"]} interleaved rounds, each measurement in its own process; MB = 10⁶ bytes of UTF-8 text; per core = pinned to that many CPUs with `taskset`.");
        s.AppendLine();
        s.AppendLine("| measurement | threads | MB/s (wall) | MB/s per core | MB per CPU-second | tokens/s per core | wall s | CPU s | peak RSS MiB |");
        s.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        var rows = new List<(string Key, string Name)>
        {
            ("read", "read only (zstd + lines + JSON + filter)"),
            ("tokenize", "our tokenizer alone"),
        };
        rows.AddRange(options.Threads.Select(t => ("build-" + t.ToString(ic), "our build end to end (read → tokenize → pack)")));
        rows.Add((TwoCopies, "two 1-thread builds at once, one per CPU (separate processes; the machine's ceiling)"));
        rows.Add(("python", "reference: TinyLlama prep loop, python sentencepiece"));
        rows.Add(("spm_encode", "reference: spm_encode (C++)"));
        foreach (var (key, name) in rows)
        {
            if (m[key] is not JsonObject r)
            {
                continue;
            }

            var threads = r["threads"] is { } t ? (int)Num(t) : 1;
            var bytes = r["text_bytes"] is { } b ? Num(b) : corpus.ReferenceTextBytes;
            var wall = Num(r["wall_s"]);
            var cpu = Num(r["cpu_s"]);
            var tokens = r["tokens"] is { } tk ? Num(tk) : double.NaN;
            s.AppendLine(ic, $"| {name} | {threads} | {bytes / MB / wall:F1} | {bytes / MB / wall / threads:F1} | {bytes / MB / cpu:F1} | {(double.IsNaN(tokens) ? "–" : (tokens / wall / threads / 1e6).ToString("F2", ic) + " M")} | {wall:F2} | {cpu:F2} | {Num(r["peak_rss_bytes"]) / (1 << 20):F0} |");
        }

        s.AppendLine();
        double PerCore(string key, long fallbackBytes)
        {
            var r = m[key]!.AsObject();
            var threads = r["threads"] is { } t ? Num(t) : 1;
            var bytes = r["text_bytes"] is { } b ? Num(b) : fallbackBytes;
            return bytes / MB / Num(r["wall_s"]) / threads;
        }

        foreach (var t in options.Threads)
        {
            var key = "build-" + t.ToString(ic);
            var r = m[key]!.AsObject();
            string Phase(string name) => r["phase_" + name + "_cpu_s"] is { } cpu
                ? string.Create(ic, $"{Num(r["phase_" + name + "_s"]):F2} s ({Num(cpu):F2} CPU-s, JIT {Num(r["phase_" + name + "_jit_s"]):F2})")
                : string.Create(ic, $"{Num(r["phase_" + name + "_s"]):F2} s");
            s.AppendLine(ic, $"- Build phases ({t} thread{(t == 1 ? "" : "s")}, wall (CPU, of which JIT compiling)): start (spec, tokenizer load, resolve) {Phase("start")}, tokenize (read + tokenize + write caches) {Phase("tokenize")}, plan {Phase("plan")}, pack {Phase("pack")}{(r["jit_s"] is { } jit ? string.Create(ic, $"; JIT compilation inside the build: {Num(jit):F2} CPU-s (the CLI runs without tiered compilation)") : "")}.");
            s.AppendLine(ic, $"- Pack step ({t} thread build, rerun from its caches; pack phase: units → shards + sidecars): {Num(r["shard_bytes"]) / 1e9:F2} GB of shards in {Num(r["pack_wall_s"]):F2} s = **{Num(r["shard_bytes"]) / 1e9 / Num(r["pack_wall_s"]):F2} GB/s**; shards identical to the build's: {((bool)r["identical_shards"]! ? "yes" : "NO")}.");
            if (r["pack8_wall_s"] is { } p8)
            {
                var gb = Num(r["pack8_shard_bytes"]) / 1e9;
                s.AppendLine(ic, $"- Pack step, {BenchMeasure.PackPasses8} passes over the same caches ({t} thread{(t == 1 ? "" : "s")}; `max_epochs: {BenchMeasure.PackPasses8}`, {Num(r["pack8_shards"]):F0} shards): {gb:F2} GB of shards in {Num(p8):F2} s = **{gb / Num(p8):F2} GB/s**; {Num(r["pack8_cpu_s"]) / gb:F2} CPU-seconds per GB (user + system, whole rerun: start, plan, pack, manifest; {Num(r["pack8_rerun_wall_s"]):F2} s wall); {(Num(r["pack8_identical_prefix_shards"]) == 0 ? "the build has no full shard to compare its first ones with" : string.Create(ic, $"its first {Num(r["pack8_identical_prefix_shards"]):F0} shards identical to the build's full ones: {((bool)r["pack8_identical_prefix"]! ? "yes" : "NO")}"))}.");
            }
        }

        if (m["build-1"] is JsonObject b1 && m["build-2"] is JsonObject b2)
        {
            // Each round runs both builds back to back, so a round's own ratio is free of the machine's drift between rounds.
            var all = json["all"]!.AsObject();
            var perRound = all["build-1"]!.AsArray().Zip(all["build-2"]!.AsArray(), (one, two) => Num(one!["wall_s"]) / Num(two!["wall_s"])).ToList();
            var pairedMedian = MedianOf(perRound);
            var scaling = Num(b1["wall_s"]) / Num(b2["wall_s"]);
            double Rest(JsonObject r) => Num(r["wall_s"]) - Num(r["phase_tokenize_s"]);
            s.AppendLine(ic, $"- Scaling 1 → 2 threads (wall): **{scaling:F2}×** as the ratio of the medians; round by round {string.Join(", ", perRound.Select(r => r.ToString("F2", ic) + "×"))} (median {pairedMedian:F2}×); same first shard: {((string?)b1["shards_sha256_first"] == (string?)b2["shards_sha256_first"] ? "yes" : "NO")}; same {BenchMeasure.PackPasses8}-pass shards: {((string?)b1["pack8_sha256_all"] == (string?)b2["pack8_sha256_all"] ? "yes" : "NO")}.");
            s.AppendLine(ic, $"- … of which the tokenize phase (read + tokenize + write caches): {Num(b1["phase_tokenize_s"]) / Num(b2["phase_tokenize_s"]):F2}× ({Num(b1["phase_tokenize_s"]):F2} → {Num(b2["phase_tokenize_s"]):F2} s); the rest of the build (start, plan, pack, manifest): {Rest(b1):F2} → {Rest(b2):F2} s, {Rest(b2) / Num(b2["wall_s"]):P0} of the 2-thread build.");
            if (m[TwoCopies] is JsonObject x2)
            {
                // A lone build's wall time × the builds per second of two at once: what a second core gives when nothing is shared.
                var ceiling = Num(b1["wall_s"]) * Num(x2["builds_per_s"]);
                var ceilings = all["build-1"]!.AsArray().Zip(all[TwoCopies]!.AsArray(), (one, two) => Num(one!["wall_s"]) * Num(two!["builds_per_s"])).ToList();
                var slowdown = ((Num(x2["copy0_wall_s"]) + Num(x2["copy1_wall_s"])) / 2 / Num(b1["wall_s"])) - 1;
                s.AppendLine(ic, $"- The machine's own 1 → 2 for this work: two 1-thread builds at once, one pinned to each CPU, sharing nothing but the machine, each took {(slowdown >= 0 ? string.Create(ic, $"{slowdown:P0} longer") : string.Create(ic, $"{-slowdown:P0} less"))} than one alone ({Num(x2["copy0_wall_s"]):F2} and {Num(x2["copy1_wall_s"]):F2} s against {Num(b1["wall_s"]):F2} s, medians; {Num(x2["copy0_cpu_s"]):F2} and {Num(x2["copy1_cpu_s"]):F2} CPU-s against {Num(b1["cpu_s"]):F2}): together **{ceiling:F2}×** one build's rate (round by round {string.Join(", ", ceilings.Select(r => r.ToString("F2", ic) + "×"))}); same first shard as the 1-thread build in every round: {(all[TwoCopies]!.AsArray().All(r => (string?)r!["shards_sha256_first"] == (string?)b1["shards_sha256_first"]) ? "yes" : "NO")}. The 2-thread build's {scaling:F2}× is **{scaling / ceiling:P0}** of that ceiling.");
            }
        }

        if (m["python"] is not null)
        {
            var py = PerCore("python", corpus.ReferenceTextBytes);
            var spm = PerCore("spm_encode", corpus.ReferenceTextBytes);
            foreach (var key in options.Threads.Select(t => "build-" + t.ToString(ic)).Prepend("tokenize"))
            {
                var ours = PerCore(key, 0);
                s.AppendLine(ic, $"- {key} per core vs the python reference: **{ours / py:F1}×**; vs spm_encode: **{ours / spm:F1}×**.");
            }
        }

        s.AppendLine();
        s.AppendLine("Command: `" + options.CommandLine + "`");
        return s.ToString();
    }
}
