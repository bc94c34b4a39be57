using System.Buffers.Binary;
using System.Text.Json.Nodes;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Plotting;
using TinyLlama.Data.Stats;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Tests.Shards;

namespace TinyLlama.Data.Tests.Stats;

public sealed class ShardStatisticsTests(DemoBuildFixture fixture) : IClassFixture<DemoBuildFixture>
{
    private const long Chunk = 8196;

    [Fact]
    public void Counts_agree_with_an_independent_reading_of_the_shard_bytes()
    {
        var stats = ShardStatistics.Compute(fixture.Good);
        var shards = Enumerable.Range(0, 128).Select(i => Path.Combine(fixture.Good, DemoBuildFixture.ShardName(i))).ToList();
        var oracle = JsonNode.Parse(Python.Run(Python.Script("stats_oracle.py"), [stats.BosId.ToString(System.Globalization.CultureInfo.InvariantCulture), stats.EosId.ToString(System.Globalization.CultureInfo.InvariantCulture), .. shards]))!.AsArray();

        stats.Shards.Should().HaveCount(128);
        for (var i = 0; i < 128; i++)
        {
            var s = stats.Shards[i];
            var o = oracle[i]!;
            s.Bos.Should().Be((long)o["bos"]!, s.Shard);
            s.Eos.Should().Be((long)o["eos"]!, s.Shard);
            s.MinId.Should().Be((int)o["min"]!, s.Shard);
            s.MaxId.Should().Be((int)o["max"]!, s.Shard);
            s.LongestRun.Id.Should().Be((int)o["run_id"]!, s.Shard);
            s.LongestRun.Length.Should().Be((long)o["run_length"]!, s.Shard);
            s.LongestRun.Offset.Should().Be((long)o["run_offset"]!, s.Shard);
        }

        stats.Total.Bos.Should().Be(oracle.Sum(o => (long)o!["bos"]!));
        stats.Total.Eos.Should().Be(oracle.Sum(o => (long)o!["eos"]!));
        stats.Total.MinId.Should().Be(oracle.Min(o => (int)o!["min"]!));
        stats.Total.MaxId.Should().Be(oracle.Max(o => (int)o!["max"]!));
        stats.Total.Tokens.Should().Be(128 * Chunk);
    }

    [Fact]
    public void Source_tokens_and_documents_follow_the_sidecar_spans()
    {
        var stats = ShardStatistics.Compute(fixture.Good);

        for (var i = 0; i < 128; i++)
        {
            var sidecar = JsonNode.Parse(File.ReadAllText(Path.Combine(fixture.Good, "sidecars", $"train_demo_{i:D10}.json")))!;
            var spans = sidecar["spans"]!.AsArray().Select(s => s!.AsArray()).ToList();
            stats.Shards[i].Documents.Should().Be(spans.Count(s => (long)s[4]! == 0));
            for (var k = 0; k < stats.Sources.Count; k++)
            {
                stats.Shards[i].TokensBySource[k].Should().Be((long)sidecar["tokens"]!["by_source"]![stats.Sources[k]]!);
            }

            stats.Shards[i].TokensBySource.Sum().Should().Be(Chunk - stats.Shards[i].Pad);
        }

        // Under doc+eos every document that starts also ends with one EOS, give or take the ones cut at the stream's ends.
        stats.Total.Documents.Should().BeCloseTo(stats.Total.Eos, 2);
        stats.Total.TokensBySource.Should().Equal(fixture.Result.Sources.Select(s => s.TokensInShards));
        stats.Total.Pad.Should().Be(0);
    }

    [Fact]
    public void Window_shares_add_up_and_follow_the_ramp()
    {
        var stats = ShardStatistics.Compute(fixture.Good, windowTokens: 2 * Chunk);

        stats.Windows.Should().HaveCount(64);
        for (var k = 0; k < stats.Sources.Count; k++)
        {
            stats.Windows.Sum(w => w.TokensBySource[k]).Should().Be(stats.Total.TokensBySource[k]);
        }

        var slim = stats.Sources.ToList().IndexOf("slimpajama");
        stats.Windows.Take(24).Should().OnlyContain(w => w.Share(slim) == 1.0, "stage 1 is SlimPajama only");
        stats.Windows.Skip(31).Should().OnlyContain(w => Math.Abs(w.Share(slim) - 0.6) < 0.1, "after the ramp SlimPajama holds 60%");
        stats.ObservedStageStarts.Should().Equal(0, 393_408, 786_816);
    }

    [Fact]
    public void A_separator_flood_is_the_longest_run_with_shard_and_offset()
    {
        var dir = fixture.Copy();
        var shard = DemoBuildFixture.ShardName(7);
        var path = Path.Combine(dir, shard);
        var bytes = File.ReadAllBytes(path);
        for (var o = 100; o < 700; o++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(24 + (2 * o)), 2);
        }

        File.WriteAllBytes(path, bytes);

        var stats = ShardStatistics.Compute(dir);

        stats.Total.LongestRun.Should().Be(new TokenRun(2, 600, shard, 100));
        stats.Shards[7].LongestRun.Should().Be(new TokenRun(2, 600, shard, 100));
        stats.Shards[7].Eos.Should().BeGreaterThanOrEqualTo(600);
    }

    [Fact]
    public void The_plot_is_a_png_of_the_requested_size()
    {
        var stats = ShardStatistics.Compute(fixture.Good, windowTokens: 2 * Chunk);
        var png = fixture.Dir.Combine("shares.png");

        SharePlot.Save(stats, png, PlannedMixture.FromSpec(fixture.Spec, stats.Total.Tokens, out _), 900, 500);

        var bytes = File.ReadAllBytes(png);
        bytes.AsSpan(0, 8).ToArray().Should().Equal(0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A);
        System.Text.Encoding.ASCII.GetString(bytes, 12, 4).Should().Be("IHDR");
        BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)).Should().Be(900);
        BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)).Should().Be(500);
        bytes.Length.Should().BeInRange(5_000, 300_000);
    }

    [Fact]
    public void The_cli_prints_a_table_json_and_a_plot()
    {
        var png = fixture.Dir.Combine("cli-shares.png");
        var table = CliRunner.Run(fixture.Dir.Path, "stats", fixture.Good, "--plot", png, "--spec", fixture.SpecPath);
        table.ExitCode.Should().Be(0, table.StdErr);
        table.StdOut.Should().Contain("train_demo_0000000127.bin").And.Contain("longest run").And.Contain("share of each source per window of 8,196 tokens");
        File.Exists(png).Should().BeTrue();

        var json = CliRunner.Run(fixture.Dir.Path, "stats", fixture.Good, "--json", "--window", "32784");
        json.ExitCode.Should().Be(0, json.StdErr);
        var parsed = JsonNode.Parse(json.StdOut)!;
        parsed["shards"]!.AsArray().Should().HaveCount(128);
        parsed["windows"]!.AsArray().Should().HaveCount(32);
        ((long)parsed["total"]!["tokens"]!).Should().Be(128 * Chunk);

        var missing = CliRunner.Run(fixture.Dir.Path, "stats", fixture.Dir.Combine("nowhere"));
        missing.ExitCode.Should().Be(Errors.ExitCodes.BadShard);
    }
}
