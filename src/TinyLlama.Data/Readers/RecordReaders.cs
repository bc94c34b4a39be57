namespace TinyLlama.Data.Readers;

/// <summary>Opens the right reader for a file from its name: .jsonl, .jsonl.gz, .jsonl.zst, .parquet.</summary>
public static class RecordReaders
{
    public static IRecordReader Open(string path, ReaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        throw new NotImplementedException("implemented by the readers work");
    }
}
