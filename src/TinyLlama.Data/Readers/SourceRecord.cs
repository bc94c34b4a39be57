namespace TinyLlama.Data.Readers;

/// <summary>What became of one record of an input file.</summary>
public enum RecordOutcome
{
    /// <summary>The record has a non-empty text and passed every filter: it goes to the tokenizer.</summary>
    Used,

    /// <summary>Dropped by a filter of the spec (<see cref="SourceRecord.Reason"/> names the filter).</summary>
    Filtered,

    /// <summary>Bad data skipped under the <c>skip</c> policy (<see cref="SourceRecord.Reason"/> names why).</summary>
    Rejected,

    /// <summary>A well-formed record whose text is empty (nothing to tokenize; counted, not an error).</summary>
    Empty,
}

/// <summary>
/// One record as a reader yields it. The instance is owned and reused by the reader: its values, and the
/// memory behind <see cref="Utf8Text"/>, are valid only until the next <see cref="IRecordReader.MoveNext"/>.
/// </summary>
public sealed class SourceRecord
{
    /// <summary>0-based index of the record in its file: the physical line (jsonl) or the row (parquet).</summary>
    public long Index { get; set; }

    /// <summary>Byte offset of the record's first byte in the decompressed stream (jsonl) or -1 (parquet).</summary>
    public long ByteOffset { get; set; }

    public RecordOutcome Outcome { get; set; }

    /// <summary>For <see cref="RecordOutcome.Filtered"/> the filter's name; for Rejected the reason code.</summary>
    public string? Reason { get; set; }

    /// <summary>The document text as valid UTF-8 (never contains lone surrogates); empty unless Used.</summary>
    public ReadOnlyMemory<byte> Utf8Text { get; set; }

    /// <summary>How many invalid sequences (bad UTF-8, lone surrogate escapes) were replaced by U+FFFD.</summary>
    public int ReplacedSequences { get; set; }
}
