using System.Buffers.Binary;
using System.Text.Json.Nodes;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Tests.Pipeline;

namespace TinyLlama.Data.Tests.Shards;

/// <summary>One good build, made once; each test mutates a copy and expects verify to name the damage.</summary>
public sealed class VerifiedBuildFixture : IDisposable
{
    public VerifiedBuildFixture()
    {
        SpecPath = Dir.Write("spec.yaml", TinyLlamaCompatibleBuildTests.Spec("32784", "pad"));
        Spec = SpecLoader.Load(SpecPath);
        BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = Dir.Combine("good"), Threads = 2 });
    }

    public TempDir Dir { get; } = new();

    public string SpecPath { get; }

    public BuildSpec Spec { get; }

    public string Copy()
    {
        var target = Dir.Combine("copy-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var file in Directory.GetFiles(Dir.Combine("good"), "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(Dir.Combine("good"), file);
            if (rel.StartsWith("cache", StringComparison.Ordinal))
            {
                continue;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(target, rel))!);
            File.Copy(file, Path.Combine(target, rel));
        }

        return target;
    }

    public void Dispose() => Dir.Dispose();
}

public sealed class ShardMutationTests(VerifiedBuildFixture fixture) : IClassFixture<VerifiedBuildFixture>
{
    private const string Shard3 = "train_slimpajama_0000000003.bin";

    public static VerifyExpectations Expect(BuildSpec spec) => VerifyExpectations.FromSpec(spec);

    private VerifyReport Verify(string dir, VerifyExpectations? expect = null) => ShardVerifier.Verify(dir, expect ?? Expect(fixture.Spec));

    [Fact]
    public void The_unmutated_build_passes() => Verify(fixture.Copy()).Violations.Should().BeEmpty();

    [Fact]
    public void A_flipped_token_is_caught_with_shard_and_offset()
    {
        var dir = fixture.Copy();
        var path = Path.Combine(dir, Shard3);
        var bytes = File.ReadAllBytes(path);
        var at = 24 + (2 * 1000);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at), (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(at)) ^ 0x0101));
        File.WriteAllBytes(path, bytes);

        Verify(dir).Violations.Should().Contain(v => v.Shard == Shard3 && v.Problem.Contains("sha256"));
    }

    [Fact]
    public void A_separator_written_inside_a_document_is_located()
    {
        var dir = fixture.Copy();
        var path = Path.Combine(dir, Shard3);
        var bytes = File.ReadAllBytes(path);
        var sidecar = JsonNode.Parse(File.ReadAllText(SidecarOf(dir, Shard3)))!;
        var span = sidecar["spans"]!.AsArray().Select(s => s!.AsArray()).First(s => (long)s[5]! - (long)s[4]! > 10);
        var offset = (long)span[0]! + 5;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(24 + (int)(2 * offset)), 2);
        File.WriteAllBytes(path, bytes);
        sidecar["sha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        File.WriteAllText(SidecarOf(dir, Shard3), sidecar.ToJsonString());

        var violations = Verify(dir).Violations;
        violations.Should().ContainSingle();
        violations[0].Shard.Should().Be(Shard3);
        violations[0].TokenOffset.Should().Be(offset);
        violations[0].Problem.Should().Contain("separator id 2 inside a document");
    }

    [Fact]
    public void A_truncated_shard_is_caught()
    {
        var dir = fixture.Copy();
        var path = Path.Combine(dir, Shard3);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^100]);

        Verify(dir).Violations.Should().Contain(v => v.Shard == Shard3 && v.Problem.Contains("bytes"));
    }

    [Fact]
    public void Two_swapped_shards_are_caught()
    {
        var dir = fixture.Copy();
        var a = Path.Combine(dir, "train_slimpajama_0000000002.bin");
        var b = Path.Combine(dir, Shard3);
        File.Move(a, a + ".x");
        File.Move(b, a);
        File.Move(a + ".x", b);

        var violations = Verify(dir).Violations;
        violations.Should().Contain(v => v.Shard == Shard3 && v.Problem.Contains("sha256"));
        violations.Should().Contain(v => v.Shard == "train_slimpajama_0000000002.bin" && v.Problem.Contains("sha256"));
    }

    [Fact]
    public void A_deleted_shard_is_a_gap()
    {
        var dir = fixture.Copy();
        File.Delete(Path.Combine(dir, Shard3));

        Verify(dir).Violations.Should().Contain(v => v.Shard == Shard3 && v.Problem.Contains("missing shard"));
    }

    [Fact]
    public void A_corrupt_header_is_caught()
    {
        var dir = fixture.Copy();
        var path = Path.Combine(dir, Shard3);
        var bytes = File.ReadAllBytes(path);
        bytes[15] = 4;
        File.WriteAllBytes(path, bytes);

        Verify(dir).Violations.Should().Contain(v => v.Shard == Shard3 && v.Problem.Contains("header"));
    }

    [Fact]
    public void An_edited_sidecar_is_caught()
    {
        var dir = fixture.Copy();
        var sidecar = JsonNode.Parse(File.ReadAllText(SidecarOf(dir, Shard3)))!;
        var first = sidecar["spans"]!.AsArray()[0]!.AsArray();
        first[5] = (long)first[5]! - 1;
        File.WriteAllText(SidecarOf(dir, Shard3), sidecar.ToJsonString());

        Verify(dir).Violations.Should().Contain(v => v.Shard == Shard3 && v.Problem.Contains("tile"));
    }

    [Fact]
    public void Verifying_against_another_tokenizer_fails()
    {
        var dir = fixture.Copy();
        var expect = Expect(fixture.Spec) with { TokenizerSha256 = new string('0', 64) };

        Verify(dir, expect).Violations.Should().Contain(v => v.Problem.Contains("another tokenizer"));
    }

    [Fact]
    public void Verifying_against_another_separator_policy_fails_at_the_first_document_start()
    {
        var dir = fixture.Copy();
        var expect = Expect(fixture.Spec) with { Separator = SeparatorPolicy.BosDoc };

        var violations = Verify(dir, expect).Violations;
        violations.Should().Contain(v => v.Shard == "train_slimpajama_0000000000.bin" && v.Problem.Contains("separator"));
        violations.Should().Contain(v => v.TokenOffset == 0 && v.Problem.Contains("without BOS"));
    }

    [Fact]
    public void A_stray_file_matching_the_prefix_is_reported()
    {
        var dir = fixture.Copy();
        File.WriteAllText(Path.Combine(dir, "train_slimpajama_notes.txt"), "x");

        Verify(dir).Violations.Should().Contain(v => v.Shard == "train_slimpajama_notes.txt");
    }

    [Fact]
    public void A_tokens_all_build_is_checked_against_a_budget_taken_from_the_sidecars()
    {
        var report = Verify(fixture.Copy());

        report.Violations.Should().BeEmpty();
        report.Notes.Should().ContainSingle().Which.Should().Contain("tokens: all").And.Contain("taken from the sidecars");
    }

    [Fact]
    public void The_cli_exits_7_for_a_corrupt_header_and_names_the_shard()
    {
        var dir = fixture.Copy();
        var path = Path.Combine(dir, Shard3);
        var bytes = File.ReadAllBytes(path);
        bytes[0] = (byte)'X';
        File.WriteAllBytes(path, bytes);

        var r = CliRunner.Run(fixture.Dir.Path, "verify", fixture.SpecPath, dir);

        r.ExitCode.Should().Be(TinyLlama.Data.Errors.ExitCodes.VerifyFailed);
        r.StdOut.Should().Contain($"VIOLATION {Shard3}: bad header");
    }

    private static string SidecarOf(string dir, string shard) => Path.Combine(dir, "sidecars", Path.ChangeExtension(shard, ".json"));
}
