using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures;

namespace TinyLlama.Data.Tests.Mixtures;

public sealed class MixturePlannerTests
{
    private const double B = 1e9;

    // Declared sizes (Llama tokenizer for SlimPajama/StarCoder/SkyPile; Proof-Pile's GPT-NeoX count).
    private static readonly MixtureSourceSize SlimPajama = new("slimpajama", 627_000_000_000, MaxEpochs: 4);
    private static readonly MixtureSourceSize StarCoder = new("starcoder", 250_000_000_000, MaxEpochs: 1);
    private static readonly MixtureSourceSize ProofPile = new("proof-pile", 8_300_000_000, MaxEpochs: 6);
    private static readonly MixtureSourceSize SkyPile = new("skypile", 150_000_000_000, MaxEpochs: 1);

    [Fact]
    public void TinyLlama_v1_1_is_two_trillion_tokens_of_SlimPajama()
    {
        var plan = MixturePlanner.Plan([SlimPajama], TinyLlamaVariants.V11Stages);

        plan.IsFeasible.Should().BeTrue();
        plan.TotalTokens.Should().Be(2_000_000_000_000);
        plan.Stages.Select(s => s.SourceTokens[0]).Should().Equal(1500 * B, 350 * B, 150 * B);
        plan.Sources[0].Epochs.Should().BeApproximately(2000.0 / 627, 1e-12);
    }

    [Fact]
    public void TinyLlama_math_and_code_plans_the_ramp_by_hand()
    {
        var plan = MixturePlanner.Plan([SlimPajama, StarCoder, ProofPile], TinyLlamaVariants.MathAndCodeStages);

        plan.IsFeasible.Should().BeTrue();
        plan.Stages.Select(s => (s.Start, s.End)).Should().Equal(
            (0L, 1_500_000_000_000L), (1_500_000_000_000L, 1_850_000_000_000L), (1_850_000_000_000L, 2_000_000_000_000L));

        // Stage 2: a 6B ramp (StarCoder 0 → 15%: 0.45B; Proof-Pile 0 → 10%: 0.30B; SlimPajama 100% → 75%: 5.25B)
        // then 344B at 75/15/10.
        ShouldBe(plan.Stages[0].SourceTokens, 1500 * B, 0, 0);
        ShouldBe(plan.Stages[1].SourceTokens, 263.25 * B, 52.05 * B, 34.7 * B);
        ShouldBe(plan.Stages[2].SourceTokens, 112.5 * B, 22.5 * B, 15 * B);

        plan.Sources[0].PlannedTokens.Should().BeApproximately(1875.75 * B, 1e-2);
        plan.Sources[1].PlannedTokens.Should().BeApproximately(74.55 * B, 1e-2);
        plan.Sources[2].PlannedTokens.Should().BeApproximately(49.7 * B, 1e-2);
        plan.Sources[0].Epochs.Should().BeApproximately(2.9916, 1e-4);
        plan.Sources[1].Epochs.Should().BeApproximately(0.2982, 1e-4);
        plan.Sources[2].Epochs.Should().BeApproximately(5.9880, 1e-4);
    }

    [Fact]
    public void Proof_Pile_at_five_epochs_is_not_enough_for_math_and_code()
    {
        var plan = MixturePlanner.Plan([SlimPajama, StarCoder, ProofPile with { MaxEpochs = 5 }], TinyLlamaVariants.MathAndCodeStages);
        plan.IsFeasible.Should().BeFalse();
        plan.Errors.Should().ContainSingle().Which.Should().StartWith("source 'proof-pile' needs 5.988 epochs (49.7B tokens of 8.3B) but max_epochs is 5");
    }

    [Fact]
    public void TinyLlama_chinese_fails_naming_SkyPile_and_its_numbers()
    {
        var plan = MixturePlanner.Plan([SlimPajama, SkyPile], TinyLlamaVariants.ChineseStages);

        ShouldBe(plan.Stages[1].SourceTokens, 176.5 * B, 173.5 * B);
        ShouldBe(plan.Stages[2].SourceTokens, 75 * B, 75 * B);
        plan.IsFeasible.Should().BeFalse();
        plan.Errors.Should().ContainSingle().Which.Should().Be(
            "source 'skypile' needs 1.657 epochs (248.5B tokens of 150B) but max_epochs is 1: the mixture asks for 248,500,000,000 tokens and the cap allows 150,000,000,000");
        plan.Invoking(p => p.ThrowIfInfeasible()).Should().Throw<PlanException>().WithMessage("source 'skypile' needs*")
            .Which.ExitCode.Should().Be(ExitCodes.Infeasible);

        MixturePlanner.Plan([SlimPajama, SkyPile with { MaxEpochs = 2 }], TinyLlamaVariants.ChineseStages).IsFeasible.Should().BeTrue();
    }

    [Fact]
    public void Planning_from_documents_uses_their_totals()
    {
        var plan = MixturePlanner.Plan([new MixtureSource("a", [10, 20, 0, 30], 1.5)], [new MixtureStage("s", 90, [1])]);
        plan.Sources[0].Should().BeEquivalentTo(new { Tokens = 60L, Documents = 4L, CapacityTokens = 90L, PlannedTokens = 90.0, Epochs = 1.5 });
        plan.IsFeasible.Should().BeTrue();
    }

    [Theory]
    [InlineData(1000L, 1.0, 1000L)]
    [InlineData(1000L, 2.5, 2500L)]
    [InlineData(3L, 0.5, 1L)]
    [InlineData(627_000_000_000L, 3.0, 1_881_000_000_000L)]
    public void Capacity_is_tokens_times_epochs_rounded_down(long tokens, double epochs, long expected) =>
        MixturePlanner.Capacity(tokens, epochs).Should().Be(expected);

    [Fact]
    public void Malformed_sources_are_rejected_by_name()
    {
        MixtureStage[] stages = [new MixtureStage("s", 10, [1, 1])];
        FluentActions.Invoking(() => MixturePlanner.Plan([new MixtureSourceSize("a", 10), new MixtureSourceSize("a", 10)], stages))
            .Should().Throw<ArgumentException>().WithMessage("source 'a' appears twice*");
        FluentActions.Invoking(() => MixturePlanner.Plan([new MixtureSourceSize("a", 10, 0), new MixtureSourceSize("b", 10)], stages))
            .Should().Throw<ArgumentException>().WithMessage("source 'a': max_epochs must be a positive number*");
        FluentActions.Invoking(() => MixturePlanner.Plan([new MixtureSource("a", [1, -2]), new MixtureSource("b", [1])], stages))
            .Should().Throw<ArgumentException>().WithMessage("source 'a': document 1 has a negative length*");
    }

    [Fact]
    public void An_empty_source_with_a_positive_weight_is_an_error_naming_it()
    {
        var plan = MixturePlanner.Plan([new MixtureSourceSize("a", 100), new MixtureSourceSize("empty", 0)], [new MixtureStage("s", 100, [1, 1])]);
        plan.Errors.Should().ContainSingle().Which.Should().StartWith("source 'empty' is empty but the mixture asks for 50 tokens");
    }

    private static void ShouldBe(IReadOnlyList<double> actual, params double[] expected)
    {
        actual.Should().HaveCount(expected.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            actual[i].Should().BeApproximately(expected[i], 1e-2, "source {0}", i);
        }
    }
}
