using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using TinyLlama.Data.Cache;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Plotting;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Stats;
using TinyLlama.Data.Tokenization;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Cli;

/// <summary>
/// The <c>tinyllama-data</c> command: parses arguments, wires the library, renders progress on stderr and
/// maps failures to the exit codes documented in docs/cli.md. No behaviour lives here.
/// </summary>
internal static class Cli
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Builds TinyLlama-style pretraining token streams: corpora → exact Llama 2 tokens → LITPKDS shards.");
        root.Subcommands.Add(BuildCommand());
        root.Subcommands.Add(PlanCommand());
        root.Subcommands.Add(StepCommand("tokenize", "Step 1 of a distributed build: tokenize this worker's input files into the token cache."));
        root.Subcommands.Add(StepCommand("pack", "Step 2 of a distributed build: write this worker's range of shards (after every tokenize worker has finished)."));
        root.Subcommands.Add(FinalizeCommand());
        root.Subcommands.Add(VerifyCommand());
        root.Subcommands.Add(StatsCommand());
        root.Subcommands.Add(DemoCorporaCommand());
        root.Subcommands.Add(BenchCommand());
        root.Subcommands.Add(BenchOneCommand());
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        return await root.Parse(args).InvokeAsync(cancellationToken: cts.Token).ConfigureAwait(false);
    }

    private static Command BuildCommand()
    {
        var spec = new Argument<string>("spec") { Description = "The build spec (YAML, see docs/spec.md)." };
        var output = new Option<string>("--out", "-o") { Description = "Output folder for shards, sidecars and manifest.", Required = true };
        var cache = new Option<string?>("--cache") { Description = "Token cache folder (default OUT/cache); share it between variants to tokenize once." };
        var threads = new Option<int>("--threads") { Description = "Tokenizer threads (output is identical for any number).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON on stdout." };
        var verify = new Option<bool>("--verify") { Description = "Verify the shards against the spec after building." };
        var temp = TempDirOption();
        var command = new Command("build", "Tokenize, plan and pack a spec into shards.") { spec, output, cache, threads, json, verify, temp };
        command.SetAction((parse, ct) => Guard(() =>
        {
            var loaded = SpecLoader.Load(parse.GetValue(spec)!);
            var progress = new BuildProgress();
            BuildResult result;
            using (new ProgressRenderer(progress, Console.Error))
            {
                result = BuildPipeline.Run(loaded, new BuildOptions
                {
                    OutputDirectory = parse.GetValue(output)!,
                    CacheDirectory = parse.GetValue(cache),
                    Threads = parse.GetValue(threads),
                    TempDirectory = parse.GetValue(temp),
                }, progress, ct);
            }

            VerifyReport? report = null;
            if (parse.GetValue(verify))
            {
                report = ShardVerifier.Verify(result.Layout.Directory, VerifyExpectations.FromSpec(loaded), ct);
            }

            if (parse.GetValue(json))
            {
                var summary = JsonNode.Parse(File.ReadAllText(result.ManifestPath))!.AsObject();
                summary.Remove("spec");
                if (report is not null)
                {
                    summary["verify"] = ReportJson(report);
                }

                Console.Out.Write(CanonicalJson.Serialize(summary));
            }
            else
            {
                PrintSummary(result, progress);
                if (report is not null)
                {
                    PrintReport(report);
                }
            }

            return report is { Ok: false } ? ExitCodes.VerifyFailed : ExitCodes.Ok;
        }));
        return command;
    }

    private static Option<int?> WorkerIndexOption() => new("--worker-index")
    {
        Description = "This worker's index (default: SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX).",
    };

    private static Option<int?> WorkerCountOption() => new("--worker-count")
    {
        Description = "How many workers share the step (default: SLURM_ARRAY_TASK_COUNT).",
    };

    private static Command StepCommand(string name, string description)
    {
        var spec = new Argument<string>("spec") { Description = "The build spec." };
        var output = new Option<string>("--out", "-o") { Description = "The build's output folder (shared by all workers).", Required = true };
        var cache = new Option<string?>("--cache") { Description = "Token cache folder (default OUT/cache)." };
        var threads = new Option<int>("--threads") { Description = "Threads in this worker.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var index = WorkerIndexOption();
        var count = WorkerCountOption();
        var temp = TempDirOption();
        var command = new Command(name, description) { spec, output, cache, threads, index, count, temp };
        command.SetAction((parse, ct) => Guard(() =>
        {
            var loaded = SpecLoader.Load(parse.GetValue(spec)!);
            var options = new BuildOptions
            {
                OutputDirectory = parse.GetValue(output)!,
                CacheDirectory = parse.GetValue(cache),
                Threads = parse.GetValue(threads),
                Worker = WorkerSlice.Resolve(parse.GetValue(index), parse.GetValue(count), Environment.GetEnvironmentVariable),
                TempDirectory = parse.GetValue(temp),
            };
            var progress = new BuildProgress();
            StepResult result;
            using (new ProgressRenderer(progress, Console.Error))
            {
                result = name == "tokenize"
                    ? BuildPipeline.Tokenize(loaded, options, progress, ct)
                    : BuildPipeline.Pack(loaded, options, progress, ct);
            }

            Console.Out.WriteLine(FormattableString.Invariant(
                $"{name}, {result.Worker}: {result.Units:N0} {(name == "tokenize" ? "files" : "shards")}, {result.UnitsDone:N0} done now, {result.UnitsKept:N0} already complete"));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Option<string?> TempDirOption() => new("--temp-dir")
    {
        Description = "Folder for the plan's document table, about 8 bytes per document, deleted as it is made (default: $TMPDIR or /tmp; use local disk on a cluster).",
    };

    private static Command FinalizeCommand()
    {
        var spec = new Argument<string>("spec") { Description = "The build spec." };
        var output = new Option<string>("--out", "-o") { Description = "The build's output folder.", Required = true };
        var cache = new Option<string?>("--cache") { Description = "Token cache folder (default OUT/cache)." };
        var json = new Option<bool>("--json") { Description = "Print the manifest (without the spec) as JSON." };
        var temp = TempDirOption();
        var command = new Command("finalize", "Step 3 of a distributed build: check every file is tokenized and every shard written, then write the manifest.") { spec, output, cache, json, temp };
        command.SetAction((parse, ct) => Guard(() =>
        {
            var loaded = SpecLoader.Load(parse.GetValue(spec)!);
            var progress = new BuildProgress();
            var result = BuildPipeline.Finalize(loaded, new BuildOptions { OutputDirectory = parse.GetValue(output)!, CacheDirectory = parse.GetValue(cache), TempDirectory = parse.GetValue(temp) }, progress, ct);
            if (parse.GetValue(json))
            {
                var summary = JsonNode.Parse(File.ReadAllText(result.ManifestPath))!.AsObject();
                summary.Remove("spec");
                Console.Out.Write(CanonicalJson.Serialize(summary));
            }
            else
            {
                PrintSummary(result, progress);
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command PlanCommand()
    {
        var spec = new Argument<string>("spec") { Description = "The build spec." };
        var cache = new Option<string?>("--cache") { Description = "Plan from the token caches in this folder (when the spec declares no sizes)." };
        var output = new Option<string?>("--out", "-o") { Description = "Plan from the token caches of this build folder (OUT/cache)." };
        var json = new Option<bool>("--json") { Description = "Print the plan as JSON." };
        var command = new Command("plan", "Show tokens per source per stage, epochs against caps, shards, disk and trainer checks — before any heavy work. Exit 5 when infeasible.") { spec, cache, output, json };
        command.SetAction((parse, _) => Guard(() =>
        {
            var loaded = SpecLoader.Load(parse.GetValue(spec)!);
            var tokenizer = SentencePieceTokenizer.Load(loaded.TokenizerPath);
            BuildPlanReport report;
            if (BuildPlanner.DeclaredSizes(loaded) is { } declared && parse.GetValue(cache) is null && parse.GetValue(output) is null)
            {
                report = BuildPlanner.Plan(loaded, declared, tokenizer.VocabularySize, "declared sizes in the spec");
            }
            else
            {
                var dir = parse.GetValue(cache) ?? (parse.GetValue(output) is { } o ? new OutputLayout(o, loaded.Output.Prefix).DefaultCacheDirectory : null)
                    ?? throw new PlanException("the spec does not declare every source's size (declared_tokens); give --cache DIR or --out DIR of a build that tokenized them");
                report = BuildPlanner.Plan(loaded, BuildPlanner.CachedSizes(loaded, new TokenCache(dir, tokenizer)), tokenizer.VocabularySize, "token caches in " + dir);
            }

            if (parse.GetValue(json))
            {
                Console.Out.Write(CanonicalJson.Serialize(report.ToJson()));
            }
            else
            {
                PlanPrinter.Print(report, Console.Out);
            }

            return report.Plan.IsFeasible ? ExitCodes.Ok : ExitCodes.Infeasible;
        }));
        return command;
    }

    private static Command VerifyCommand()
    {
        var spec = new Argument<string>("spec") { Description = "The spec the shards were built from." };
        var dir = new Argument<string>("dir") { Description = "The folder holding the shards and sidecars." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON on stdout." };
        var sample = new Option<int>("--sample") { Description = "Re-read this many documents (a seeded choice) from the source files, re-tokenize them and compare with the shards." };
        var sampleSeed = new Option<ulong?>("--sample-seed") { Description = "Seed of the document sample (default: the spec's seed)." };
        var command = new Command("verify", "Check shards and sidecars against their spec; exit 7 on any violation.") { spec, dir, json, sample, sampleSeed };
        command.SetAction((parse, ct) => Guard(() =>
        {
            var loaded = SpecLoader.Load(parse.GetValue(spec)!);
            var count = parse.GetValue(sample);
            if (count < 0)
            {
                Console.Error.WriteLine("error: --sample must be 0 or more");
                return ExitCodes.Usage;
            }

            var expect = VerifyExpectations.FromSpec(loaded) with { SampleDocuments = count, SampleSeed = parse.GetValue(sampleSeed) };
            var report = ShardVerifier.Verify(parse.GetValue(dir)!, expect, ct);
            if (parse.GetValue(json))
            {
                Console.Out.Write(CanonicalJson.Serialize(ReportJson(report)));
            }
            else
            {
                PrintReport(report);
            }

            return report.Ok ? ExitCodes.Ok : ExitCodes.VerifyFailed;
        }));
        return command;
    }

    private static Command StatsCommand()
    {
        var dir = new Argument<string>("dir") { Description = "The folder holding the shards and sidecars." };
        var window = new Option<long?>("--window") { Description = "Tokens per window for the share of each source (default: one shard)." };
        var json = new Option<bool>("--json") { Description = "Print the statistics as JSON on stdout." };
        var plot = new Option<string?>("--plot") { Description = "Draw the share of each source over the token axis into this PNG file." };
        var spec = new Option<string?>("--spec") { Description = "With --plot: also draw the spec's planned shares (dashed) and its stage boundaries." };
        var command = new Command("stats", "Count what the shards hold: tokens per source, documents, separators, padding, id range, longest run, shares per window.") { dir, window, json, plot, spec };
        command.SetAction((parse, ct) => Guard(() =>
        {
            var path = parse.GetValue(dir)!;
            var report = ShardStatistics.Compute(path, parse.GetValue(window), ct);
            if (parse.GetValue(plot) is { } png)
            {
                var planned = parse.GetValue(spec) is { } specPath
                    ? PlannedMixture.FromSpec(SpecLoader.Load(specPath), report.Total.Tokens - report.Total.Pad, out _)
                    : null;
                SharePlot.Save(report, png, planned);
            }

            if (parse.GetValue(json))
            {
                Console.Out.Write(CanonicalJson.Serialize(StatsRendering.Json(report)));
            }
            else
            {
                StatsRendering.Table(report, Console.Out);
                if (parse.GetValue(plot) is { } written)
                {
                    Console.Out.WriteLine("plot: " + Path.GetFullPath(written));
                }
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command DemoCorporaCommand()
    {
        var output = new Option<string>("--out", "-o") { Description = "Folder to write the corpora into.", Required = true };
        var text = new Option<string?>("--training-text") { Description = "Also write the text pool (one piece per line) for spm_train." };
        var command = new Command("demo-corpora", "Write the demo's sample corpora (SlimPajama, StarCoder, Proof-Pile, SkyPile layouts) from the project's own text.") { output, text };
        command.SetAction((parse, _) => Guard(() =>
        {
            Demo.DemoCorpora.Write(parse.GetValue(output)!);
            if (parse.GetValue(text) is { } path)
            {
                File.WriteAllLines(path, Demo.DemoCorpora.TrainingText().Select(t => t.Replace("\n", " ", StringComparison.Ordinal)));
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command BenchCommand()
    {
        var samples = new Option<string>("--samples") { Description = "The sample corpora the input is generated from.", DefaultValueFactory = _ => "../shared/data" };
        var tokenizer = new Option<string>("--tokenizer") { Description = "The Llama 2 tokenizer.model.", DefaultValueFactory = _ => "../shared/tokenizers/llama2/tokenizer.model" };
        var work = new Option<string>("--work") { Description = "Work folder for the generated corpus and builds (reused between runs).", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "tinyllama-bench") };
        var megabytes = new Option<long>("--mb") { Description = "MB of used text to generate.", DefaultValueFactory = _ => 200 };
        var files = new Option<int>("--files") { Description = "Number of jsonl.zst files.", DefaultValueFactory = _ => 8 };
        var rounds = new Option<int>("--rounds") { Description = "Interleaved rounds; medians are reported.", DefaultValueFactory = _ => 3 };
        var threads = new Option<string>("--threads") { Description = "Comma-separated thread counts for the end-to-end build.", DefaultValueFactory = _ => "1,2" };
        var noReference = new Option<bool>("--no-reference") { Description = "Skip the python sentencepiece and spm_encode references." };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the Markdown report to this file." };
        var json = new Option<bool>("--json") { Description = "Print every measurement as JSON instead of the Markdown report." };
        var command = new Command("bench", "Measure tokenizer, end-to-end build (1 and 2 threads), pack step and the python/spm_encode references on a generated corpus; see docs/perf.md.")
        {
            samples, tokenizer, work, megabytes, files, rounds, threads, noReference, markdown, json,
        };
        command.SetAction((parse, ct) => Guard(() =>
        {
            var (report, data) = Bench.BenchSuite.Run(new Bench.BenchOptions
            {
                SamplesDirectory = parse.GetValue(samples)!,
                TokenizerPath = parse.GetValue(tokenizer)!,
                WorkDirectory = parse.GetValue(work)!,
                TextMegabytes = parse.GetValue(megabytes),
                Files = parse.GetValue(files),
                Rounds = parse.GetValue(rounds),
                Threads = [.. parse.GetValue(threads)!.Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture))],
                Reference = !parse.GetValue(noReference),
                CommandLine = "tinyllama-data " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                Child = SelfProcess,
            }, line => Console.Error.WriteLine(line), ct);
            if (parse.GetValue(markdown) is { } path)
            {
                File.WriteAllText(path, report);
            }

            Console.Out.Write(parse.GetValue(json) ? CanonicalJson.Serialize(data) : report);
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>One measurement in this process (the bench starts one process per measurement).</summary>
    private static Command BenchOneCommand()
    {
        var kind = new Argument<string>("kind") { Description = "read | tokenize | build" };
        var work = new Option<string>("--work") { Required = true };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 1 };
        var copy = new Option<string?>("--copy") { Description = "For build: one of several copies run at once (own folder, build timed alone)." };
        var command = new Command("bench-one", "One benchmark measurement (used by bench).") { kind, work, threads, copy };
        command.Hidden = true;
        command.SetAction((parse, ct) => Guard(() =>
        {
            var result = Bench.BenchMeasure.Run(parse.GetValue(kind)!, parse.GetValue(work)!, parse.GetValue(threads), parse.GetValue(copy), ct);
            Console.Out.WriteLine(result.ToJsonString());
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>This program again, with other arguments (as an apphost, or as <c>dotnet tinyllama-data.dll</c>).</summary>
    private static System.Diagnostics.ProcessStartInfo SelfProcess(IReadOnlyList<string> args)
    {
        var exe = Environment.ProcessPath ?? throw new InvalidOperationException("the program's path is unknown");
        var start = new System.Diagnostics.ProcessStartInfo(exe);
        if (string.Equals(Path.GetFileNameWithoutExtension(exe), "dotnet", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(typeof(Cli).Assembly.Location);
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        return start;
    }


    private static JsonObject ReportJson(VerifyReport report) => new()
    {
        ["ok"] = report.Ok,
        ["shards_checked"] = report.ShardsChecked,
        ["tokens_checked"] = report.TokensChecked,
        ["truncated"] = report.Truncated,
        ["documents_sampled"] = report.DocumentsSampled,
        ["notes"] = new JsonArray([.. report.Notes.Select(n => (JsonNode?)n)]),
        ["violations"] = new JsonArray([.. report.Violations.Select(v => (JsonNode?)new JsonObject
        {
            ["shard"] = v.Shard,
            ["token_offset"] = v.TokenOffset,
            ["problem"] = v.Problem,
        })]),
    };

    private static void PrintReport(VerifyReport report)
    {
        foreach (var v in report.Violations)
        {
            Console.Out.WriteLine("VIOLATION " + v);
        }

        if (report.Truncated)
        {
            Console.Out.WriteLine(FormattableString.Invariant($"(only the first {ShardVerifier.MaxViolations} violations are shown)"));
        }

        foreach (var note in report.Notes)
        {
            Console.Out.WriteLine("note: " + note);
        }

        if (report.DocumentsSampled > 0)
        {
            Console.Out.WriteLine(FormattableString.Invariant($"sampled {report.DocumentsSampled} documents: re-read from the source files and re-tokenized"));
        }

        Console.Out.WriteLine(report.Ok
            ? FormattableString.Invariant($"verify: OK — {report.ShardsChecked} shards, {report.TokensChecked:N0} tokens")
            : FormattableString.Invariant($"verify: FAILED — {report.Violations.Count}{(report.Truncated ? "+" : "")} violations in {report.ShardsChecked} shards"));
    }

    private static void PrintSummary(BuildResult result, BuildProgress progress)
    {
        var o = Console.Out;
        o.WriteLine(FormattableString.Invariant($"built {result.Pack.Shards.Count} shards in {result.Layout.Directory} ({result.ShardsWritten} written now, {result.Pack.Shards.Count - result.ShardsWritten} kept from an earlier run)"));
        o.WriteLine(FormattableString.Invariant($"{"source",-16} {"read",10} {"used",10} {"empty",8} {"filtered",9} {"rejected",9} {"tokens",14} {"in shards",14}"));
        foreach (var s in result.Sources)
        {
            var c = s.Totals;
            o.WriteLine(FormattableString.Invariant($"{s.Name,-16} {c.Read,10:N0} {c.Used,10:N0} {c.Empty,8:N0} {c.FilteredTotal,9:N0} {c.RejectedTotal,9:N0} {s.FramedTokens,14:N0} {s.TokensInShards,14:N0}"));
            foreach (var (k, v) in c.Filtered)
            {
                o.WriteLine(FormattableString.Invariant($"  filtered by {k}: {v:N0}"));
            }

            foreach (var (k, v) in c.Rejected)
            {
                o.WriteLine(FormattableString.Invariant($"  rejected ({k}): {v:N0}"));
            }

            if (c.ReplacedSequences > 0)
            {
                o.WriteLine(FormattableString.Invariant($"  invalid text sequences replaced by U+FFFD: {c.ReplacedSequences:N0}"));
            }
        }

        var p = result.Pack;
        o.WriteLine(FormattableString.Invariant($"tokens planned {p.TokensIn:N0}; tail: {p.TailDroppedTokens:N0} dropped, {p.TailPaddedTokens:N0} padded"));
        o.WriteLine(FormattableString.Invariant($"tokenized this run: {progress.Documents:N0} documents, {progress.Tokens:N0} tokens before separators (files already in the cache are not counted)"));
        o.WriteLine("manifest: " + result.ManifestPath);
    }

    /// <summary>Runs a command body, mapping the library's exception family to one line and an exit code.</summary>
    private static Task<int> Guard(Func<int> body)
    {
        try
        {
            return Task.FromResult(body());
        }
        catch (TinyLlamaDataException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return Task.FromResult(e.ExitCode);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return Task.FromResult(ExitCodes.Cancelled);
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.FirstOrDefault(x => x is TinyLlamaDataException) is TinyLlamaDataException inner)
        {
            Console.Error.WriteLine("error: " + inner.Message);
            return Task.FromResult(inner.ExitCode);
        }
#pragma warning disable CA1031 // The last resort: a bug gets its stack trace and a distinct exit code.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Console.Error.WriteLine("internal error (a bug; please report it with this trace):");
            Console.Error.WriteLine(e);
            return Task.FromResult(ExitCodes.Bug);
        }
    }
}
