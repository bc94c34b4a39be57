using TinyLlama.Data.Mixtures;

namespace TinyLlama.Data.Tests.Mixtures;

public sealed class MixtureTargetTests
{
    [Fact]
    public void A_linear_ramp_from_zero_to_fifteen_percent_over_six_billion_tokens_integrates_to_0_45_billion()
    {
        var target = MixtureTarget.Create(3,
        [
            new MixtureStage("basic", 1_500_000_000_000, [1, 0, 0]),
            new MixtureStage("domain", 350_000_000_000, [75, 15, 10], RampTokens: 6_000_000_000),
        ]);

        var rampEnd = 1_506_000_000_000L;
        (target.Integral(1, rampEnd) - target.Integral(1, 1_500_000_000_000)).Should().BeApproximately(0.45e9, 1e-3);
        (target.Integral(2, rampEnd) - target.Integral(2, 1_500_000_000_000)).Should().BeApproximately(0.30e9, 1e-3);
        (target.Integral(0, rampEnd) - target.Integral(0, 1_500_000_000_000)).Should().BeApproximately(5.25e9, 1e-3);
        target.Share(1, 1_503_000_000_000).Should().BeApproximately(0.075, 1e-12);
        target.Share(1, rampEnd).Should().Be(0.15);
    }

    [Fact]
    public void Integrals_match_a_numeric_sum_of_the_shares_and_add_up_to_the_position()
    {
        var target = MixtureTarget.Create(3,
        [
            new MixtureStage("a", 1000, [1, 2, 0], RampTokens: 400, RampFrom: [0, 0, 1]),
            new MixtureStage("b", 700, [0, 1, 3], RampTokens: 700),
            new MixtureStage("c", 300, [5, 0, 0]),
        ]);

        var sums = new double[3];
        for (long t = 0; t < target.TotalTokens; t++)
        {
            var total = 0.0;
            for (var i = 0; i < 3; i++)
            {
                target.Integral(i, t).Should().BeApproximately(sums[i], 1e-6);
                total += target.Integral(i, t);

                // Midpoint rule is exact for piecewise-linear shares whose kinks lie on integers.
                sums[i] += (target.Share(i, t) + ShareAfter(target, i, t)) / 2;
            }

            total.Should().BeApproximately(t, 1e-9);
        }
    }

    [Fact]
    public void Fluid_time_is_the_inverse_of_the_integral()
    {
        var target = MixtureTarget.Create(2,
        [
            new MixtureStage("a", 10_000, [1, 0], RampTokens: 5_000, RampFrom: [0, 1]),
            new MixtureStage("b", 10_000, [0, 1]),
            new MixtureStage("c", 10_000, [1, 1], RampTokens: 3_000),
        ]);

        foreach (var t in new long[] { 1, 17, 4_999, 5_000, 5_001, 9_999, 10_000, 15_000, 21_234, 29_999, 30_000, 45_000 })
        {
            for (var i = 0; i < 2; i++)
            {
                var y = target.Integral(i, t);
                var back = target.FluidTime(i, y);
                target.Integral(i, (long)Math.Ceiling(back)).Should().BeGreaterThanOrEqualTo(y - 1e-6);
                if (target.Share(i, t - 1) > 0)
                {
                    back.Should().BeApproximately(t, 1e-6, "source {0} at {1}", i, t);
                }
            }
        }

        // Source 0 has share 0 in stage b: reaching its integral at the end of stage a takes no time in stage b.
        target.FluidTime(0, target.Integral(0, 10_000)).Should().BeApproximately(10_000, 1e-6);
        target.FluidTime(0, target.Integral(0, 20_000) + 1).Should().BeGreaterThan(20_000);
    }

    [Fact]
    public void A_share_that_is_zero_forever_is_never_reached()
    {
        var target = MixtureTarget.Create(2, [new MixtureStage("a", 100, [1, 0]), new MixtureStage("b", 100, [0, 1])]);
        target.FluidTime(0, 100.5).Should().Be(double.PositiveInfinity);
        target.FluidTime(1, 150).Should().Be(250);
    }

    [Fact]
    public void Stage_lookup_covers_boundaries_and_the_end()
    {
        var target = MixtureTarget.Create(1, [new MixtureStage("a", 10, [1]), new MixtureStage("b", 5, [1])]);
        target.StageAt(0).Should().Be(0);
        target.StageAt(9).Should().Be(0);
        target.StageAt(10).Should().Be(1);
        target.StageAt(15).Should().Be(1);
        target.StageStart(2).Should().Be(15);
    }

    [Theory]
    [InlineData(0L, 0L, "tokens must be positive")]
    [InlineData(10L, 11L, "ramp tokens must be between 0")]
    [InlineData(10L, 5L, "needs ramp start weights")]
    public void Malformed_stages_are_rejected_with_the_stage_named(long tokens, long ramp, string message)
    {
        var act = () => MixtureTarget.Create(2, [new MixtureStage("warmup", tokens, [1, 1], ramp)]);
        act.Should().Throw<ArgumentException>().WithMessage($"*stage 1 'warmup'*{message}*");
    }

    [Fact]
    public void Weights_must_match_the_sources_and_not_all_be_zero()
    {
        FluentActions.Invoking(() => MixtureTarget.Create(2, [new MixtureStage("s", 10, [1])]))
            .Should().Throw<ArgumentException>().WithMessage("*one value per source (2), got 1*");
        FluentActions.Invoking(() => MixtureTarget.Create(2, [new MixtureStage("s", 10, [0, 0])]))
            .Should().Throw<ArgumentException>().WithMessage("*must not all be zero*");
        FluentActions.Invoking(() => MixtureTarget.Create(2, [new MixtureStage("s", 10, [1, -1])]))
            .Should().Throw<ArgumentException>().WithMessage("*non-negative*");
        FluentActions.Invoking(() => MixtureTarget.Create(2, [new MixtureStage("s", 10, [1, 1], 0, [1, 0])]))
            .Should().Throw<ArgumentException>().WithMessage("*ramp is 0 tokens*");
    }

    private static double ShareAfter(MixtureTarget target, int source, long t)
    {
        // The share just before t + 1 (a stage boundary at t + 1 switches the share there, not before).
        var k = target.StageAt(t);
        var stageEnd = target.StageStart(k + 1);
        if (t + 1 < stageEnd)
        {
            return target.Share(source, t + 1);
        }

        // Extrapolate linearly within the segment: share(t) + (share(t) - share(t - 1)) is exact except at a kink
        // at t, where the left-derivative is the wrong one; none of the test's kinks lie at a stage's last token.
        return target.Share(source, t) + (target.Share(source, t) - target.Share(source, Math.Max(0, t - 1)));
    }
}
