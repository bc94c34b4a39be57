using System.Globalization;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures;
using TinyLlama.Data.Mixtures.Spec;

namespace TinyLlama.Data.Pipeline;

/// <summary>
/// The planned mixture of a spec, from the spec alone (stages, weights, ramps): no source sizes, no manifest.
/// <see cref="Target"/>'s sources are in the spec's order (<see cref="Sources"/>).
/// </summary>
public sealed record PlannedMixture(IReadOnlyList<string> Sources, IReadOnlyList<string> StageNames, MixtureTarget Target)
{
    /// <summary>True when every stage's budget is in the spec (none is <c>tokens: all</c>).</summary>
    public bool BudgetsFromSpec { get; init; } = true;

    /// <summary>The stream length the spec plans (sum of the stage budgets).</summary>
    public long PlannedTokens => Target.TotalTokens;

    /// <summary>
    /// The spec's target. A <c>tokens: all</c> budget needs the sources' sizes, which we do not take from a
    /// manifest: a single <c>all</c> stage without a ramp has shares that do not depend on its length, so its
    /// budget is taken as <paramref name="realisedTokens"/> (what the shards hold); any other use of
    /// <c>all</c> returns null with the reason in <paramref name="note"/>.
    /// </summary>
    public static PlannedMixture? FromSpec(BuildSpec spec, long realisedTokens, out string? note)
    {
        ArgumentNullException.ThrowIfNull(spec);
        note = null;
        var names = spec.Sources.Select(s => s.Name).ToList();
        var budgetsFromSpec = spec.Stages.All(s => s.Tokens is not null);
        var stages = spec.Stages;
        if (!budgetsFromSpec)
        {
            if (spec.Stages.Count == 1 && spec.Stages[0].Ramp is null)
            {
                stages = [spec.Stages[0] with { Tokens = Math.Max(1, realisedTokens) }];
                note = string.Create(CultureInfo.InvariantCulture,
                    $"stage '{spec.Stages[0].Name}' is 'tokens: all': its shares do not depend on its length, so its budget is taken from the sidecars ({realisedTokens:N0} tokens); the total token count is not checked against the spec");
            }
            else
            {
                note = "a stage is 'tokens: all' (its budget needs the sources' sizes, which verify does not take from the manifest): proportions, stage labels and the total token count are not checked";
                return null;
            }
        }

        try
        {
            var target = MixtureTarget.Create(names.Count, ScheduledPlan.ToStages(spec with { Stages = stages }, []));
            return new PlannedMixture(names, spec.Stages.Select(s => s.Name).ToList(), target) { BudgetsFromSpec = budgetsFromSpec };
        }
        catch (ArgumentException e)
        {
            throw new SpecException(spec.SpecPath, 0, 0, e.Message, e);
        }
    }
}
