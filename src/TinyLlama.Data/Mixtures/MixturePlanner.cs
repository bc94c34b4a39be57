using System.Globalization;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Mixtures;

/// <summary>
/// Plans a mixture from source sizes alone (declared before tokenizing, or totalled from a token cache's index):
/// tokens per source per stage as exact integrals of the target, epochs needed against each source's cap, and a
/// readable error for each source that would run out.
/// </summary>
public static class MixturePlanner
{
    /// <summary>Plans from declared sizes. Throws <see cref="ArgumentException"/> for a malformed spec.</summary>
    public static MixturePlan Plan(IReadOnlyList<MixtureSourceSize> sources, IReadOnlyList<MixtureStage> stages)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ValidateSizes(sources);
        var target = MixtureTarget.Create(sources.Count, stages);
        return Plan(sources, stages, target);
    }

    /// <summary>Plans from sources with document lengths (their totals are what count).</summary>
    public static MixturePlan Plan(IReadOnlyList<MixtureSource> sources, IReadOnlyList<MixtureStage> stages)
    {
        ArgumentNullException.ThrowIfNull(sources);
        return Plan(Sizes(sources), stages);
    }

    /// <summary>
    /// The token capacity of a source: <c>floor(tokens × maxEpochs)</c>, computed without losing whole epochs to
    /// rounding.
    /// </summary>
    public static long Capacity(long tokens, double maxEpochs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        if (!double.IsFinite(maxEpochs) || maxEpochs <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxEpochs), maxEpochs, "max_epochs must be a positive number.");
        }

        var whole = Math.Floor(maxEpochs);
        var fraction = maxEpochs - whole;
        return checked((tokens * (long)whole) + (long)Math.Floor(tokens * fraction));
    }

    /// <summary>
    /// The budget of a single stage with fixed <paramref name="weights"/> that runs until the first source
    /// reaches its cap ("all"): the largest B with weight_i · B ≤ capacity_i for every source. With one source it
    /// is that source's tokens × max_epochs; with weights proportional to the capacities it is their sum.
    /// </summary>
    public static long AvailableBudget(IReadOnlyList<MixtureSourceSize> sources, IReadOnlyList<double> weights)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(weights);
        ValidateSizes(sources);

        // Normalise through the target so that the check below uses exactly the scheduler's arithmetic.
        var probe = MixtureTarget.Create(sources.Count, [new MixtureStage("all", 1, weights)]);
        var budget = long.MaxValue;
        for (var i = 0; i < sources.Count; i++)
        {
            var share = probe.Share(i, 0);
            if (share > 0)
            {
                var capacity = Capacity(sources[i].Tokens, sources[i].MaxEpochs);
                budget = Math.Min(budget, (long)Math.Min(Math.Floor(capacity / share), long.MaxValue / 2));
            }
        }

        while (budget > 0)
        {
            var target = MixtureTarget.Create(sources.Count, [new MixtureStage("all", budget, weights)]);
            var fits = true;
            for (var i = 0; i < sources.Count && fits; i++)
            {
                fits = SourcePlan.Fits(target.Integral(i, budget), Capacity(sources[i].Tokens, sources[i].MaxEpochs));
            }

            if (fits)
            {
                return budget;
            }

            budget--;
        }

        throw new PlanException("the sources with a positive weight are empty: there are no tokens to schedule.");
    }

    internal static MixturePlanCore PlanCore(IReadOnlyList<MixtureSource> sources, IReadOnlyList<MixtureStage> stages)
    {
        var sizes = Sizes(sources);
        ValidateSizes(sizes);
        var target = MixtureTarget.Create(sources.Count, stages);
        return new MixturePlanCore(target, Plan(sizes, stages, target));
    }

    private static MixturePlan Plan(IReadOnlyList<MixtureSourceSize> sources, IReadOnlyList<MixtureStage> stages, MixtureTarget target)
    {
        var n = sources.Count;
        var stagePlans = new StagePlan[stages.Count];
        for (var k = 0; k < stages.Count; k++)
        {
            var start = target.StageStart(k);
            var end = target.StageStart(k + 1);
            var tokens = new double[n];
            for (var i = 0; i < n; i++)
            {
                tokens[i] = target.Integral(i, end) - target.Integral(i, start);
            }

            stagePlans[k] = new StagePlan(stages[k].Name, start, end, tokens);
        }

        var sourcePlans = new SourcePlan[n];
        var errors = new List<string>();
        for (var i = 0; i < n; i++)
        {
            var size = sources[i];
            var planned = target.Integral(i, target.TotalTokens);
            var capacity = Capacity(size.Tokens, size.MaxEpochs);
            var epochs = size.Tokens > 0 ? planned / size.Tokens : (planned > 0 ? double.PositiveInfinity : 0);
            var plan = new SourcePlan(size.Name, size.Tokens, size.Documents, size.MaxEpochs, capacity, planned, epochs);
            sourcePlans[i] = plan;
            if (!plan.Feasible)
            {
                errors.Add(size.Tokens == 0
                    ? string.Create(CultureInfo.InvariantCulture,
                        $"source '{size.Name}' is empty but the mixture asks for {Human(planned)} tokens ({Math.Ceiling(planned):N0}) of it")
                    : string.Create(CultureInfo.InvariantCulture,
                        $"source '{size.Name}' needs {epochs:0.###} epochs ({Human(planned)} tokens of {Human(size.Tokens)}) but max_epochs is {size.MaxEpochs:0.####}: the mixture asks for {Math.Ceiling(planned):N0} tokens and the cap allows {capacity:N0}"));
            }
        }

        return new MixturePlan(target.TotalTokens, sourcePlans, stagePlans, errors);
    }

    private static MixtureSourceSize[] Sizes(IReadOnlyList<MixtureSource> sources)
    {
        var sizes = new MixtureSourceSize[sources.Count];
        for (var i = 0; i < sources.Count; i++)
        {
            var source = sources[i] ?? throw new ArgumentException(FormattableString.Invariant($"source {i + 1} is null."), nameof(sources));
            if (source.DocumentTokens is null)
            {
                throw new ArgumentException($"source '{source.Name}': document lengths are missing.", nameof(sources));
            }

            // One pass in order through the enumerator: a list backed by a file can stream it.
            long total = 0;
            var d = -1;
            foreach (var length in source.DocumentTokens)
            {
                d++;
                if (length < 0)
                {
                    throw new ArgumentException(FormattableString.Invariant(
                        $"source '{source.Name}': document {d} has a negative length ({length})."), nameof(sources));
                }

                total = checked(total + length);
            }

            sizes[i] = new MixtureSourceSize(source.Name, total, source.MaxEpochs, source.DocumentTokens.Count);
        }

        return sizes;
    }

    private static void ValidateSizes(IReadOnlyList<MixtureSourceSize> sources)
    {
        if (sources.Count == 0)
        {
            throw new ArgumentException("A mixture needs at least one source.", nameof(sources));
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < sources.Count; i++)
        {
            var source = sources[i] ?? throw new ArgumentException(FormattableString.Invariant($"source {i + 1} is null."), nameof(sources));
            if (string.IsNullOrEmpty(source.Name))
            {
                throw new ArgumentException(FormattableString.Invariant($"source {i + 1} has no name."), nameof(sources));
            }

            if (!names.Add(source.Name))
            {
                throw new ArgumentException($"source '{source.Name}' appears twice.", nameof(sources));
            }

            if (source.Tokens < 0)
            {
                throw new ArgumentException(FormattableString.Invariant($"source '{source.Name}': tokens must not be negative (got {source.Tokens})."), nameof(sources));
            }

            if (!double.IsFinite(source.MaxEpochs) || source.MaxEpochs <= 0)
            {
                throw new ArgumentException(FormattableString.Invariant($"source '{source.Name}': max_epochs must be a positive number (got {source.MaxEpochs})."), nameof(sources));
            }
        }
    }

    /// <summary>Token counts for people: 248.5B, 6M, 812.</summary>
    internal static string Human(double tokens) => tokens switch
    {
        >= 1e12 => string.Create(CultureInfo.InvariantCulture, $"{tokens / 1e12:0.###}T"),
        >= 1e9 => string.Create(CultureInfo.InvariantCulture, $"{tokens / 1e9:0.###}B"),
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{tokens / 1e6:0.###}M"),
        >= 1e4 => string.Create(CultureInfo.InvariantCulture, $"{tokens / 1e3:0.###}K"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{tokens:0.##}"),
    };
}

/// <summary>A plan together with the target it was computed from (so the scheduler does not build it twice).</summary>
internal sealed record MixturePlanCore(MixtureTarget Target, MixturePlan Plan);
