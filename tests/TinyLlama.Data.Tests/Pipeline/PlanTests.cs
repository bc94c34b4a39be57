using System.Diagnostics;
using System.Text.Json.Nodes;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Tests.Infrastructure;

namespace TinyLlama.Data.Tests.Pipeline;

public sealed class PlanTests
{
    private static string Mixture(string name) => Path.Combine(RepoPaths.RepoRoot, "mixtures", name);

    [Theory]
    [InlineData("tinyllama-v1.1.yaml", "slimpajama", 2_000_000_000_000.0)]
    [InlineData("tinyllama-v1.1-math-code.yaml", "starcoder", 74_550_000_000.0)]
    [InlineData("tinyllama-v1.1-chinese.yaml", "skypile", 248_500_000_000.0)]
    public void The_three_variants_plan_from_declared_sizes_in_seconds(string file, string source, double planned)
    {
        using var tmp = new TempDir();
        var clock = Stopwatch.StartNew();
        var r = CliRunner.Run(tmp.Path, "plan", Mixture(file), "--json");
        clock.Stop();

        r.ExitCode.Should().Be(0, r.StdErr);
        var plan = JsonNode.Parse(r.StdOut)!;
        ((long)plan["total_tokens"]!).Should().Be(2_000_000_000_000);
        plan["stages"]!.AsArray().Select(s => (string)s!["name"]!).Should().Equal("basic", "continual", "cooldown");
        var src = plan["sources"]!.AsArray().Single(s => (string)s!["name"]! == source)!;
        ((double)src["planned_tokens"]!).Should().BeApproximately(planned, 1e3);
        ((long)plan["shards"]!).Should().Be(2_000_000_000_000 / 2_098_176);
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(30), "a plan is closed-form arithmetic (this is a sanity bound, not a benchmark)");
    }

    [Fact]
    public void The_math_code_ramp_gives_starcoder_its_integral()
    {
        var spec = SpecLoader.Load(Mixture("tinyllama-v1.1-math-code.yaml"));
        var report = BuildPlanner.Plan(spec, BuildPlanner.DeclaredSizes(spec)!, 32000, "declared");

        // Over the 6B-token ramp StarCoder's share rises linearly from 0 to 0.15: 0.45B tokens.
        var continual = report.Stages[1];
        continual.SourceTokens[1].Should().BeApproximately((0.45e9) + (0.15 * 344e9), 1e3);
        report.Plan.IsFeasible.Should().BeTrue();
    }

    [Fact]
    public void Too_many_skypile_epochs_fail_before_anything_is_tokenized_naming_skypile_and_the_numbers()
    {
        using var tmp = new TempDir();
        File.Copy(Mixture("tinyllama-v1.1-base.yaml"), tmp.Combine("tinyllama-v1.1-base.yaml"));
        File.Copy(Mixture("tinyllama-v1.1-chinese.yaml"), tmp.Combine("chinese.yaml"));
        var spec = tmp.Write("capped.yaml", """
            extends: chinese.yaml
            tokenizer: TOKENIZER
            sources:
              skypile:
                max_epochs: 1
            """.Replace("TOKENIZER", RepoPaths.Llama2Model, StringComparison.Ordinal));

        var plan = CliRunner.Run(tmp.Path, "plan", spec);
        plan.ExitCode.Should().Be(ExitCodes.Infeasible);
        plan.StdOut.Should().Contain("skypile").And.Contain("1.654 epochs").And.Contain("max_epochs is 1");

        // build fails the same way, before it looks for the corpora (which do not exist here).
        var build = CliRunner.Run(tmp.Path, "build", spec, "--out", tmp.Combine("out"));
        build.ExitCode.Should().Be(ExitCodes.Infeasible, build.StdErr);
        build.StdErr.Should().Contain("skypile").And.Contain("248,500,000,000 tokens");
        Directory.Exists(tmp.Combine("out", "cache")).Should().BeFalse();
    }

    [Fact]
    public void Plan_from_the_caches_of_a_build_matches_what_the_build_packed()
    {
        using var tmp = new TempDir();
        var spec = SpecLoader.Load(Mixture("demo.yaml"));
        var result = BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = tmp.Combine("out"), Threads = 2 });

        var r = CliRunner.Run(tmp.Path, "plan", Mixture("demo.yaml"), "--out", tmp.Combine("out"), "--json");
        r.ExitCode.Should().Be(0, r.StdErr);
        var plan = JsonNode.Parse(r.StdOut)!;
        ((long)plan["shards"]!).Should().Be(result.Pack.Shards.Count);
        ((JsonArray)plan["trainer_notes"]!).Should().BeEmpty("the demo's stages are whole multiples of 8 shards");
        foreach (var s in plan["sources"]!.AsArray())
        {
            var name = (string)s!["name"]!;
            var packed = result.Sources.Single(x => x.Name == name).TokensInShards;
            ((double)s["planned_tokens"]!).Should().BeApproximately(packed, spec.MaxUnitTokens);
        }
    }
}
