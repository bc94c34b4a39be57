using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Packing;

namespace TinyLlama.Data.Pipeline;

/// <summary>
/// The build's stream: the spec's stages and sources handed to the <see cref="MixtureSchedule"/>, its units
/// mapped back from (source, document) to (source, file, document in file). The scheduler state is captured
/// at every shard start so the sidecars can record it.
/// </summary>
public sealed class ScheduledPlan : IUnitPlan
{
    private readonly DocumentTable _documents;
    private readonly Dictionary<long, SchedulerState> _shardStates = [];

    /// <summary>The stream of <paramref name="spec"/> over the documents of <paramref name="documents"/>, framed by <paramref name="framing"/>.</summary>
    internal ScheduledPlan(BuildSpec spec, DocumentTable documents, Framing framing)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(documents);
        _documents = documents;
        var mixtureSources = new List<MixtureSource>();
        for (var s = 0; s < documents.SourceCount; s++)
        {
            var spec_ = spec.Sources[s];
            mixtureSources.Add(new MixtureSource(spec_.Name, new FramedLengths(documents, s, framing.Extra), spec_.MaxEpochs, spec_.Order));
        }

        // The sizes come from the table's totals: a pass over every document length would read it all once more.
        var stages = ToStages(spec, mixtureSources.Select((m, s) => new MixtureSourceSize(
            m.Name, documents.TokenCount(s) + ((long)documents.DocumentCount(s) * framing.Extra), m.MaxEpochs, documents.DocumentCount(s))).ToList());
        try
        {
            Schedule = MixtureSchedule.Create(mixtureSources, stages, spec.Seed, spec.MaxUnitTokens);
        }
        catch (ArgumentException e)
        {
            throw new SpecException(spec.SpecPath, 0, 0, e.Message, e);
        }
    }

    public MixtureSchedule Schedule { get; }

    public long TotalTokens => Schedule.TotalTokens;

    /// <summary>Stages of the spec as the scheduler takes them; <c>tokens: all</c> becomes the largest budget the caps allow.</summary>
    public static IReadOnlyList<MixtureStage> ToStages(BuildSpec spec, IReadOnlyList<MixtureSourceSize> sizes)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(sizes);
        var names = spec.Sources.Select(s => s.Name).ToList();
        var stages = new List<MixtureStage>();
        foreach (var st in spec.Stages)
        {
            var weights = names.Select(n => st.Weights.GetValueOrDefault(n)).ToList();
            var tokens = st.Tokens ?? MixturePlanner.AvailableBudget(sizes, weights);
            var from = st.Ramp?.From is { } f ? names.Select(n => f.GetValueOrDefault(n)).ToList() : null;
            stages.Add(new MixtureStage(st.Name, tokens, weights, st.Ramp?.Tokens ?? 0, from));
        }

        return stages;
    }

    public IEnumerable<PackUnit> Units(long chunkSize)
    {
        var cursor = Schedule.OpenCursor();
        long shard = 0;
        var left = chunkSize;
        _shardStates[0] = cursor.State;
        while (cursor.TryNext(left, out var u))
        {
            var file = _documents.FileOf(u.Source, u.Document);
            yield return new PackUnit(u.Source, file, u.Document - _documents.FileStart(u.Source, file), u.Start, u.End, u.Epoch, u.Stage);
            left -= u.Length;
            if (left == 0)
            {
                shard++;
                left = chunkSize;
                _shardStates[shard] = cursor.State;
            }
        }
    }

    public SchedulerState? TakeStateAtShardStart(long shard) => _shardStates.Remove(shard, out var state) ? state : null;

    public Cache.CachedDocument Document(PackUnit unit) => _documents.Get(unit.Source, unit.File, unit.Document);

    /// <summary>A source's framed document lengths, read from the table on demand (the scheduler reads one a document drawn).</summary>
    private sealed class FramedLengths(DocumentTable documents, int source, int extra) : IReadOnlyList<long>
    {
        public long this[int index] => documents.Tokens(source, index) + (long)extra;

        public int Count { get; } = documents.DocumentCount(source);

        public IEnumerator<long> GetEnumerator()
        {
            foreach (var tokens in documents.SequentialTokens(source))
            {
                yield return tokens + (long)extra;
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
