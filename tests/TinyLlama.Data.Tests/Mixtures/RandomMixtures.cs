using TinyLlama.Data.Mixtures;

namespace TinyLlama.Data.Tests.Mixtures;

/// <summary>Seeded random mixtures for property tests, and the checks every schedule must pass.</summary>
internal static class RandomMixtures
{
    /// <summary>
    /// 1–4 sources with document lengths from 0 to many units long, 1–3 stages with ramps, zero weights and a source
    /// that starts at weight 0 and ramps up; caps generous enough for the plan (a few exactly tight).
    /// </summary>
    public static (MixtureSource[] Sources, MixtureStage[] Stages, int Unit) Create(int seed)
    {
        var rng = new Random(seed);
        var unit = rng.Next(4) switch { 0 => 1, 1 => 16, 2 => 64, _ => 257 };
        var n = rng.Next(1, 5);
        var stageCount = rng.Next(1, 4);
        var stages = new MixtureStage[stageCount];
        for (var k = 0; k < stageCount; k++)
        {
            var tokens = (long)rng.Next(1, 40 * Math.Min(unit, 64) * 10);
            var weights = new double[n];
            for (var i = 0; i < n; i++)
            {
                weights[i] = rng.Next(3) == 0 ? 0 : rng.NextDouble() * 10;
            }

            if (weights.Sum() == 0)
            {
                weights[rng.Next(n)] = 1;
            }

            long ramp = 0;
            double[]? from = null;
            if (rng.Next(2) == 0)
            {
                ramp = rng.Next(3) == 0 ? tokens : rng.NextInt64(1, tokens + 1);
                if (k == 0 || rng.Next(3) == 0)
                {
                    // Start weights: often "everything on one source", so the others ramp up from 0.
                    from = new double[n];
                    from[rng.Next(n)] = 1;
                }
            }

            stages[k] = new MixtureStage($"s{k}", tokens, weights, ramp, from);
        }

        var sources = new MixtureSource[n];
        for (var i = 0; i < n; i++)
        {
            var docs = new long[rng.Next(1, 60)];
            for (var d = 0; d < docs.Length; d++)
            {
                docs[d] = rng.Next(10) switch
                {
                    0 => 0,
                    1 => rng.Next(unit * 3, unit * 20 + 2), // huge: many units
                    2 => unit,
                    _ => rng.Next(1, Math.Max(2, unit * 2)),
                };
            }

            if (docs.Sum() == 0)
            {
                docs[0] = 1;
            }

            sources[i] = new MixtureSource($"src{i}", docs, 1, rng.Next(4) == 0 ? SourceOrder.Sequential : SourceOrder.Shuffled);
        }

        // Caps: what the plan needs, rounded up to whole epochs, or exactly tight (fractional) now and then.
        var plan = MixturePlanner.Plan(sources, stages);
        for (var i = 0; i < n; i++)
        {
            var needed = plan.Sources[i].Epochs;
            var cap = rng.Next(4) == 0 && needed > 0 ? (Math.Ceiling(plan.Sources[i].PlannedTokens) + 0.5) / plan.Sources[i].Tokens : Math.Max(1, Math.Ceiling(needed));
            sources[i] = sources[i] with { MaxEpochs = cap };
        }

        return (sources, stages, unit);
    }

    /// <summary>Emitted tokens per source, checked against the target at every position the cursor stops.</summary>
    public static void CheckBound(MixtureSchedule schedule, IEnumerable<ScheduledUnit> units, double bound)
    {
        var n = schedule.Sources.Count;
        var emitted = new long[n];
        long position = 0;
        foreach (var unit in units)
        {
            if (unit.Position != position || unit.Length <= 0 || unit.Length > schedule.MaxUnitTokens)
            {
                throw new Xunit.Sdk.XunitException(FormattableString.Invariant($"bad unit {unit} at {position}"));
            }

            emitted[unit.Source] += unit.Length;
            position += unit.Length;
            for (var i = 0; i < n; i++)
            {
                var gap = emitted[i] - schedule.TargetIntegral(i, position);
                if (Math.Abs(gap) > bound)
                {
                    throw new Xunit.Sdk.XunitException(FormattableString.Invariant(
                        $"source {i} at {position}: emitted {emitted[i]}, target {schedule.TargetIntegral(i, position)}, gap {gap} > {bound}"));
                }
            }
        }

        position.Should().Be(schedule.TotalTokens);
        for (var i = 0; i < n; i++)
        {
            emitted[i].Should().BeLessThanOrEqualTo(schedule.Plan.Sources[i].CapacityTokens);
        }
    }

    /// <summary>
    /// Each source's units, merged where a unit was taken in pieces, are exactly the chunks [kU, (k+1)U) of the
    /// documents in each epoch's order: every document once per epoch, in order, nothing skipped or repeated; only
    /// the source's last unit may be cut (end of the stream or of the source's cap).
    /// </summary>
    public static void CheckDocuments(MixtureSchedule schedule, IEnumerable<ScheduledUnit> units)
    {
        var n = schedule.Sources.Count;
        var actual = new List<(int Epoch, int Doc, long Start, long End)>[n];
        for (var i = 0; i < n; i++)
        {
            actual[i] = [];
        }

        foreach (var u in units)
        {
            var list = actual[u.Source];
            if (list.Count > 0 && list[^1].Epoch == u.Epoch && list[^1].Doc == u.Document && list[^1].End == u.Start
                && u.Start % schedule.MaxUnitTokens != 0)
            {
                list[^1] = (u.Epoch, u.Document, list[^1].Start, u.End);
            }
            else
            {
                list.Add((u.Epoch, u.Document, u.Start, u.End));
            }
        }

        var u2 = schedule.MaxUnitTokens;
        for (var i = 0; i < n; i++)
        {
            var docs = schedule.Sources[i].DocumentTokens;
            int epoch = 0, index = 0;
            long offset = 0;
            for (var k = 0; k < actual[i].Count; k++)
            {
                while (docs[schedule.DocumentAt(i, epoch, index)] == offset)
                {
                    offset = 0;
                    if (++index == docs.Count)
                    {
                        index = 0;
                        epoch++;
                    }
                }

                var doc = schedule.DocumentAt(i, epoch, index);
                var end = Math.Min(docs[doc], offset + u2);
                var got = actual[i][k];
                var last = k == actual[i].Count - 1;
                got.Epoch.Should().Be(epoch, "source {0} unit {1}", i, k);
                got.Doc.Should().Be(doc, "source {0} unit {1}", i, k);
                got.Start.Should().Be(offset, "source {0} unit {1}", i, k);
                if (last)
                {
                    got.End.Should().BeInRange(offset + 1, end);
                }
                else
                {
                    got.End.Should().Be(end, "source {0} unit {1}", i, k);
                }

                offset = got.End;
            }
        }
    }
}
