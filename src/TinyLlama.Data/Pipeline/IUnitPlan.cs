using TinyLlama.Data.Packing;

namespace TinyLlama.Data.Pipeline;

/// <summary>A computed schedule: the whole output stream as units, in training order.</summary>
public interface IUnitPlan
{
    /// <summary>Tokens the units add up to (before the tail policy).</summary>
    long TotalTokens { get; }

    /// <summary>The units in training order; each is cut so that none crosses a multiple of <paramref name="chunkSize"/>.</summary>
    IEnumerable<PackUnit> Units(long chunkSize);

    /// <summary>
    /// The scheduler state at the start of shard <paramref name="shard"/>, once Units has reached it; handed over
    /// once (the plan forgets it), so a build of a million shards does not keep a million states.
    /// </summary>
    Mixtures.SchedulerState? TakeStateAtShardStart(long shard);

    /// <summary>The cached document a unit comes from: its size, where its ids are in its cache's <c>.bin</c>, its record.</summary>
    Cache.CachedDocument Document(PackUnit unit);
}

