namespace TinyLlama.Data.Readers;

/// <summary>Turns a <see cref="SourceSpec"/> into files and reader options (presets, globs, subsets).</summary>
public static class SourceResolver
{
    /// <summary>
    /// Resolves the source's files (absolute paths, sorted by ordinal comparison of the path relative to the
    /// root or glob base) and reader options. Throws <see cref="Errors.SpecException"/> when nothing matches.
    /// </summary>
    public static ResolvedSource Resolve(SourceSpec spec, string specDirectory)
    {
        ArgumentNullException.ThrowIfNull(spec);
        throw new NotImplementedException("implemented by the readers work");
    }
}
