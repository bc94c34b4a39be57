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
    private readonly IReadOnlyList<PlannedSource> _sources;
    private readonly int[][] _fileStarts;
    private readonly Dictionary<long, SchedulerState> _shardStates = [];

    public ScheduledPlan(BuildSpec spec, IReadOnlyList<PlannedSource> sources)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(sources);
        _sources = sources;
        _fileStarts = new int[sources.Count][];
        var mixtureSources = new List<MixtureSource>();
        for (var s = 0; s < sources.Count; s++)
        {
            var files = sources[s].FileDocumentTokens;
            _fileStarts[s] = new int[files.Count + 1];
            var lengths = new List<long>();
            for (var f = 0; f < files.Count; f++)
            {
                _fileStarts[s][f] = lengths.Count;
                foreach (var tokens in files[f])
                {
                    lengths.Add(sources[s].Framing.FramedLength(tokens));
                }
            }

            _fileStarts[s][files.Count] = lengths.Count;
            var spec_ = spec.Sources[s];
            mixtureSources.Add(new MixtureSource(spec_.Name, lengths, spec_.MaxEpochs,
                spec_.Order));
        }

        var stages = ToStages(spec, mixtureSources);
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

    private static IReadOnlyList<MixtureStage> ToStages(BuildSpec spec, List<MixtureSource> sources) =>
        ToStages(spec, sources.Select(s => new MixtureSourceSize(s.Name, s.DocumentTokens.Sum(), s.MaxEpochs, s.DocumentTokens.Count)).ToList());

    public IEnumerable<PackUnit> Units(long chunkSize)
    {
        var cursor = Schedule.OpenCursor();
        long shard = 0;
        var left = chunkSize;
        _shardStates[0] = cursor.State;
        while (cursor.TryNext(left, out var u))
        {
            var starts = _fileStarts[u.Source];
            var file = FileOf(starts, u.Document);
            yield return new PackUnit(u.Source, file, u.Document - starts[file], u.Start, u.End, u.Epoch, u.Stage);
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

    private static int FileOf(int[] starts, int document)
    {
        // The last file whose first document is at or before `document` (files may be empty).
        int lo = 0, hi = starts.Length - 2;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) >>> 1;
            if (starts[mid] <= document)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }
}
