using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using TinyLlama.Data.Readers;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace TinyLlama.Data.Tests.Readers;

/// <summary>A copy of what a reader yielded for one record (the reader reuses its instance).</summary>
internal sealed record Rec(long Index, long Offset, RecordOutcome Outcome, string? Reason, string Sha256, int Utf8Bytes, int Replaced, string Text);

internal static class ReaderTestKit
{
    public static ReaderOptions Skip { get; } = new() { OnBadRecord = BadRecordPolicy.Skip };

    public static List<Rec> ReadAll(string path, ReaderOptions? options = null)
    {
        using var reader = RecordReaders.Open(path, options ?? new ReaderOptions());
        return Drain(reader);
    }

    public static List<Rec> Drain(IRecordReader reader)
    {
        var records = new List<Rec>();
        while (reader.MoveNext())
        {
            var r = reader.Current;
            var span = r.Utf8Text.Span;
            records.Add(new Rec(r.Index, r.ByteOffset, r.Outcome, r.Reason, Convert.ToHexStringLower(SHA256.HashData(span)),
                span.Length, r.ReplacedSequences, span.Length <= 4096 ? Encoding.UTF8.GetString(span) : ""));
        }

        return records;
    }

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    public static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(data);
        }

        return ms.ToArray();
    }

    public static byte[] Zstd(byte[] data, bool checksum = false)
    {
        using var compressor = new Compressor(3);
        if (checksum)
        {
            compressor.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
        }

        return compressor.Wrap(data).ToArray();
    }
}
