using System.Text.Json.Nodes;
using FluentAssertions;
using TinyLlama.Data.Tests.Infrastructure;
using Xunit;

namespace TinyLlama.Data.Tests.Cli;

/// <summary>
/// The <c>bench</c> command end to end on a tiny generated corpus: not its speed (no timed assertions), but that
/// every measurement ran on the same input and gave the same bytes, and that the report says what it measured.
/// </summary>
public sealed class BenchCommandTests
{
    [Fact]
    public void The_bench_builds_the_same_shards_at_every_thread_count_and_in_both_concurrent_copies()
    {
        if (Environment.ProcessorCount < 2)
        {
            return; // the 2-thread build and the copies are pinned to CPUs 0 and 1
        }

        using var tmp = new TempDir();
        var result = CliRunner.Run(tmp.Path, "bench", "--work", tmp.Combine("work"), "--mb", "2", "--files", "2", "--rounds", "1", "--no-reference",
            "--samples", Path.Combine(RepoPaths.SharedDir, "data"), "--tokenizer", RepoPaths.Llama2Model, "--markdown", tmp.Combine("bench.md"), "--json");
        result.ExitCode.Should().Be(0, result.StdErr);

        var json = JsonNode.Parse(result.StdOut)!;
        var corpus = json["corpus"]!;
        var all = json["all"]!;
        var one = all["build-1"]![0]!;
        var two = all["build-2"]![0]!;
        var copies = all["build-1x2"]![0]!;

        // Every build read every used document of the generated corpus and made the same tokens and shards.
        ((long)one["text_bytes"]!).Should().Be((long)corpus["used_text_bytes"]!);
        ((long)one["documents"]!).Should().Be((long)corpus["used_documents"]!);
        ((long)two["tokens"]!).Should().Be((long)one["tokens"]!);
        ((double)copies["text_bytes"]!).Should().Be(2.0 * (long)one["text_bytes"]!);
        ((double)copies["tokens"]!).Should().Be(2.0 * (long)one["tokens"]!);
        ((string)two["shards_sha256_first"]!).Should().Be((string)one["shards_sha256_first"]!).And.MatchRegex("^[0-9a-f]{64}$");
        ((string)copies["shards_sha256_first"]!).Should().Be((string)one["shards_sha256_first"]!, "both copies made the 1-thread build's shards");
        ((string)two["pack8_sha256_all"]!).Should().Be((string)one["pack8_sha256_all"]!);
        ((bool)one["identical_shards"]!).Should().BeTrue();
        ((bool)two["identical_shards"]!).Should().BeTrue();

        // The two copies' combined rate is what the report's ceiling is made of.
        var (w0, w1) = ((double)copies["copy0_wall_s"]!, (double)copies["copy1_wall_s"]!);
        ((double)copies["builds_per_s"]!).Should().BeApproximately((1 / w0) + (1 / w1), 1e-9);
        ((double)copies["wall_s"]!).Should().Be(Math.Max(w0, w1));

        // Each phase's CPU and JIT time is there, and the phases add up to the build.
        foreach (var build in new[] { one, two })
        {
            var phases = new[] { "start", "tokenize", "plan", "pack" };
            foreach (var p in phases)
            {
                ((double)build["phase_" + p + "_cpu_s"]!).Should().BeGreaterThanOrEqualTo(0);
                ((double)build["phase_" + p + "_jit_s"]!).Should().BeGreaterThanOrEqualTo(0);
            }

            phases.Sum(p => (double)build["phase_" + p + "_s"]!).Should().BeLessThanOrEqualTo((double)build["wall_s"]! + 0.01);
        }

        var report = File.ReadAllText(tmp.Combine("bench.md"));
        report.Should().Contain("| two 1-thread builds at once, one per CPU");
        report.Should().Contain("- The machine's own 1 → 2 for this work: two 1-thread builds at once");
        report.Should().Contain("same first shard as the 1-thread build in every round: yes");
        report.Should().Contain("- Scaling 1 → 2 threads (wall):").And.Contain("same first shard: yes; same 8-pass shards: yes");
        report.Should().NotContain("NO");
        Directory.EnumerateFileSystemEntries(tmp.Combine("work")).Select(Path.GetFileName).Should().NotContain("retired", "the bench deletes the outputs it is done with");
    }
}
