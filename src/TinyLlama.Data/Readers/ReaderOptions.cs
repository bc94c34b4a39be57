namespace TinyLlama.Data.Readers;

/// <summary>What to do with a record that is bad data (not JSON, no text field, corrupt stream, ...).</summary>
public enum BadRecordPolicy
{
    /// <summary>Stop with a <see cref="Errors.BadInputException"/> naming file, record and byte offset.</summary>
    Fail,

    /// <summary>Yield the record as Rejected with a reason code; the pipeline counts it.</summary>
    Skip,
}

/// <summary>What to do with text that is not valid Unicode (invalid UTF-8, lone surrogate escapes).</summary>
public enum InvalidTextPolicy
{
    /// <summary>Replace each invalid sequence with U+FFFD and count it in <see cref="SourceRecord.ReplacedSequences"/>.</summary>
    Replace,

    /// <summary>Treat the record as bad data (then <see cref="BadRecordPolicy"/> decides).</summary>
    Reject,
}

public enum FilterMode
{
    /// <summary>Drop records whose field value is one of the values.</summary>
    Exclude,

    /// <summary>Keep only records whose field value is one of the values.</summary>
    Include,
}

/// <summary>A record filter on a string field (dotted path into the JSON object, or a parquet column).</summary>
public sealed record RecordFilter(string Name, string Field, FilterMode Mode, IReadOnlyList<string> Values)
{
    /// <summary>The filter as the canonical spec JSON and the cache keys record it.</summary>
    public System.Text.Json.Nodes.JsonObject ToJson() => new()
    {
        ["name"] = Name,
        ["field"] = Field,
        ["mode"] = Mode == FilterMode.Include ? "include" : "exclude",
        ["values"] = new System.Text.Json.Nodes.JsonArray([.. Values.Select(v => (System.Text.Json.Nodes.JsonNode?)v)]),
    };
}

/// <summary>How a reader interprets records.</summary>
public sealed record ReaderOptions
{
    /// <summary>Dotted path to the text in a JSON record (e.g. <c>text</c>), or the parquet column (<c>content</c>).</summary>
    public string TextField { get; init; } = "text";

    public IReadOnlyList<RecordFilter> Filters { get; init; } = [];

    public BadRecordPolicy OnBadRecord { get; init; } = BadRecordPolicy.Fail;

    public InvalidTextPolicy OnInvalidText { get; init; } = InvalidTextPolicy.Replace;
}
