using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Mixtures;

/// <summary>
/// What a mixture asks of one source: <see cref="PlannedTokens"/> is the exact integral of its target share over
/// the whole stream (fractional; the scheduler emits within one unit of it at every prefix and never more than
/// <see cref="CapacityTokens"/>), <see cref="Epochs"/> = planned / <see cref="Tokens"/>.
/// </summary>
public sealed record SourcePlan(
    string Name,
    long Tokens,
    long Documents,
    double MaxEpochs,
    long CapacityTokens,
    double PlannedTokens,
    double Epochs)
{
    /// <summary>Slack for floating-point rounding of the target's integral (well above it for streams up to 1e13 tokens).</summary>
    public const double RoundingTolerance = 0.01;

    /// <summary>
    /// True when the planned tokens fit within the source's cap (up to <see cref="RoundingTolerance"/>: weights
    /// proportional to the capacities must fit exactly).
    /// </summary>
    public bool Feasible => Fits(PlannedTokens, CapacityTokens);

    internal static bool Fits(double planned, long capacity) => planned <= capacity + RoundingTolerance;
}

/// <summary>One stage of the plan: its token range <c>[Start, End)</c> and the planned tokens of each source in it.</summary>
public sealed record StagePlan(string Name, long Start, long End, IReadOnlyList<double> SourceTokens)
{
    /// <summary>Tokens in the stage.</summary>
    public long Tokens => End - Start;
}

/// <summary>
/// A mixture's plan: per source and per stage, how many tokens the target asks for, and one error line for each
/// source whose cap is exceeded (naming the source and the numbers). Computed in closed form, without document
/// lengths: planning a 2T-token mixture takes microseconds.
/// </summary>
public sealed record MixturePlan(
    long TotalTokens,
    IReadOnlyList<SourcePlan> Sources,
    IReadOnlyList<StagePlan> Stages,
    IReadOnlyList<string> Errors)
{
    /// <summary>True when every source fits within its cap.</summary>
    public bool IsFeasible => Errors.Count == 0;

    /// <summary>Throws a <see cref="PlanException"/> listing every error, when there is one.</summary>
    public void ThrowIfInfeasible()
    {
        if (!IsFeasible)
        {
            throw new PlanException(string.Join("; ", Errors));
        }
    }
}
