namespace TinyLlama.Data.Readers;

/// <summary>
/// One source as the spec declares it (after YAML parsing, before file discovery). Paths are as written in
/// the spec; <see cref="SourceResolver"/> resolves them relative to the spec's directory.
/// </summary>
public sealed record SourceSpec
{
    /// <summary>The source's name in the spec (key under <c>sources:</c>); appears in sidecars and stats.</summary>
    public required string Name { get; init; }

    /// <summary><c>slimpajama | starcoder | proof-pile | proof-pile-2 | skypile | jsonl | parquet</c>.</summary>
    public required string Format { get; init; }

    /// <summary>For presets: the corpus root folder (as laid out by its publisher).</summary>
    public string? Root { get; init; }

    /// <summary>For presets: <c>train</c> (default), <c>validation</c>/<c>dev</c> or <c>test</c>.</summary>
    public string? Split { get; init; }

    /// <summary>File globs (<c>*</c>, <c>**</c>, <c>?</c>) relative to the spec; required for generic formats.</summary>
    public IReadOnlyList<string> Paths { get; init; } = [];

    /// <summary>Subsets to take (StarCoder language folders, Proof-Pile-2 subsets); empty = all.</summary>
    public IReadOnlyList<string> Include { get; init; } = [];

    /// <summary>Subsets to leave out.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>Overrides the preset's text field / column.</summary>
    public string? TextField { get; init; }

    /// <summary>Filters in addition to the preset's defaults.</summary>
    public IReadOnlyList<RecordFilter> Filters { get; init; } = [];

    /// <summary>When true the preset's default filters (e.g. SlimPajama's GitHub exclusion) are not applied.</summary>
    public bool NoDefaultFilters { get; init; }

    public BadRecordPolicy OnBadRecord { get; init; } = BadRecordPolicy.Fail;

    /// <summary>Under <c>skip</c>: more rejected records than this in the source fail the build.</summary>
    public long MaxBadRecords { get; init; } = 1000;

    public InvalidTextPolicy OnInvalidText { get; init; } = InvalidTextPolicy.Replace;
}

/// <summary>A source after discovery: its files in reading order and how to read them.</summary>
public sealed record ResolvedSource(SourceSpec Spec, IReadOnlyList<string> Files, ReaderOptions Options);
