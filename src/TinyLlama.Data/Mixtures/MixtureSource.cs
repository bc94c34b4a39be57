namespace TinyLlama.Data.Mixtures;

/// <summary>How the documents of a source are ordered within each epoch.</summary>
public enum SourceOrder
{
    /// <summary>A seeded pseudo-random permutation, different for every (seed, source, epoch); the default.</summary>
    Shuffled,

    /// <summary>Document id order (the source's cache order), the same every epoch; for TinyLlama-compatible single-source builds.</summary>
    Sequential,
}

/// <summary>
/// A source as the scheduler sees it: the framed token length (separators included) of each document, indexed by
/// document id in the source's cache order, and how many epochs of it a build may use. <see cref="MaxEpochs"/> is a
/// positive number and may be fractional: the source's token capacity is <c>floor(tokens × MaxEpochs)</c>, and the
/// last, partial epoch is a prefix of that epoch's order (its last document may be cut).
/// </summary>
/// <remarks>
/// <see cref="DocumentTokens"/> is read once at <see cref="MixtureSchedule.Create"/> (to total it) and then once per
/// document drawn; a caller with hundreds of millions of documents can pass a list backed by a memory-mapped index.
/// Documents of length 0 contribute nothing and are skipped.
/// </remarks>
public sealed record MixtureSource(
    string Name,
    IReadOnlyList<long> DocumentTokens,
    double MaxEpochs = 1,
    SourceOrder Order = SourceOrder.Shuffled);

/// <summary>
/// A source's declared size, for planning before anything is tokenized: total framed tokens, the epoch cap and
/// (when known, else -1) the number of documents.
/// </summary>
public sealed record MixtureSourceSize(string Name, long Tokens, double MaxEpochs = 1, long Documents = -1);
