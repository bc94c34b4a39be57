using System.Globalization;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;

namespace TinyLlama.Data.Shards;

/// <summary>What one shard's spans hold, as the verifier counted them (sources in the sidecar's order).</summary>
internal sealed record ShardTally(string Shard, IReadOnlyList<string> Sources, IReadOnlyList<long> BySource, long Pad);

/// <summary>
/// The stage every span must carry: the stage of its first token's position per the spec's cumulative budgets,
/// or, for a piece of a scheduling unit that started before a stage boundary, the stage where that unit started
/// (units are cut at multiples of <c>max_unit_tokens</c> of the framed document, so a unit's start is known).
/// </summary>
internal sealed class StageRule
{
    private readonly long[] _starts;
    private readonly IReadOnlyList<string> _names;
    private readonly long _unit;

    private StageRule(long[] starts, IReadOnlyList<string> names, long unit)
    {
        _starts = starts;
        _names = names;
        _unit = unit;
    }

    /// <summary>Null when a stage's budget is <c>tokens: all</c> and there is more than one stage (the boundaries need source sizes).</summary>
    public static StageRule? For(BuildSpec spec)
    {
        var names = spec.Stages.Select(s => s.Name).ToList();
        if (spec.Stages.Count == 1 && spec.Stages[0].Tokens is null)
        {
            return new StageRule([0, long.MaxValue], names, spec.MaxUnitTokens);
        }

        if (spec.Stages.Any(s => s.Tokens is null))
        {
            return null;
        }

        var starts = new long[spec.Stages.Count + 1];
        for (var k = 0; k < spec.Stages.Count; k++)
        {
            starts[k + 1] = starts[k] + spec.Stages[k].Tokens!.Value;
        }

        return new StageRule(starts, names, spec.MaxUnitTokens);
    }

    public int StageAt(long position)
    {
        var k = Array.BinarySearch(_starts, 0, _starts.Length - 1, position);
        return k >= 0 ? k : Math.Max(0, ~k - 1);
    }

    public void Check(string shard, long position, long offset, long length, long framedStart, long stage, string source, Action<string, long, string> add)
    {
        var count = _starts.Length - 1;
        if (stage < 0 || stage >= count)
        {
            add(shard, offset, string.Create(CultureInfo.InvariantCulture, $"span of {source} is labelled stage {stage}; the spec has {count} stage(s)"));
            return;
        }

        var at = StageAt(position);
        var unitStart = position - (framedStart % _unit);
        var started = StageAt(Math.Max(0, unitStart));
        var stageEnd = _starts[stage + 1];
        if (stage != at && stage != started)
        {
            add(shard, offset, string.Create(CultureInfo.InvariantCulture,
                $"span of {source} at stream position {position:N0} is labelled stage '{_names[(int)stage]}', but that position is in stage '{_names[at]}' (tokens {_starts[at]:N0}..{_starts[at + 1]:N0} of the spec's stages) and its scheduling unit started there too"));
        }
        else if (stageEnd != long.MaxValue && position + length > stageEnd + _unit)
        {
            add(shard, offset, string.Create(CultureInfo.InvariantCulture,
                $"span of {source} labelled stage '{_names[(int)stage]}' runs to stream position {position + length:N0}, more than one scheduling unit ({_unit:N0} tokens) past the stage's end at {stageEnd:N0}"));
        }
    }
}

/// <summary>
/// The checks that need the spec's mixture: realised against planned proportions at every shard boundary and
/// the total token count (the trainer's constraints are <see cref="TrainerConstraints"/>). Planned numbers come from the spec alone
/// (<see cref="PlannedMixture"/>); realised numbers from the sidecar spans the verifier already checked.
/// </summary>
internal static class MixtureChecks
{
    public static void Run(BuildSpec spec, VerifyExpectations expect, OutputLayout layout, long count, ShardTally?[] tallies, Action<string, long, string> add, List<string> notes)
    {
        var chunk = expect.ChunkSize;
        var n = spec.Sources.Count;

        // The prefix of shards whose spans were read; realised counts in the spec's source order.
        var realised = new List<long[]>();
        foreach (var tally in tallies)
        {
            if (tally is null)
            {
                break;
            }

            var counts = new long[n];
            for (var j = 0; j < tally.Sources.Count; j++)
            {
                var i = spec.SourceIndex(tally.Sources[j]);
                if (i < 0)
                {
                    add(tally.Shard, -1, $"sidecar lists source '{tally.Sources[j]}', which the spec does not have");
                    return;
                }

                counts[i] = tally.BySource[j];
            }

            realised.Add(counts);
        }

        var complete = realised.Count == tallies.Length;
        if (!complete)
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"proportions checked only up to {layout.ShardName(realised.Count)}, which could not be read; the total token count is not checked"));
        }

        long nonPad = 0, pad = 0;
        for (var k = 0; k < realised.Count; k++)
        {
            nonPad += realised[k].Sum();
            pad += tallies[k]!.Pad;
        }

        var planned = PlannedMixture.FromSpec(spec, nonPad, out var note);
        if (note is not null)
        {
            notes.Add(note);
        }

        if (planned is null)
        {
            return;
        }

        CheckProportions(spec, planned, layout, chunk, realised, tallies, add);
        if (complete && planned.BudgetsFromSpec)
        {
            CheckTotal(spec, planned.PlannedTokens, layout, chunk, count, nonPad, pad, add);
        }
    }

    private static void CheckProportions(BuildSpec spec, PlannedMixture planned, OutputLayout layout, long chunk, List<long[]> realised, ShardTally?[] tallies, Action<string, long, string> add)
    {
        var n = spec.Sources.Count;
        var unit = spec.MaxUnitTokens;
        var cumulative = new long[n];
        var first = new (int Shard, long Position, long Emitted, double Planned)?[n];
        var outCount = new int[n];
        var worst = new (double Off, int Shard)[n];
        long position = 0;
        for (var k = 0; k < realised.Count; k++)
        {
            position += chunk - tallies[k]!.Pad;
            for (var i = 0; i < n; i++)
            {
                cumulative[i] += realised[k][i];
                var f = planned.Target.Integral(i, position);
                var off = cumulative[i] - f;
                var bound = unit + 0.01 + (position * 1e-12);
                if (Math.Abs(off) <= bound)
                {
                    continue;
                }

                first[i] ??= (k, position, cumulative[i], f);
                outCount[i]++;
                if (Math.Abs(off) > Math.Abs(worst[i].Off))
                {
                    worst[i] = (off, k);
                }
            }
        }

        for (var i = 0; i < n; i++)
        {
            if (first[i] is not { } f)
            {
                continue;
            }

            var more = outCount[i] > 1
                ? string.Create(CultureInfo.InvariantCulture,
                    $"; out of bound at {outCount[i]} shard boundaries in all, worst {worst[i].Off:+#,0.0;-#,0.0} tokens after {layout.ShardName(worst[i].Shard)}")
                : "";
            add(layout.ShardName(f.Shard), chunk - 1, string.Create(CultureInfo.InvariantCulture,
                $"after this shard (stream position {f.Position:N0}) source '{spec.Sources[i].Name}' has {f.Emitted:N0} tokens; the spec plans {f.Planned:N1}, off by {f.Emitted - f.Planned:+#,0.0;-#,0.0}, more than one scheduling unit (max_unit_tokens {unit:N0}) allows{more}"));
        }
    }

    private static void CheckTotal(BuildSpec spec, long plannedTokens, OutputLayout layout, long chunk, long count, long nonPad, long pad, Action<string, long, string> add)
    {
        var drop = spec.Output.Tail == TailPolicy.Drop;
        var expectedShards = spec.Output.ShardCount(plannedTokens);
        var tail = spec.Output.TailTokens(plannedTokens);
        var last = layout.ShardName(count - 1);
        var policy = string.Create(CultureInfo.InvariantCulture,
            $"the spec's stages add up to {plannedTokens:N0} tokens: {expectedShards:N0} shards of {chunk:N0} with tail: {(drop ? "drop" : "pad")} ({tail:N0} tokens {(drop ? "dropped" : "padded")})");
        if (count != expectedShards)
        {
            add(last, -1, string.Create(CultureInfo.InvariantCulture,
                $"{policy}, but the folder holds {count:N0} shards{(count < expectedShards ? " (shards missing at the end?)" : "")}"));
        }
        else if (nonPad != plannedTokens - (drop ? tail : 0) || pad != (drop ? 0 : tail))
        {
            add(last, -1, string.Create(CultureInfo.InvariantCulture,
                $"{policy}, but the shards hold {nonPad:N0} document tokens and {pad:N0} padding"));
        }
    }
}
