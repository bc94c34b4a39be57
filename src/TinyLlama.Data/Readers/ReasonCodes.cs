namespace TinyLlama.Data.Readers;

/// <summary>
/// The reason codes a reader puts in <see cref="SourceRecord.Reason"/> (Rejected and Empty records) and in the
/// problem text of a <see cref="Errors.BadInputException"/>. They are stable: stats and sidecars count by them.
/// </summary>
public static class ReasonCodes
{
    /// <summary>The line is not valid JSON (syntax error, bad escape, raw control character, trailing data).</summary>
    public const string BadJson = "bad_json";

    /// <summary>The line is valid JSON but not an object.</summary>
    public const string JsonNotObject = "json_not_object";

    /// <summary>The text field (or column) is absent, or a parent on its dotted path is not an object.</summary>
    public const string MissingText = "missing_text";

    /// <summary>The text field is a number, boolean, object or array.</summary>
    public const string TextNotString = "text_not_string";

    /// <summary>Under <see cref="InvalidTextPolicy.Reject"/>: the text has raw bytes that are not UTF-8.</summary>
    public const string InvalidUtf8 = "invalid_utf8";

    /// <summary>Under <see cref="InvalidTextPolicy.Reject"/>: the text has a lone surrogate escape (<c>\ud800</c>).</summary>
    public const string LoneSurrogate = "lone_surrogate";

    /// <summary>The compressed stream is truncated or corrupt; the rest of the file cannot be read.</summary>
    public const string CorruptStream = "corrupt_stream";

    /// <summary>A parquet row group whose text (or filter) column could not be decoded; one record per row.</summary>
    public const string CorruptRowGroup = "corrupt_row_group";

    /// <summary>A parquet column chunk or page in an encoding or compression we cannot read exactly (DELTA_BYTE_ARRAY, LZO, ...); one per row.</summary>
    public const string UnsupportedEncoding = "unsupported_encoding";

    /// <summary>Empty: a line that is empty or only whitespace (no record at all).</summary>
    public const string BlankLine = "blank_line";

    /// <summary>Empty: the text is the empty string.</summary>
    public const string EmptyText = "empty_text";

    /// <summary>Empty: the text is JSON <c>null</c> or a parquet null.</summary>
    public const string NullText = "null_text";
}
