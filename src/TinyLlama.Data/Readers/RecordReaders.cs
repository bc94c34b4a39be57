using System.IO.Compression;
using TinyLlama.Data.Errors;
using ZstdSharp;

namespace TinyLlama.Data.Readers;

/// <summary>Opens the right reader for a file from its name: .jsonl, .jsonl.gz, .jsonl.zst, .parquet.</summary>
public static class RecordReaders
{
    /// <summary>The file name endings <see cref="Open"/> understands.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet"];

    /// <summary>True when <see cref="Open"/> can read a file with this name.</summary>
    public static bool IsSupported(string path) =>
        Extensions.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase));

    public static IRecordReader Open(string path, ReaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        if (!IsSupported(path))
        {
            throw new BadInputException(path, -1, -1, $"unknown file type (expected one of {string.Join(", ", Extensions)})");
        }

        FileStream file;
        try
        {
            file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.Read,
                BufferSize = 1 << 16,
                Options = FileOptions.SequentialScan,
            });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(path, "cannot open for reading: " + ex.Message, ex);
        }

        try
        {
            if (path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase))
            {
                return ParquetRecordReader.Open(path, file, options);
            }

            if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            {
                return new JsonlRecordReader(path, file, new GzipMemberStream(file), "gzip", options);
            }

            if (path.EndsWith(".zst", StringComparison.OrdinalIgnoreCase))
            {
                // checkEndOfStream: a file that ends inside a frame throws instead of reading short.
                var zstd = new DecompressionStream(file, bufferSize: 1 << 17, checkEndOfStream: true, leaveOpen: true);
                return new JsonlRecordReader(path, file, zstd, "zstd", options);
            }

            return new JsonlRecordReader(path, file, file, "jsonl", options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
