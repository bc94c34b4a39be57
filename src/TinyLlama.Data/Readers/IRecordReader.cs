namespace TinyLlama.Data.Readers;

/// <summary>
/// Streams the records of one input file with flat memory: at most one record (one line, or one parquet
/// row group's text column) is held at a time.
/// </summary>
public interface IRecordReader : IDisposable
{
    /// <summary>The file being read, as given to the reader.</summary>
    string Path { get; }

    /// <summary>Bytes of the file (compressed, on disk) consumed so far: for progress and ETA.</summary>
    long FileBytesConsumed { get; }

    /// <summary>The current record; valid until the next call of <see cref="MoveNext"/>.</summary>
    SourceRecord Current { get; }

    /// <summary>
    /// Advances to the next record. Returns false at the end of the file. Bad data throws
    /// <see cref="Errors.BadInputException"/> under the <c>fail</c> policy, or yields a Rejected record under
    /// <c>skip</c>; a stream that ends early is never taken for a short file.
    /// </summary>
    bool MoveNext(CancellationToken cancellationToken = default);
}
