using System.Text.Json;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures;

namespace TinyLlama.Data.Tests.Mixtures;

public sealed class MixtureScheduleTests
{
    // The guaranteed bound is the largest unit, plus floating-point rounding of the target (far below 1e-3 here).
    private const double Rounding = 1e-3;

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (var seed = 0; seed < 300; seed++)
        {
            data.Add(seed);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Every_prefix_stays_within_one_unit_of_the_target_and_every_document_appears_once_per_epoch_in_order(int seed)
    {
        var (sources, stages, unit) = RandomMixtures.Create(seed);
        var schedule = MixtureSchedule.Create(sources, stages, (ulong)seed * 31, unit);
        var units = schedule.Units().ToList();

        RandomMixtures.CheckBound(schedule, units, unit + Rounding);
        RandomMixtures.CheckDocuments(schedule, units);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Taking_units_in_pieces_stops_anywhere_and_keeps_the_bound_and_the_stream(int seed)
    {
        var (sources, stages, unit) = RandomMixtures.Create(seed);
        var schedule = MixtureSchedule.Create(sources, stages, 5, unit);
        var rng = new Random(seed);
        var cursor = schedule.OpenCursor();
        var pieces = new List<ScheduledUnit>();
        while (cursor.TryNext(rng.Next(1, unit + 3), out var piece))
        {
            pieces.Add(piece);
        }

        RandomMixtures.CheckBound(schedule, pieces, unit + Rounding);
        RandomMixtures.CheckDocuments(schedule, pieces);
        Flatten(pieces).Should().Equal(Flatten(schedule.Units()));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(11)]
    [InlineData(42)]
    [InlineData(77)]
    public void A_cursor_resumed_from_a_saved_state_continues_the_same_stream(int seed)
    {
        var (sources, stages, unit) = RandomMixtures.Create(seed);
        var schedule = MixtureSchedule.Create(sources, stages, 9, unit);
        var full = Flatten(schedule.Units());
        var rng = new Random(seed);
        foreach (var at in new[] { 0, schedule.TotalTokens, rng.NextInt64(schedule.TotalTokens + 1), rng.NextInt64(schedule.TotalTokens + 1) })
        {
            var state = schedule.StateAt(at);
            state.Position.Should().Be(at);
            var json = JsonSerializer.Serialize(state);
            var restored = JsonSerializer.Deserialize<SchedulerState>(json)!;
            restored.Should().BeEquivalentTo(state);

            var cursor = schedule.OpenCursor(restored);
            var rest = new List<ScheduledUnit>();
            while (cursor.TryNext(out var u))
            {
                rest.Add(u);
            }

            Flatten(rest).Should().Equal(full.Skip((int)at), "resuming at {0}", at);
        }
    }

    [Fact]
    public void The_same_seed_gives_the_same_stream_and_another_seed_another_order_within_the_same_bound()
    {
        var sources = new[]
        {
            new MixtureSource("a", Lengths(500, 1, 300, 1), 2),
            new MixtureSource("b", Lengths(400, 1, 900, 2), 2),
        };
        MixtureStage[] stages = [new MixtureStage("only", 100_000, [3, 1])];

        var one = MixtureSchedule.Create(sources, stages, 1, 128).Units().ToList();
        MixtureSchedule.Create(sources, stages, 1, 128).Units().ToList().Should().Equal(one);

        var other = MixtureSchedule.Create(sources, stages, 2, 128);
        var two = other.Units().ToList();
        two.Select(u => (u.Source, u.Document)).Should().NotEqual(one.Select(u => (u.Source, u.Document)));
        RandomMixtures.CheckBound(other, two, 128 + Rounding);
    }

    [Fact]
    public void An_exhausted_source_starts_a_new_epoch_in_a_new_order()
    {
        var source = new MixtureSource("small", Lengths(200, 1, 50, 3), 3);
        var schedule = MixtureSchedule.Create([source], [new MixtureStage("s", source.DocumentTokens.Sum() * 3, [1])], 17, 64);
        var firstUnits = schedule.Units().Where(u => u.Start == 0).ToList();

        firstUnits.Select(u => u.Epoch).Should().BeInAscendingOrder();
        for (var epoch = 0; epoch < 3; epoch++)
        {
            var docs = firstUnits.Where(u => u.Epoch == epoch).Select(u => u.Document).ToList();
            docs.Should().BeEquivalentTo(Enumerable.Range(0, 200), "epoch {0} has every document once", epoch);
        }

        var orders = Enumerable.Range(0, 3).Select(e => firstUnits.Where(u => u.Epoch == e).Select(u => u.Document).ToList()).ToList();
        orders[1].Should().NotEqual(orders[0]);
        orders[2].Should().NotEqual(orders[1]);
    }

    [Fact]
    public void A_sequential_source_keeps_document_order_in_every_epoch()
    {
        var source = new MixtureSource("seq", Lengths(30, 1, 500, 4), 2, SourceOrder.Sequential);
        var schedule = MixtureSchedule.Create([source], [new MixtureStage("s", source.DocumentTokens.Sum() * 2, [1])], 17, 100);
        var starts = schedule.Units().Where(u => u.Start == 0).Select(u => u.Document).ToList();
        starts.Should().Equal(Enumerable.Range(0, 30).Concat(Enumerable.Range(0, 30)));
    }

    [Fact]
    public void Cursors_carry_across_stages()
    {
        var a = new MixtureSource("a", Lengths(100, 50, 400, 5), 1);
        var b = new MixtureSource("b", Lengths(100, 50, 400, 6), 1);
        MixtureStage[] stages =
        [
            new MixtureStage("one", 5_000, [1, 0]),
            new MixtureStage("two", 8_000, [1, 1], RampTokens: 2_000),
        ];
        var schedule = MixtureSchedule.Create([a, b], stages, 3, 64);
        var units = schedule.Units().ToList();

        var lastInOne = units.Last(u => u.Source == 0 && u.Stage == 0);
        var firstInTwo = units.First(u => u.Source == 0 && u.Position >= 5_000);
        lastInOne.Position.Should().BeLessThan(5_000);
        if (lastInOne.End < a.DocumentTokens[lastInOne.Document])
        {
            firstInTwo.Document.Should().Be(lastInOne.Document, "stage two continues the document stage one stopped in");
            firstInTwo.Start.Should().Be(lastInOne.End);
        }
        else
        {
            firstInTwo.Document.Should().Be(schedule.DocumentAt(0, 0, units.Where(u => u.Source == 0 && u.Start == 0).ToList().IndexOf(firstInTwo)));
            firstInTwo.Start.Should().Be(0);
        }

        units.Where(u => u.Stage == 0).Should().OnlyContain(u => u.Source == 0);
        RandomMixtures.CheckDocuments(schedule, units);
    }

    [Fact]
    public void A_unit_may_run_across_a_stage_boundary_and_the_total_is_exact()
    {
        var a = new MixtureSource("a", [1000], 1);
        var schedule = MixtureSchedule.Create([a], [new MixtureStage("one", 100, [1]), new MixtureStage("two", 150, [1])], 3, 64);
        var units = schedule.Units().ToList();
        units.Sum(u => u.Length).Should().Be(250);
        units.Should().Contain(u => u.Position == 64 && u.End == 128 && u.Stage == 0, "the unit [64, 128) starts in stage one and ends in two");
        units[^1].End.Should().Be(250, "the last unit is cut at the budget");
        units[^1].Stage.Should().Be(1);
    }

    [Fact]
    public void A_source_with_zero_weight_never_appears_and_one_that_ramps_up_from_zero_starts_slowly()
    {
        var sources = new[]
        {
            new MixtureSource("main", Lengths(300, 1, 200, 7), 2),
            new MixtureSource("never", Lengths(10, 1, 200, 8), 1),
            new MixtureSource("late", Lengths(300, 1, 200, 9), 2),
        };
        MixtureStage[] stages = [new MixtureStage("ramp", 40_000, [1, 0, 1], RampTokens: 20_000, RampFrom: [1, 0, 0])];
        var schedule = MixtureSchedule.Create(sources, stages, 4, 32);
        var units = schedule.Units().ToList();

        units.Should().NotContain(u => u.Source == 1);
        var lateEarly = units.Where(u => u.Source == 2 && u.Position < 2_000).Sum(u => u.Length);
        lateEarly.Should().BeLessThanOrEqualTo((long)Math.Ceiling(schedule.TargetIntegral(2, 2_000)) + 32);
        RandomMixtures.CheckBound(schedule, units, 32 + Rounding);
    }

    [Fact]
    public void Subsets_of_a_source_appear_in_every_tenth_of_the_stream_in_proportion()
    {
        // Ten 'languages' of 1000 documents each, laid out in blocks (as StarCoder's directories are).
        var rng = new Random(11);
        var lengths = new long[10_000];
        for (var d = 0; d < lengths.Length; d++)
        {
            lengths[d] = rng.Next(50, 150);
        }

        var code = new MixtureSource("code", lengths, 1);
        var web = new MixtureSource("web", Lengths(5_000, 50, 150, 12), 1);
        var total = lengths.Sum();
        var schedule = MixtureSchedule.Create([code, web], [new MixtureStage("s", total * 3 / 2, [2, 1])], 99, 64);

        var codeUnits = schedule.Units().Where(u => u.Source == 0).ToList();
        var codeTokens = codeUnits.Sum(u => u.Length);
        var perTenth = new double[10, 10];
        long seen = 0;
        foreach (var u in codeUnits)
        {
            var tenth = (int)Math.Min(9, seen * 10 / codeTokens);
            perTenth[tenth, u.Document / 1000] += u.Length;
            seen += u.Length;
        }

        for (var tenth = 0; tenth < 10; tenth++)
        {
            var sum = Enumerable.Range(0, 10).Sum(l => perTenth[tenth, l]);
            for (var language = 0; language < 10; language++)
            {
                // Each tenth holds ~1000 documents; a language's share is 10% ± 4 points (about 4 standard deviations).
                (perTenth[tenth, language] / sum).Should().BeApproximately(0.1, 0.04, "language {0} in tenth {1}", language, tenth);
            }
        }
    }

    [Fact]
    public void A_plan_that_needs_more_than_a_cap_fails_before_any_scheduling_naming_the_source()
    {
        var a = new MixtureSource("web", [1000, 1000], 2);
        var b = new MixtureSource("books", [100, 100], 1.5);
        var act = () => MixtureSchedule.Create([a, b], [new MixtureStage("s", 2_000, [1, 1])], 1, 64);
        act.Should().Throw<PlanException>()
            .WithMessage("source 'books' needs 5 epochs (1000 tokens of 200) but max_epochs is 1.5*asks for 1,000 tokens and the cap allows 300*");
    }

    [Fact]
    public void A_budget_of_everything_available_runs_each_source_to_its_cap_and_keeps_the_bound()
    {
        var sources = new[]
        {
            new MixtureSource("a", Lengths(120, 1, 700, 13), 1.5),
            new MixtureSource("b", Lengths(80, 1, 700, 14), 1),
        };
        var sizes = MixturePlanner.Plan(sources, [new MixtureStage("probe", 1, [1, 1])]).Sources
            .Select(s => new MixtureSourceSize(s.Name, s.Tokens, s.MaxEpochs)).ToList();
        var capacities = sizes.Select(s => (double)MixturePlanner.Capacity(s.Tokens, s.MaxEpochs)).ToList();
        var budget = MixturePlanner.AvailableBudget(sizes, capacities);
        budget.Should().Be((long)capacities.Sum());

        var schedule = MixtureSchedule.Create(sources, [new MixtureStage("all", budget, capacities)], 8, 128);
        var units = schedule.Units().ToList();
        RandomMixtures.CheckBound(schedule, units, 128 + Rounding);
        RandomMixtures.CheckDocuments(schedule, units);
        units.Where(u => u.Source == 0).Sum(u => u.Length).Should().Be((long)capacities[0]);
        units.Where(u => u.Source == 0).Max(u => u.Epoch).Should().Be(1, "half of a second epoch");
    }

    [Fact]
    public void A_single_source_budget_is_its_tokens_times_its_epochs()
    {
        MixturePlanner.AvailableBudget([new MixtureSourceSize("slimpajama", 627_000_000_000, 2)], [1]).Should().Be(1_254_000_000_000);
        MixturePlanner.AvailableBudget([new MixtureSourceSize("a", 1000, 1), new MixtureSourceSize("b", 10, 1)], [1, 1]).Should().Be(20);
    }

    [Fact]
    public void The_bound_holds_at_two_trillion_tokens()
    {
        // The Math&Code variant at full scale, with documents of up to 4M tokens cut into 1M-token units (so the
        // stream is two million units): the target's rounding at 2e12 stays far below the tolerance.
        var rng = new Random(5);
        MixtureSource Synthetic(string name, double tokens, double epochs)
        {
            var docs = new List<long>();
            long sum = 0;
            while (sum < tokens)
            {
                var length = rng.NextInt64(1, 4_000_000);
                docs.Add(length);
                sum += length;
            }

            return new MixtureSource(name, docs, epochs);
        }

        var sources = new[] { Synthetic("slimpajama", 627e9, 3), Synthetic("starcoder", 250e9, 1), Synthetic("proof-pile", 8.3e9, 7) };
        var schedule = MixtureSchedule.Create(sources, TinyLlamaVariants.MathAndCodeStages, 2024, 1_000_000);
        RandomMixtures.CheckBound(schedule, schedule.Units(), 1_000_000 + 0.01);
    }

    private static long[] Lengths(int count, int min, int max, int seed)
    {
        var rng = new Random(seed);
        var lengths = new long[count];
        for (var i = 0; i < count; i++)
        {
            lengths[i] = rng.Next(min, max + 1);
        }

        return lengths;
    }

    // Token-level identity of a stream: (source, epoch, document, token) per token, compressed to runs.
    private static List<(int Source, int Epoch, int Document, long Token)> Flatten(IEnumerable<ScheduledUnit> units)
    {
        var list = new List<(int, int, int, long)>();
        foreach (var u in units)
        {
            for (var t = u.Start; t < u.End; t++)
            {
                list.Add((u.Source, u.Epoch, u.Document, t));
            }
        }

        return list;
    }
}
