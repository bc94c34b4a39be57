using TinyLlama.Data.Packing;

namespace TinyLlama.Data.Pipeline;

/// <summary>A computed schedule: the whole output stream as units, in training order.</summary>
public interface IUnitPlan
{
    /// <summary>Tokens the units add up to (before the tail policy).</summary>
    long TotalTokens { get; }

    IEnumerable<PackUnit> Units();
}

/// <summary>A source's documents after tokenizing: per file, the framed length of each document.</summary>
public sealed record PlannedSource(string Name, IReadOnlyList<IReadOnlyList<int>> FileDocumentTokens, Packing.Framing Framing)
{
    public long FramedTokens => FileDocumentTokens.Sum(f => f.Sum(t => Framing.FramedLength(t)));
}

/// <summary>
/// Sources one after another, files in sorted order, documents in file order: exactly TinyLlama's own
/// preparation scripts. Used for single-stage specs whose sources are all <c>order: sequential</c>; an
/// optional budget cuts the stream.
/// </summary>
public sealed class SequentialPlan : IUnitPlan
{
    private readonly IReadOnlyList<PlannedSource> _sources;
    private readonly long? _budget;

    public SequentialPlan(IReadOnlyList<PlannedSource> sources, long? budget)
    {
        _sources = sources;
        _budget = budget;
        var available = sources.Sum(s => s.FramedTokens);
        if (budget > available)
        {
            throw new Errors.PlanException(FormattableString.Invariant(
                $"the stage asks for {budget} tokens but the sources hold {available} (sequential order reads each once)"));
        }

        TotalTokens = budget ?? available;
    }

    public long TotalTokens { get; }

    public IEnumerable<PackUnit> Units()
    {
        var left = TotalTokens;
        for (var s = 0; s < _sources.Count; s++)
        {
            var files = _sources[s].FileDocumentTokens;
            for (var f = 0; f < files.Count; f++)
            {
                for (var d = 0; d < files[f].Count; d++)
                {
                    if (left == 0)
                    {
                        yield break;
                    }

                    var len = Math.Min(left, _sources[s].Framing.FramedLength(files[f][d]));
                    left -= len;
                    yield return new PackUnit(s, f, d, 0, len, 0, 0);
                }
            }
        }
    }
}
