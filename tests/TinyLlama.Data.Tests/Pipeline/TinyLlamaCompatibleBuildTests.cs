using System.Globalization;
using System.Text.Json.Nodes;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Tests.Pipeline;

/// <summary>
/// The foundation's acceptance test: a single-source SlimPajama spec with TinyLlama's conventions gives
/// shards byte-identical to an independent reference packer (Python, sentencepiece, written from the
/// format facts) over the same files in sorted order.
/// </summary>
public sealed class TinyLlamaCompatibleBuildTests
{
    private static string SlimPajamaRoot => Path.Combine(RepoPaths.SharedDir, "data", "slimpajama");

    public static string Spec(string chunk, string tail) => $"""
        seed: 1
        tokenizer: {RepoPaths.Llama2Model}
        sources:
          slimpajama:
            format: slimpajama
            root: {SlimPajamaRoot}
            split: train
            order: sequential
        output:
          prefix: train_slimpajama
          chunk_size: {chunk}
          separator: doc+eos
          tail: {tail}
        """;

    [Theory]
    [InlineData("32784", "drop")] // 16 blocks of 2049
    [InlineData("32784", "pad")]
    [InlineData("2098176", "drop")] // TinyLlama's default: 1024 blocks of 2049
    [InlineData("2098176", "pad")]
    public void Shards_are_byte_identical_to_the_reference_packer(string chunk, string tail)
    {
        using var tmp = new TempDir();
        var specPath = tmp.Write("spec.yaml", Spec(chunk, tail));
        var spec = SpecLoader.Load(specPath);

        // The packer's buffers are not zeroed: fill new ones with garbage, so that any byte of a shard the packer
        // failed to write (or the tail padding it left out) differs from the reference.
        BuildResult result;
        AlignedBuffer.PoisonUnzeroedWith = 0xA5;
        try
        {
            result = BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = tmp.Combine("out"), Threads = 2 });
        }
        finally
        {
            AlignedBuffer.PoisonUnzeroedWith = -1;
        }

        var files = Directory.GetFiles(Path.Combine(SlimPajamaRoot, "train"), "*.jsonl.zst", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(SlimPajamaRoot, f))
            .Order(StringComparer.Ordinal)
            .Select(f => Path.Combine(SlimPajamaRoot, f))
            .ToList();
        var refDir = tmp.Combine("ref");
        var summary = JsonNode.Parse(Python.Run(Python.Script("reference_packer.py"),
            [RepoPaths.Llama2Model, refDir, "train_slimpajama", chunk, tail, .. files]))!;

        var expected = Directory.Exists(refDir) ? Directory.GetFiles(refDir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList() : [];
        var actual = Directory.GetFiles(tmp.Combine("out"), "train_slimpajama_*").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        actual.Should().Equal(expected);
        ((int)summary["shards"]!).Should().Be(result.Pack.Shards.Count);
        if (tail == "pad" || long.Parse(chunk, CultureInfo.InvariantCulture) < 100_000)
        {
            actual.Should().NotBeEmpty("the test must compare real bytes");
        }

        foreach (var name in expected)
        {
            File.ReadAllBytes(tmp.Combine("out", name!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(refDir, name!)))
                .Should().BeTrue($"{name} must be byte-identical to the reference");
        }

        result.Pack.TailDroppedTokens.Should().Be((long)summary["dropped"]!);
        result.Pack.TailPaddedTokens.Should().Be((long)summary["padded"]!);
        result.Pack.TokensIn.Should().Be((long)summary["tokens"]!);
    }

    [Fact]
    public void Every_record_is_accounted_for_and_the_github_set_is_filtered()
    {
        using var tmp = new TempDir();
        var spec = SpecLoader.Load(tmp.Write("spec.yaml", Spec("32784", "drop")));
        var result = BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = tmp.Combine("out"), Threads = 1 });

        var manifest = Manifest.Load(Path.Combine(RepoPaths.SharedDir, "data", "slimpajama", "MANIFEST.json"));
        var train = manifest.Where(kv => kv.Key.StartsWith("train/", StringComparison.Ordinal)).SelectMany(kv => kv.Value).ToList();
        var totals = result.Sources.Single().Totals;
        totals.Read.Should().Be(train.Count);
        totals.Filtered.Should().ContainKey("no_github");
        totals.Filtered["no_github"].Should().Be(train.Count(r => r["tinyllama_keeps"] is JsonValue v && !v.GetValue<bool>()));
        totals.Used.Should().Be(train.Count(r => r["tinyllama_keeps"] is JsonValue v && v.GetValue<bool>()));
        totals.Balances.Should().BeTrue();
    }

    [Fact]
    public void The_same_spec_gives_the_same_bytes_with_one_two_or_four_threads_from_the_cache_and_through_the_page_cache()
    {
        using var tmp = new TempDir();
        var spec = SpecLoader.Load(tmp.Write("spec.yaml", Spec("32784", "pad")));
        BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = tmp.Combine("a"), Threads = 1 });
        BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = tmp.Combine("b"), Threads = 2 });
        BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = tmp.Combine("b"), Threads = 2 }); // again, from the cache
        BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = tmp.Combine("c"), Threads = 4 });
        UnbufferedIo.Enabled = false; // shards through the page cache, as on a file system without O_DIRECT
        BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = tmp.Combine("d"), CacheDirectory = tmp.Combine("a", "cache"), Threads = 2 });
        UnbufferedIo.Enabled = true;

        foreach (var file in Directory.GetFiles(tmp.Combine("a"), "*", SearchOption.AllDirectories))
        {
            // Everything, the token caches included, is the same bytes whatever the thread count.
            var rel = Path.GetRelativePath(tmp.Combine("a"), file);
            File.ReadAllBytes(file).Should().Equal(File.ReadAllBytes(tmp.Combine("b", rel)), rel);
            File.ReadAllBytes(file).Should().Equal(File.ReadAllBytes(tmp.Combine("c", rel)), rel);
            if (!rel.StartsWith("cache", StringComparison.Ordinal))
            {
                File.ReadAllBytes(file).Should().Equal(File.ReadAllBytes(tmp.Combine("d", rel)), rel);
            }
        }
    }

    [Fact]
    public void The_build_verifies_against_its_spec()
    {
        using var tmp = new TempDir();
        var spec = SpecLoader.Load(tmp.Write("spec.yaml", Spec("32784", "pad")));
        var result = BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = tmp.Combine("out"), Threads = 2 });
        var report = ShardVerifier.Verify(result.Layout.Directory, VerifyExpectations.FromSpec(spec));
        report.Violations.Should().BeEmpty();
        report.ShardsChecked.Should().Be(result.Pack.Shards.Count);
    }
}
