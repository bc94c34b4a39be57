using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using TinyLlama.Data.Mixtures;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Tests.Infrastructure;

namespace TinyLlama.Data.Tests.Pipeline;

public sealed class DemoBuildTests(DemoBuildFixture demo) : IClassFixture<DemoBuildFixture>
{
    /// <summary>Every span of the stream in order: (source name, file path, record, tokens, stream position).</summary>
    private static IEnumerable<(string Source, string File, long Record, long Start, long Tokens, long Position)> Spans(IReadOnlyList<JsonObject> sidecars)
    {
        foreach (var sc in sidecars)
        {
            var sources = sc["sources"]!.AsArray().Select(n => (string)n!).ToList();
            var files = sc["files"]!.AsArray().Select(n => (string)n!.AsArray()[1]!).ToList();
            var start = (long)sc["start_token"]!;
            foreach (var span in sc["spans"]!.AsArray())
            {
                var f = span!.AsArray().Select(n => (long)n!).ToArray();
                yield return (sources[(int)f[1]], files[(int)f[2]], f[3], f[4], f[5] - f[4], start + f[0]);
            }
        }
    }

    private static MixtureTarget Target(BuildSpec spec) => PlannedMixture.FromSpec(spec, 0, out _)!.Target;

    [Fact]
    public void At_every_shard_boundary_each_source_is_within_one_unit_of_the_plan()
    {
        var target = Target(demo.Spec);
        var names = demo.Spec.Sources.Select(s => s.Name).ToList();
        var emitted = new long[names.Count];
        long position = 0;
        var worst = 0.0;
        foreach (var sc in demo.Sidecars)
        {
            foreach (var (name, tokens) in sc["tokens"]!["by_source"]!.AsObject())
            {
                emitted[names.IndexOf(name)] += (long)tokens!;
            }

            position += demo.Spec.Output.ChunkSize;
            for (var i = 0; i < names.Count; i++)
            {
                var gap = Math.Abs(emitted[i] - target.Integral(i, position));
                worst = Math.Max(worst, gap);
                gap.Should().BeLessThanOrEqualTo(demo.Spec.MaxUnitTokens + 0.01,
                    $"{names[i]} at token {position} (shard {sc["shard"]}): emitted {emitted[i]}, planned {target.Integral(i, position):F1}");
            }
        }

        // The bound is not vacuous: the stream does cross a ramp and two stage changes.
        position.Should().Be(demo.Spec.Stages.Sum(s => s.Tokens!.Value));
        demo.Spec.Stages[1].Ramp.Should().NotBeNull();
        worst.Should().BeGreaterThan(0);
    }

    [Fact]
    public void The_ramp_raises_the_domain_shares_from_zero()
    {
        // StarCoder's target share rises from 0 to 15 % over the ramp's 100K tokens (12.2 shards). Over the
        // first 2 shards of stage 2 the target averages 1.2 %, over the last 3 shards of the ramp 13.6 %; a
        // source may lead or lag its target by one unit (1,024 tokens), ±6 or ±4 points over those windows.
        var chunk = demo.Spec.Output.ChunkSize;
        var first = (int)(demo.Spec.Stages[0].Tokens!.Value / chunk);
        var rampEnd = (int)((demo.Spec.Stages[0].Tokens!.Value + demo.Spec.Stages[1].Ramp!.Tokens) / chunk);
        double Share(int from, int to) => demo.Sidecars.Skip(from).Take(to - from).Sum(sc => (long)sc["tokens"]!["by_source"]!["starcoder"]!) / (double)(chunk * (to - from));

        Share(first, first + 2).Should().BeLessThan(0.08);
        Share(rampEnd - 3, rampEnd).Should().BeInRange(0.09, 0.18);
        Share(rampEnd, demo.Sidecars.Count).Should().BeApproximately(0.15, 0.01);
        demo.Sidecars.Take(first).Should().OnlyContain(sc => (long)sc["tokens"]!["by_source"]!["starcoder"]! == 0);
    }

    [Fact]
    public void The_same_spec_and_seed_give_identical_shards_and_another_seed_another_order_within_the_bound()
    {
        using var tmp = new TempDir();
        var again = BuildPipeline.Run(demo.Spec, new BuildOptions { OutputDirectory = tmp.Combine("again"), CacheDirectory = demo.Cache, Threads = 1 });
        again.Pack.Shards.Select(s => s.Sha256).Should().Equal(demo.Result.Pack.Shards.Select(s => s.Sha256));
        File.ReadAllBytes(again.ManifestPath).Should().Equal(File.ReadAllBytes(demo.Result.ManifestPath));

        var otherSpecPath = demo.VariantSpec("seed7", yaml => yaml.Replace("seed: 20240101", "seed: 7", StringComparison.Ordinal));
        var other = SpecLoader.Load(otherSpecPath);
        var result = BuildPipeline.Run(other, new BuildOptions { OutputDirectory = tmp.Combine("seed7"), CacheDirectory = demo.Cache, Threads = 2 });
        result.Pack.Shards.Select(s => s.Sha256).Should().NotEqual(demo.Result.Pack.Shards.Select(s => s.Sha256));
        ShardVerifier.Verify(result.Layout.Directory, VerifyExpectations.FromSpec(other)).Violations.Should().BeEmpty();

        var target = Target(other);
        var emitted = new Dictionary<string, long>(StringComparer.Ordinal);
        long position = 0;
        foreach (var shard in result.Pack.Shards)
        {
            position += other.Output.ChunkSize;
            for (var i = 0; i < other.Sources.Count; i++)
            {
                var name = other.Sources[i].Name;
                emitted[name] = emitted.GetValueOrDefault(name) + shard.TokensBySource[name];
                Math.Abs(emitted[name] - target.Integral(i, position)).Should().BeLessThanOrEqualTo(other.MaxUnitTokens + 0.01);
            }
        }
    }

    /// <summary>
    /// Subsets of a source (StarCoder languages, SlimPajama sets) come in proportion throughout the stream,
    /// not one after another. The source's documents, in stream order, are cut into tenths; in every tenth
    /// each subset is present, and its share of the tenth's documents is within 4 standard deviations of a
    /// binomial draw at its overall share: |p_tenth − p| ≤ 4·√(p(1 − p)/n) with n documents in the tenth
    /// (about ±11 points for StarCoder's 60 and ±9 for SlimPajama's 110 documents per tenth). A source read in
    /// file order would give 0 % or 100 % per tenth.
    /// </summary>
    [Theory]
    [InlineData("starcoder")]
    [InlineData("slimpajama")]
    public void Every_subset_appears_in_every_tenth_of_its_source_in_proportion(string source)
    {
        var subsetOf = source == "starcoder" ? (Func<string, long, string>)((file, _) => file.Split('/')[0]) : SlimPajamaSets();
        var docs = Spans(demo.Sidecars).Where(s => s.Source == source && s.Start == 0).Select(s => subsetOf(s.File, s.Record)).ToList();
        var overall = docs.GroupBy(k => k, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (double)g.Count() / docs.Count, StringComparer.Ordinal);
        overall.Keys.Should().HaveCountGreaterThanOrEqualTo(3);
        docs.Count.Should().BeGreaterThan(400, "enough documents for the proportions to mean something");

        var report = new StringBuilder();
        for (var t = 0; t < 10; t++)
        {
            var tenth = docs.Skip(docs.Count * t / 10).Take((docs.Count * (t + 1) / 10) - (docs.Count * t / 10)).ToList();
            foreach (var (k, p) in overall)
            {
                var local = tenth.Count(x => x == k) / (double)tenth.Count;
                var tolerance = 4 * Math.Sqrt(p * (1 - p) / tenth.Count);
                report.AppendLine(CultureInfo.InvariantCulture, $"tenth {t} {k}: {local:P1} (overall {p:P1}, ±{tolerance:P1})");
                local.Should().BeGreaterThan(0, $"{k} must appear in tenth {t} of {source}");
                local.Should().BeApproximately(p, tolerance, $"{k} in tenth {t} of {source}\n{report}");
            }
        }
    }

    private static Func<string, long, string> SlimPajamaSets()
    {
        var sets = new Dictionary<(string, long), string>();
        var root = Path.Combine(RepoPaths.RepoRoot, "mixtures", "demo", "corpora", "slimpajama");
        foreach (var file in Directory.GetFiles(root, "*.jsonl.zst", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(root, file).Replace('\\', '/');
            using var reader = RecordReaders.Open(file, new ReaderOptions { TextField = "meta.redpajama_set_name" });
            while (reader.MoveNext())
            {
                sets[(rel, reader.Current.Index)] = Encoding.UTF8.GetString(reader.Current.Utf8Text.Span);
            }
        }

        return (file, record) => sets[(file, record)];
    }

    [Fact]
    public void The_demo_corpora_are_what_the_generator_writes()
    {
        using var tmp = new TempDir();
        Data.Demo.DemoCorpora.Write(tmp.Path);
        var committed = Path.Combine(RepoPaths.RepoRoot, "mixtures", "demo", "corpora");
        var files = Directory.GetFiles(committed, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(committed, f)).Order(StringComparer.Ordinal).ToList();
        Directory.GetFiles(tmp.Path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(tmp.Path, f)).Order(StringComparer.Ordinal).Should().Equal(files);
        foreach (var rel in files)
        {
            var options = new ReaderOptions { TextField = rel.EndsWith(".parquet", StringComparison.Ordinal) ? "content" : "text" };
            Texts(Path.Combine(tmp.Path, rel), options).Should().Equal(Texts(Path.Combine(committed, rel), options), rel);
        }
    }

    private static List<string> Texts(string path, ReaderOptions options)
    {
        var texts = new List<string>();
        using var reader = RecordReaders.Open(path, options);
        while (reader.MoveNext())
        {
            texts.Add(Encoding.UTF8.GetString(reader.Current.Utf8Text.Span));
        }

        return texts;
    }
}
