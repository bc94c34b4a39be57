using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Tests.Infrastructure;

namespace TinyLlama.Data.Tests.Shards;

/// <summary>The checks that need the spec's mixture, against the demo build: each mutation is named with shard and offset.</summary>
public sealed class MixtureVerifyTests(DemoBuildFixture fixture) : IClassFixture<DemoBuildFixture>
{
    private const long Chunk = 8196;

    private VerifyReport Verify(string dir, VerifyExpectations? expect = null) =>
        ShardVerifier.Verify(dir, expect ?? VerifyExpectations.FromSpec(fixture.Spec));

    [Fact]
    public void The_demo_build_passes_every_check_with_nothing_left_unchecked()
    {
        var report = Verify(fixture.Copy(), VerifyExpectations.FromSpec(fixture.Spec) with { SampleDocuments = 40 });

        report.Violations.Should().BeEmpty();
        report.Notes.Should().BeEmpty();
        report.ShardsChecked.Should().Be(128);
        report.DocumentsSampled.Should().Be(40);
    }

    [Fact]
    public void A_build_with_another_ramp_leaves_the_planned_proportions_at_a_named_shard_boundary()
    {
        var variant = SpecLoader.Load(fixture.VariantSpec("long-ramp", t => t.Replace("tokens: 100K", "tokens: 250K", StringComparison.Ordinal)));
        var dir = Path.Combine(fixture.Dir.Path, "long-ramp-out");
        BuildPipeline.Run(variant, new BuildOptions { OutputDirectory = dir, CacheDirectory = fixture.Cache, Threads = 2 });

        var violations = Verify(dir).Violations;

        violations.Should().Contain(v => v.Problem.Contains("another spec"));
        var drift = violations.Where(v => v.Problem.Contains("the spec plans")).ToList();
        drift.Should().NotBeEmpty();
        drift.Should().OnlyContain(v => v.TokenOffset == Chunk - 1 && v.Shard.StartsWith("train_demo_", StringComparison.Ordinal));
        drift.Select(v => v.Problem).Should().Contain(p => p.Contains("'starcoder'") && p.Contains("max_unit_tokens 1,024"));

        // The drift starts inside stage 2's ramp (from shard 48 on), never in stage 1.
        drift.Select(v => int.Parse(v.Shard[11..21], System.Globalization.CultureInfo.InvariantCulture)).Should().OnlyContain(i => i >= 48);
    }

    [Fact]
    public void Verifying_against_a_ramp_that_differs_from_the_build_is_caught()
    {
        var stages = fixture.Spec.Stages.ToList();
        stages[1] = stages[1] with { Ramp = new RampSpec(10_000, null) };
        var expect = VerifyExpectations.FromSpec(fixture.Spec) with { Spec = fixture.Spec with { Stages = stages } };

        Verify(fixture.Copy(), expect).Violations.Should().Contain(v => v.Problem.Contains("the spec plans") && v.TokenOffset == Chunk - 1);
    }

    [Fact]
    public void A_sidecar_rewritten_to_another_source_leaves_the_bound_at_that_shard()
    {
        var dir = fixture.Copy();
        var shard = DemoBuildFixture.ShardName(5); // stage 1: SlimPajama only
        var sidecar = LoadSidecar(dir, shard);
        foreach (var span in sidecar["spans"]!.AsArray())
        {
            span!.AsArray()[1] = 1; // starcoder
        }

        sidecar["tokens"]!["by_source"]!["starcoder"] = (long)sidecar["tokens"]!["by_source"]!["slimpajama"]!;
        sidecar["tokens"]!["by_source"]!["slimpajama"] = 0;
        SaveSidecar(dir, shard, sidecar);

        Verify(dir).Violations.Should().Contain(v => v.Shard == shard && v.TokenOffset == Chunk - 1
            && v.Problem.Contains("'starcoder' has 8,196 tokens") && v.Problem.Contains("the spec plans 0.0"));
    }

    [Fact]
    public void A_span_labelled_with_another_stage_is_located()
    {
        var dir = fixture.Copy();
        var shard = DemoBuildFixture.ShardName(10);
        var sidecar = LoadSidecar(dir, shard);
        var span = sidecar["spans"]!.AsArray()[2]!.AsArray();
        span[8] = 2;
        SaveSidecar(dir, shard, sidecar);

        var violations = Verify(dir).Violations;
        violations.Should().ContainSingle();
        violations[0].Shard.Should().Be(shard);
        violations[0].TokenOffset.Should().Be((long)span[0]!);
        violations[0].Problem.Should().Contain("labelled stage 'cooldown'").And.Contain("in stage 'basic'");
    }

    [Fact]
    public void Deleting_the_last_shard_leaves_no_gap_but_the_total_is_short()
    {
        var dir = fixture.Copy();
        var last = DemoBuildFixture.ShardName(127);
        File.Delete(Path.Combine(dir, last));
        File.Delete(SidecarOf(dir, last));

        Verify(dir).Violations.Should().Contain(v => v.Shard == DemoBuildFixture.ShardName(126)
            && v.Problem.Contains("128 shards of 8,196") && v.Problem.Contains("holds 127 shards") && v.Problem.Contains("missing at the end"));
    }

    [Fact]
    public void A_stage_that_does_not_fill_the_trainers_buffers_is_reported_at_its_last_shard()
    {
        var spec = fixture.Spec with { Trainer = new TrainerSpec { BlockSize = 2049, WorldSize = 1, Workers = 1, BufferFiles = 24 } };

        var violations = Verify(fixture.Copy(), VerifyExpectations.FromSpec(spec)).Violations;

        violations.Should().Contain(v => v.Shard == DemoBuildFixture.ShardName(127) && v.Problem.Contains("stage 'cooldown' is 32 shards")
            && v.Problem.Contains("PackedDataset") && v.Problem.Contains("skipped"));
        violations.Should().Contain(v => v.Problem.StartsWith("128 shards is not a multiple of world_size × workers × buffer_files = 24", StringComparison.Ordinal));
        violations.Should().NotContain(v => v.Problem.Contains("stage 'basic'"));
    }

    [Fact]
    public void Another_separator_policy_fails_at_the_first_document_end()
    {
        var expect = VerifyExpectations.FromSpec(fixture.Spec) with { Separator = SeparatorPolicy.BosDoc };

        Verify(fixture.Copy(), expect).Violations.Should().Contain(v => v.Shard == DemoBuildFixture.ShardName(0) && v.Problem.Contains("separator"));
    }

    [Fact]
    public void A_token_changed_inside_a_document_split_across_shards_is_found_only_by_re_tokenizing()
    {
        var dir = fixture.Copy();
        var (shard, offset) = FlipInsideAContinuedDocument(dir);

        Verify(dir).Violations.Should().BeEmpty("the sidecar's checksum was updated, so only the text can tell");
        var report = Verify(dir, VerifyExpectations.FromSpec(fixture.Spec) with { SampleDocuments = 100_000 });

        report.DocumentsSampled.Should().BeGreaterThan(500);
        report.Violations.Should().ContainSingle();
        report.Violations[0].Shard.Should().Be(shard);
        report.Violations[0].TokenOffset.Should().Be(offset);
        report.Violations[0].Problem.Should().Contain("tokenizer gives").And.Contain("stale cache");
    }

    [Fact]
    public void Re_tokenizing_with_another_tokenizer_finds_documents_that_differ()
    {
        var other = fixture.Spec with { TokenizerPath = RepoPaths.Llama2Model };
        var report = Verify(fixture.Copy(), VerifyExpectations.FromSpec(other) with { SampleDocuments = 10 });

        report.Violations.Should().Contain(v => v.Problem.Contains("another tokenizer"));
        report.Violations.Should().Contain(v => v.Problem.Contains("the spec's tokenizer gives"));
    }

    [Fact]
    public void The_sample_is_the_same_for_the_same_seed()
    {
        var a = DocumentSampler.Check(fixture.Spec, fixture.Good, 5, 7);
        var b = DocumentSampler.Check(fixture.Spec, fixture.Good, 5, 7);

        a.DocumentsSampled.Should().Be(5);
        a.Violations.Should().BeEmpty();
        b.DocumentsSampled.Should().Be(5);
    }

    [Fact]
    public void The_cli_exits_7_and_names_shard_and_offset_for_a_broken_ramp_and_a_missing_last_shard()
    {
        var ok = CliRunner.Run(fixture.Dir.Path, "verify", fixture.SpecPath, fixture.Good, "--sample", "5");
        ok.ExitCode.Should().Be(0, ok.StdOut + ok.StdErr);
        ok.StdOut.Should().Contain("verify: OK").And.Contain("sampled 5 documents");

        var dir = fixture.Copy();
        var shard = DemoBuildFixture.ShardName(5);
        var sidecar = LoadSidecar(dir, shard);
        foreach (var span in sidecar["spans"]!.AsArray())
        {
            span!.AsArray()[1] = 3; // skypile
        }

        sidecar["tokens"]!["by_source"]!["skypile"] = Chunk;
        sidecar["tokens"]!["by_source"]!["slimpajama"] = 0;
        SaveSidecar(dir, shard, sidecar);
        var ramp = CliRunner.Run(fixture.Dir.Path, "verify", fixture.SpecPath, dir);
        ramp.ExitCode.Should().Be(ExitCodes.VerifyFailed);
        ramp.StdOut.Should().Contain($"VIOLATION {shard}: token 8195: after this shard");

        var missing = fixture.Copy();
        File.Delete(Path.Combine(missing, DemoBuildFixture.ShardName(127)));
        File.Delete(SidecarOf(missing, DemoBuildFixture.ShardName(127)));
        var json = CliRunner.Run(fixture.Dir.Path, "verify", fixture.SpecPath, missing, "--json");
        json.ExitCode.Should().Be(ExitCodes.VerifyFailed);
        var parsed = JsonNode.Parse(json.StdOut)!;
        ((bool)parsed["ok"]!).Should().BeFalse();
        parsed["violations"]!.AsArray().Should().Contain(v => (string)v!["shard"]! == DemoBuildFixture.ShardName(126));
    }

    /// <summary>Changes one id inside the first span of a shard that continues a document from the previous shard; fixes the checksum.</summary>
    private static (string Shard, long Offset) FlipInsideAContinuedDocument(string dir)
    {
        for (var i = 1; i < 128; i++)
        {
            var shard = DemoBuildFixture.ShardName(i);
            var sidecar = LoadSidecar(dir, shard);
            var span = sidecar["spans"]!.AsArray()[0]!.AsArray();
            long start = (long)span[4]!, end = (long)span[5]!, length = (long)span[6]!;
            if (start == 0 || end - start < 4 || start + 1 >= length - 1)
            {
                continue;
            }

            var offset = 1L; // framed position start + 1: inside the document, not its EOS
            var path = Path.Combine(dir, shard);
            var bytes = File.ReadAllBytes(path);
            var at = 24 + (int)(2 * offset);
            var old = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(at));
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at), (ushort)(old == 3 ? 4 : 3));
            File.WriteAllBytes(path, bytes);
            sidecar["sha256"] = Convert.ToHexStringLower(SHA256.HashData(bytes));
            SaveSidecar(dir, shard, sidecar);
            return (shard, offset);
        }

        throw new InvalidOperationException("the demo build has no shard starting inside a document");
    }

    private static string SidecarOf(string dir, string shard) => Path.Combine(dir, "sidecars", Path.ChangeExtension(shard, ".json"));

    private static JsonNode LoadSidecar(string dir, string shard) => JsonNode.Parse(File.ReadAllText(SidecarOf(dir, shard)))!;

    private static void SaveSidecar(string dir, string shard, JsonNode sidecar) => File.WriteAllText(SidecarOf(dir, shard), sidecar.ToJsonString());
}
