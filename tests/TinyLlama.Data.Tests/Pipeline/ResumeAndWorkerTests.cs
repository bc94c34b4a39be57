using System.Diagnostics;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Packing;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Tests.Pipeline;

/// <summary>Crash-resume, distributed workers and I/O faults: the bytes are always those of one uninterrupted run.</summary>
public sealed class ResumeAndWorkerTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _specPath;

    public ResumeAndWorkerTests()
    {
        // The SlimPajama sample and the demo's SkyPile, small shards: a few seconds of work with many units.
        _specPath = _dir.Write("spec.yaml", $"""
            seed: 3
            tokenizer: {RepoPaths.Llama2Model}
            sources:
              slimpajama:
                format: slimpajama
                root: {Path.Combine(RepoPaths.SharedDir, "data", "slimpajama")}
              skypile:
                format: skypile
                root: {Path.Combine(RepoPaths.SharedDir, "data", "skypile")}
                max_epochs: 4
            stages:
              - name: all
                tokens: 1100000
                weights: {"{slimpajama: 90, skypile: 10}"}
            output:
              prefix: train
              chunk_size: 4098
              tail: pad
            """);
    }

    public void Dispose() => _dir.Dispose();

    private BuildSpec Spec => SpecLoader.Load(_specPath);

    private string Reference()
    {
        var dir = _dir.Combine("reference");
        if (!Directory.Exists(dir))
        {
            BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = dir, Threads = 2 });
        }

        return dir;
    }

    /// <summary>Every file of a build folder except the cache, by relative path.</summary>
    private static SortedDictionary<string, byte[]> Outputs(string dir) => new(
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(dir, f).StartsWith("cache", StringComparison.Ordinal))
            .ToDictionary(f => Path.GetRelativePath(dir, f), File.ReadAllBytes),
        StringComparer.Ordinal);

    private static void ShouldBeIdentical(string actual, string expected)
    {
        var a = Outputs(actual);
        var e = Outputs(expected);
        a.Keys.Should().Equal(e.Keys);
        foreach (var (k, v) in e)
        {
            a[k].AsSpan().SequenceEqual(v).Should().BeTrue($"{k} must be byte-identical");
        }
    }

    private static string[] TempFiles(string dir) => Directory.GetFiles(dir, "*" + AtomicFile.TempMarker + "*", SearchOption.AllDirectories);

    [Fact]
    public void A_build_killed_at_ten_random_points_resumes_to_the_uninterrupted_bytes()
    {
        var reference = Reference();
        var dir = _dir.Combine("killed");
        var rng = new Random(12345);
        var kills = 0;
        for (var attempt = 0; attempt < 60 && kills < 10; attempt++)
        {
            var child = Start("build", _specPath, "--out", dir, "--threads", "1");
            Thread.Sleep(150 + rng.Next(1800));
            if (!child.HasExited)
            {
                child.Kill(entireProcessTree: true); // SIGKILL
            }

            child.WaitForExit();
            if (File.Exists(Path.Combine(dir, "manifest.json")))
            {
                // The build finished (or was killed after its last write): start again from scratch, so that
                // every counted kill lands in unfinished work.
                Directory.Delete(dir, recursive: true);
                continue;
            }

            kills++;
        }

        kills.Should().BeGreaterThanOrEqualTo(10, "ten kills must land in unfinished work");

        var last = CliRunner.Run(_dir.Path, "build", _specPath, "--out", dir);
        last.ExitCode.Should().Be(0, last.StdErr);
        ShouldBeIdentical(dir, reference);
        TempFiles(dir).Should().BeEmpty("no temp file is left behind");
    }

    [Fact]
    public void Hashing_sixteen_shards_at_once_gives_the_bytes_of_hashing_each_alone()
    {
        // The reference is built with 2 threads: on a CPU with AVX-512 one fills shards and one hashes 16 at a time
        // (Sha256Lanes), filling too when no filled shard waits; 4 threads are 2 fillers and 2 hashers. Without
        // lane hashing each thread hashes its own shards with the runtime's SHA256. 268 shards of 8 KB: the lanes
        // take new shards and give digests out all the time.
        var reference = Reference();
        foreach (var (threads, lanes) in new[] { (2, false), (3, true), (4, true) })
        {
            var dir = _dir.Combine($"hash-{threads}-{lanes}");
            BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = dir, CacheDirectory = Path.Combine(reference, "cache"), Threads = threads, LaneHashing = lanes });
            ShouldBeIdentical(dir, reference);
        }

        // And every sidecar's digest is the SHA-256 of its shard's bytes, computed here.
        var sidecars = Directory.GetFiles(Path.Combine(reference, "sidecars"), "*.json");
        sidecars.Should().HaveCountGreaterThan(200);
        foreach (var sidecar in sidecars)
        {
            var shard = Path.Combine(reference, Path.GetFileNameWithoutExtension(sidecar) + ".bin");
            var recorded = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllBytes(sidecar))!["sha256"]!.GetValue<string>();
            recorded.Should().Be(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(shard))), shard);
        }
    }

    [Fact]
    public void The_shards_in_flight_stay_within_their_budget_and_a_small_budget_gives_the_same_bytes()
    {
        var reference = Reference();
        var cache = Path.Combine(reference, "cache");

        // By default the budget does not bind here (8 KB shards): 34 shards with their span lists at most.
        var free = BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = _dir.Combine("flight-default"), CacheDirectory = cache, Threads = 4 });
        free.Pack.PeakInFlightBytes.Should().BeGreaterThan(0).And.BeLessThanOrEqualTo(ShardPacker.DefaultInFlightBudget);

        // A budget of three shards' buffers: the packer waits, with lane hashing on, and the bytes are the same.
        const long budget = 3 * 8_228;
        var tight = BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = _dir.Combine("flight-tight"), CacheDirectory = cache, Threads = 4, PackInFlightBudget = budget });
        tight.Pack.PeakInFlightBytes.Should().BeGreaterThan(0).And.BeLessThanOrEqualTo(budget, "every shard here (8,228 bytes and a span list of a few KB) is under the budget");
        ShouldBeIdentical(_dir.Combine("flight-tight"), reference);

        // None at all: one shard at a time still goes through (else this would wait forever).
        BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = _dir.Combine("flight-zero"), CacheDirectory = cache, Threads = 2, PackInFlightBudget = 0 });
        ShouldBeIdentical(_dir.Combine("flight-zero"), reference);
    }

    [Fact]
    public void Packs_with_every_mix_of_fillers_hashers_and_budgets_give_the_same_bytes_and_end()
    {
        // The hand-overs between the main thread, fillers, hashers and I/O threads under every pressure: budgets
        // that let one, two or a handful of shards be in flight, or any number, at 2 to 4 threads, resumed from
        // a half-written folder too. Each pack must end (no thread waiting on another forever) with the
        // reference's bytes. 8 KB shards: the budgets are 0, about 1, 4 and 20 shards, and the default.
        var reference = Reference();
        var cache = Path.Combine(reference, "cache");
        long[] budgets = [0, 12_000, 40_000, 200_000, ShardPacker.DefaultInFlightBudget, 0];
        for (var round = 0; round < budgets.Length; round++)
        {
            var threads = 2 + (round % 3);
            var budget = budgets[round];
            var dir = _dir.Combine($"mix-{round}");
            var kept = 0;
            if (round % 2 == 1)
            {
                // Every other shard already there with its sidecar, as a killed build leaves them: kept, not rewritten.
                Directory.CreateDirectory(Path.Combine(dir, "sidecars"));
                foreach (var shard in Directory.GetFiles(reference, "*.bin").Order(StringComparer.Ordinal).Where((_, i) => i % 2 == 0))
                {
                    var name = Path.GetFileName(shard);
                    File.Copy(shard, Path.Combine(dir, name));
                    File.Copy(Path.Combine(reference, "sidecars", Path.ChangeExtension(name, ".json")), Path.Combine(dir, "sidecars", Path.ChangeExtension(name, ".json")));
                    kept++;
                }
            }

            // A pack that never ends is caught by the test run's hang timeout (.ci/run: --blame-hang-timeout).
            var result = BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = dir, CacheDirectory = cache, Threads = threads, PackInFlightBudget = budget });
            result.ShardsWritten.Should().Be(result.Pack.Shards.Count - kept, $"round {round}: {threads} threads, budget {budget}");
            ShouldBeIdentical(dir, reference);
        }
    }

    [Fact]
    public void A_document_table_cache_of_one_block_gives_the_same_bytes()
    {
        // Every draw of the shuffled schedule then misses and reads its block again: the lookups, not the cache, decide.
        var reference = Reference();
        var dir = _dir.Combine("one-block");
        BuildPipeline.Run(Spec, new BuildOptions
        {
            OutputDirectory = dir,
            CacheDirectory = Path.Combine(reference, "cache"),
            Threads = 1,
            DocumentCacheBytes = DocumentTable.BlockBytes,
            TempDirectory = _dir.Combine("tmp"),
        });
        ShouldBeIdentical(dir, reference);
        TempFiles(dir).Should().BeEmpty();
        Directory.GetFileSystemEntries(_dir.Combine("tmp")).Should().BeEmpty("the document table is unlinked as soon as it is open");
    }

    [Fact]
    public void A_document_table_in_a_temp_folder_held_in_memory_gets_a_warning_and_one_on_disk_does_not()
    {
        var reference = Reference();
        var cache = Path.Combine(reference, "cache");
        BuildProgress Build(string temp)
        {
            var progress = new BuildProgress();
            BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = _dir.Combine("warn"), CacheDirectory = cache, Threads = 1, TempDirectory = temp, InMemoryTempWarningBytes = 0 }, progress);
            return progress;
        }

        var onDisk = !FileSystems.IsInMemory(_dir.Path);
        Build(_dir.Combine("tmp-disk")).Warnings.Should().HaveCount(onDisk ? 0 : 1, "a warning exactly when the test folder itself is in memory");
        if (FileSystems.IsInMemory("/dev/shm"))
        {
            var shm = Path.Combine("/dev/shm", "tinyllama-test-" + Guid.NewGuid().ToString("N"));
            try
            {
                Build(shm).Warnings.Should().ContainSingle().Which.Should().Contain(shm).And.Contain("in memory").And.Contain("--temp-dir");
            }
            finally
            {
                Directory.Delete(shm, recursive: true);
            }
        }
    }

    [Fact]
    public void Three_workers_at_once_give_the_bytes_of_one()
    {
        var reference = Reference();
        var dir = _dir.Combine("workers");
        foreach (var step in new[] { "tokenize", "pack" })
        {
            var workers = Enumerable.Range(0, 3).Select(i => Start(step, _specPath, "--out", dir, "--worker-index", $"{i}", "--worker-count", "3", "--threads", "1")).ToList();
            foreach (var w in workers)
            {
                w.WaitForExit();
                w.ExitCode.Should().Be(0, w.StandardError.ReadToEnd());
            }
        }

        var finalize = CliRunner.Run(_dir.Path, "finalize", _specPath, "--out", dir);
        finalize.ExitCode.Should().Be(0, finalize.StdErr);
        ShouldBeIdentical(dir, reference);
        TempFiles(dir).Should().BeEmpty();
    }

    [Fact]
    public void Workers_take_their_slice_from_slurm_or_kubernetes()
    {
        WorkerSlice.Resolve(null, null, _ => null).Should().Be(WorkerSlice.All);
        WorkerSlice.Resolve(null, null, n => n switch { "SLURM_ARRAY_TASK_ID" => "2", "SLURM_ARRAY_TASK_COUNT" => "4", _ => null }).Should().Be(new WorkerSlice(2, 4));
        WorkerSlice.Resolve(null, 5, n => n == "JOB_COMPLETION_INDEX" ? "4" : null).Should().Be(new WorkerSlice(4, 5));
        WorkerSlice.Resolve(1, 3, n => n == "SLURM_ARRAY_TASK_ID" ? "2" : null).Should().Be(new WorkerSlice(1, 3), "options win over the environment");
        ((Action)(() => WorkerSlice.Resolve(null, null, n => n == "JOB_COMPLETION_INDEX" ? "1" : null))).Should().Throw<PlanException>().WithMessage("*--worker-count*");
        ((Action)(() => WorkerSlice.Resolve(3, 3, _ => null))).Should().Throw<PlanException>();

        // Slices cover every shard exactly once.
        var covered = Enumerable.Range(0, 7).SelectMany(i => { var (a, b) = new WorkerSlice(i, 7).Range(100); return Enumerable.Range((int)a, (int)(b - a)); });
        covered.Should().Equal(Enumerable.Range(0, 100));
    }

    [Fact]
    public void Pack_before_tokenize_names_the_missing_file()
    {
        var act = () => BuildPipeline.Pack(Spec, new BuildOptions { OutputDirectory = _dir.Combine("early") });

        act.Should().Throw<IoFailureException>().Which.Message.Should().Contain(".jsonl").And.Contain("tokenize step");
    }

    [Fact]
    public void A_full_disk_gives_a_located_error_leaves_nothing_corrupt_and_the_build_resumes_cleanly()
    {
        var reference = Reference();
        var dir = _dir.Combine("diskfull");
        // The "disk" fills up while the 101st shard is being written.
        var shardsStarted = 0;
        AtomicFile.FaultInjector = (path, written) =>
        {
            if (!path.EndsWith(".bin", StringComparison.Ordinal) || path.Contains("/cache/", StringComparison.Ordinal) || !path.StartsWith(dir, StringComparison.Ordinal))
            {
                return null;
            }

            if (written == 0)
            {
                Interlocked.Increment(ref shardsStarted);
                return null;
            }

            return Volatile.Read(ref shardsStarted) > 100 ? new IOException("No space left on device") : null;
        };
        try
        {
            // An exception filter sees what a program without a handler would report: the runtime does so on its
            // first pass, before any finally block runs. That must be the disk's error too, not the cancellation
            // that stopped the other threads.
            Exception? seenByFilter = null;
            var act = () =>
            {
                try
                {
                    BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = dir, Threads = 2 });
                }
                catch (Exception e) when ((seenByFilter ??= e) is null)
                {
                    throw; // never taken: the filter only looks
                }
            };
            var e = act.Should().Throw<IoFailureException>().Which;
            e.Message.Should().Contain("No space left on device").And.Contain(dir);
            e.ExitCode.Should().Be(ExitCodes.Io);
            seenByFilter.Should().BeSameAs(e);
        }
        finally
        {
            AtomicFile.FaultInjector = null;
        }

        // Nothing corrupt: no temp file, no manifest, and every shard on disk is complete and matches its sidecar.
        TempFiles(dir).Should().BeEmpty();
        File.Exists(Path.Combine(dir, "manifest.json")).Should().BeFalse();
        foreach (var shard in Directory.GetFiles(dir, "train_*.bin"))
        {
            new FileInfo(shard).Length.Should().Be(24 + (2 * 4098));
        }

        // Space freed: the same command finishes the job, byte-identical.
        var result = BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = dir, Threads = 2 });
        result.ShardsWritten.Should().BeLessThan(result.Pack.Shards.Count, "the shards written before the disk filled are kept");
        ShouldBeIdentical(dir, reference);
    }

    [Fact]
    public void A_corrupt_cache_entry_is_named_and_the_build_resumes_once_it_is_removed()
    {
        var dir = _dir.Combine("corrupt");
        BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = dir, Threads = 2 });
        var bin = Directory.GetFiles(Path.Combine(dir, "cache"), "*.bin").Order(StringComparer.Ordinal).First();
        using (var f = new FileStream(bin, FileMode.Open))
        {
            f.SetLength(f.Length / 2);
        }

        var act = () => BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = dir, Threads = 2 });
        var e = act.Should().Throw<IoFailureException>().Which;
        e.Path.Should().Be(bin);
        e.Message.Should().Contain("delete");

        foreach (var part in Directory.GetFiles(Path.GetDirectoryName(bin)!, Path.GetFileNameWithoutExtension(bin) + ".*"))
        {
            File.Delete(part);
        }

        BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = dir, Threads = 2 });
        ShouldBeIdentical(dir, Reference());
    }

    [Fact]
    public void An_input_that_vanishes_is_named()
    {
        var data = _dir.Combine("vanish", "data");
        Directory.CreateDirectory(data);
        File.WriteAllText(Path.Combine(data, "a.jsonl"), "{\"text\": \"hello\"}\n");
        var tokenizer = Data.Tokenization.SentencePieceTokenizer.Load(RepoPaths.Llama2Model);
        var cache = new Data.Cache.TokenCache(_dir.Combine("vanish", "cache"), tokenizer);
        File.Delete(Path.Combine(data, "a.jsonl"));

        var act = () => cache.GetOrBuild(Path.Combine(data, "a.jsonl"), new Data.Readers.ReaderOptions(), null, default);

        act.Should().Throw<IoFailureException>().Which.Message.Should().Contain("a.jsonl");
    }

    private Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = _dir.Path };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "tinyllama-data.dll"));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        return p;
    }
}
