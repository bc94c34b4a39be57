namespace TinyLlama.Data.Mixtures;

/// <summary>
/// The deterministic token stream of a mixture: which tokens of which document of which source come at every
/// position, for a given seed. Pure: no I/O; the same inputs always give the same stream. See docs/scheduler.md.
/// </summary>
/// <remarks>
/// <para>
/// Documents are cut into units of at most <see cref="MaxUnitTokens"/> tokens (a document of n tokens gives
/// ceil(n / U) units, <c>[0, U), [U, 2U), …</c>); units are scheduled one at a time, so the units of a long
/// document stay in order and are never separated by another document of the same source, but units of other
/// sources may come between them.
/// </para>
/// <para>
/// At each unit boundary T the scheduler picks, among the sources whose target integral has reached what they
/// have emitted (F_i(T) ≥ e_i: "eligible"), the one whose next unit the target would finish first (smallest
/// F_i⁻¹(e_i + ℓ_i)); ties go to the lower source index. This keeps, at every token position t of the stream and
/// for every source, <c>|e_i(t) - F_i(t)| ≤ U</c> (plus floating-point rounding of F, below 0.01 token).
/// </para>
/// </remarks>
public sealed class MixtureSchedule
{
    /// <summary>The default bound on a scheduling unit.</summary>
    public const int DefaultMaxUnitTokens = 8192;

    private MixtureSchedule(
        IReadOnlyList<MixtureSource> sources,
        IReadOnlyList<MixtureStage> stages,
        ulong seed,
        int maxUnitTokens,
        MixturePlanCore core)
    {
        Sources = sources;
        Stages = stages;
        Seed = seed;
        MaxUnitTokens = maxUnitTokens;
        Target = core.Target;
        Plan = core.Plan;
        Capacities = new long[sources.Count];
        for (var i = 0; i < sources.Count; i++)
        {
            Capacities[i] = core.Plan.Sources[i].CapacityTokens;
        }
    }

    public IReadOnlyList<MixtureSource> Sources { get; }

    public IReadOnlyList<MixtureStage> Stages { get; }

    public ulong Seed { get; }

    public int MaxUnitTokens { get; }

    /// <summary>The target shares and their integrals.</summary>
    public MixtureTarget Target { get; }

    /// <summary>The (feasible) plan the schedule carries out.</summary>
    public MixturePlan Plan { get; }

    /// <summary>Length of the stream: the sum of the stages' tokens.</summary>
    public long TotalTokens => Target.TotalTokens;

    internal long[] Capacities { get; }

    /// <summary>
    /// Validates the inputs (<see cref="ArgumentException"/> for a malformed mixture) and plans it; throws
    /// <see cref="Errors.PlanException"/> naming each source whose cap the mixture would exceed. Cost: one pass over
    /// the document lengths.
    /// </summary>
    public static MixtureSchedule Create(
        IReadOnlyList<MixtureSource> sources,
        IReadOnlyList<MixtureStage> stages,
        ulong seed,
        int maxUnitTokens = DefaultMaxUnitTokens)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(stages);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxUnitTokens, 1);
        var core = MixturePlanner.PlanCore(sources, stages);
        core.Plan.ThrowIfInfeasible();
        return new MixtureSchedule(sources, stages, seed, maxUnitTokens, core);
    }

    /// <summary>The whole stream, in order. Allocates nothing per unit.</summary>
    public IEnumerable<ScheduledUnit> Units()
    {
        var cursor = OpenCursor();
        while (cursor.TryNext(out var unit))
        {
            yield return unit;
        }
    }

    /// <summary>A cursor at the start of the stream, or at <paramref name="state"/> (from this schedule).</summary>
    public MixtureCursor OpenCursor(SchedulerState? state = null) => new(this, state);

    /// <summary>
    /// The state after the first <paramref name="position"/> tokens, by replaying the schedule (cost proportional to
    /// the units before it). Packers should take states from a plan pass (<see cref="MixtureCursor.State"/>) instead.
    /// </summary>
    public SchedulerState StateAt(long position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(position, TotalTokens);
        var cursor = OpenCursor();
        while (cursor.Position < position && cursor.TryNext(position - cursor.Position, out _))
        {
        }

        return cursor.State;
    }

    /// <summary>Planned tokens of source <paramref name="source"/> in <c>[0, t)</c>.</summary>
    public double TargetIntegral(int source, long t) => Target.Integral(source, t);

    /// <summary>The document id at position <paramref name="index"/> of the source's order in epoch <paramref name="epoch"/>.</summary>
    public int DocumentAt(int source, int epoch, int index) => Order(source, epoch)[index];

    internal DocumentOrder Order(int source, int epoch) =>
        new(Sources[source].DocumentTokens.Count, Sources[source].Order, Seed, source, epoch);
}
