using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures.Spec;

namespace TinyLlama.Data.Pipeline;

/// <summary>Chooses how the stream is scheduled from the spec.</summary>
public static class PlanFactory
{
    public static IUnitPlan Create(BuildSpec spec, IReadOnlyList<PlannedSource> sources)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Stages.Count == 1 && spec.Sources.All(s => s.Order == DocumentOrder.Sequential))
        {
            var weighted = spec.Stages[0].Weights.Count(w => w.Value > 0);
            if (weighted == spec.Sources.Count && spec.Sources.Count == 1)
            {
                return new SequentialPlan(sources, spec.Stages[0].Tokens);
            }
        }

        throw new PlanException("mixtures of several sources, shuffled order and staged schedules need the scheduler, which this build does not have yet");
    }
}
