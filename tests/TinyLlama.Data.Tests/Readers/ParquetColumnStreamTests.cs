using System.Text;
using Parquet;
using Parquet.Schema;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;
using static TinyLlama.Data.Tests.Readers.ReaderTestKit;

namespace TinyLlama.Data.Tests.Readers;

/// <summary>
/// The streaming text column reader against Parquet.Net's own <c>ReadAsync</c>, value for value (null, empty, text),
/// on the shared real files and on files Parquet.Net writes in every compression it can write; each both with pages
/// read whole (the default below 4 MiB) and with every PLAIN page streamed through its codec.
/// </summary>
public sealed class ParquetColumnStreamTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string, bool> SharedFiles()
    {
        var files = new List<(string, string)>();
        var starcoder = Path.Combine(RepoPaths.SharedDir, "data", "starcoderdata");
        foreach (var file in Directory.EnumerateFiles(starcoder, "*.parquet", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            files.Add((Path.GetRelativePath(RepoPaths.SharedDir, file), "content"));
        }

        files.Add(("data/parquet-real/datapage_v2.snappy.parquet", "a")); // v2 pages, snappy, dictionary
        files.Add(("data/parquet-real/sort_columns.parquet", "b")); // 2 row groups, dictionary
        // Binary (unannotated) BYTE_ARRAY columns: the record reader refuses them, the column reader reads bytes.
        files.Add(("data/parquet-real/alltypes_plain.snappy.parquet", "string_col")); // PLAIN_DICTIONARY, v1
        files.Add(("data/parquet-real/lz4_raw_compressed.parquet", "c1")); // LZ4_RAW
        var data = new TheoryData<string, string, bool>();
        foreach (var (file, column) in files)
        {
            data.Add(file, column, false);
            data.Add(file, column, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SharedFiles))]
    public void Shared_files_read_value_for_value_as_Parquet_Net_reads_them(string file, string column, bool streamEveryPage)
    {
        var (values, _, _) = AssertAgreesWithParquetNet(Path.Combine(RepoPaths.SharedDir, file), column, StreamAbove(streamEveryPage));

        values.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Only_plain_pages_of_the_shared_files_are_streamed_when_asked()
    {
        // Every shared text column is dictionary-encoded (pyarrow's default) except LZ4_RAW's: dictionary pages are
        // held whole, PLAIN ones streamed.
        var streamed = new Dictionary<string, int>();
        foreach (var (file, column) in SharedFiles().Select(row => ((string)row[0], (string)row[1])).Distinct())
        {
            streamed[file] = AssertAgreesWithParquetNet(Path.Combine(RepoPaths.SharedDir, file), column, streamAbove: 0).Streamed;
        }

        streamed.Where(p => p.Value > 0).Select(p => p.Key).Should().Equal("data/parquet-real/lz4_raw_compressed.parquet");
    }

    private static long StreamAbove(bool streamEveryPage) => streamEveryPage ? 0 : ParquetTextColumnReader.DefaultStreamAbove;

    [Fact]
    public void Starcoder_chunks_span_several_pages()
    {
        var file = Directory.EnumerateFiles(Path.Combine(RepoPaths.SharedDir, "data", "starcoderdata"), "*.parquet", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal).First();

        var (_, pages, streamed) = AssertAgreesWithParquetNet(file, "content");

        pages.Should().BeGreaterThan(1);
        streamed.Should().Be(0, "pyarrow's pages are 1 MiB");
    }

    public static TheoryData<CompressionMethod, bool, bool> Compressions()
    {
        var data = new TheoryData<CompressionMethod, bool, bool>();
        foreach (var method in Enum.GetValues<CompressionMethod>())
        {
            data.Add(method, false, false);
            data.Add(method, true, false);
            data.Add(method, false, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Compressions))]
    public void Every_compression_Parquet_Net_writes_is_read_exactly_or_refused_clearly(CompressionMethod method, bool dictionary, bool streamEveryPage)
    {
        var groups = new[]
        {
            Mixed(1, dictionary),
            Mixed(2, dictionary),
            Enumerable.Range(0, 3000).Select(i => (string?)(dictionary ? "v" + (i % 7) : "small value " + i)).ToArray(),
        };
        string path;
        try
        {
            path = WriteText("c.parquet", groups, method, dictionary);
        }
        catch (Exception ex) when (ex is NotSupportedException or NotImplementedException or ArgumentException or InvalidOperationException)
        {
            // Parquet.Net cannot write it: nothing to read.
            return;
        }

        var codec = CodecOf(path);
        try
        {
            var (values, _, streamed) = AssertAgreesWithParquetNet(path, "content", StreamAbove(streamEveryPage));
            values.Should().Be(groups.Sum(g => g.Length));
            streamed.Should().Be(streamEveryPage ? groups.Length : 0);
        }
        catch (BadInputException ex)
        {
            ex.Problem.Should().StartWith(ReasonCodes.UnsupportedEncoding + ": row group 0, column 'content': compression " + codec);
            codec.Should().Be(Parquet.Meta.CompressionCodec.LZO);
        }
    }

    public static TheoryData<bool, int, bool> SpecWrittenPages()
    {
        var data = new TheoryData<bool, int, bool>();
        foreach (var v2 in new[] { false, true })
        {
            foreach (var codec in new[] { MiniParquetWriter.Uncompressed, MiniParquetWriter.Snappy, MiniParquetWriter.Gzip, MiniParquetWriter.Brotli, MiniParquetWriter.Zstd, MiniParquetWriter.Lz4Raw })
            {
                data.Add(v2, codec, false);
                data.Add(v2, codec, true);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SpecWrittenPages))]
    public void V1_and_v2_pages_written_from_the_spec_read_exactly_whole_or_streamed(bool v2, int codec, bool streamEveryPage)
    {
        var values = Mixed(codec, dictionary: false).ToList();
        values.Insert(7, new string('x', 200_000) + "é" + new string('y', 100_000));
        values.Add(null);
        var path = Path.Combine(_dir.Path, "spec.parquet");
        MiniParquetWriter.Write(path, values, rowsPerPage: 100, v2, codec);

        var (count, pages, streamed) = AssertAgreesWithParquetNet(path, "content", StreamAbove(streamEveryPage));

        count.Should().Be(values.Count);
        pages.Should().Be((values.Count + 99) / 100);
        streamed.Should().Be(streamEveryPage ? pages : 0);
        ReadAll(path, new ReaderOptions { TextField = "content" }).Select(r => r.Outcome == RecordOutcome.Used ? r.Sha256 : null).Should().Equal(
            values.Select(v => string.IsNullOrEmpty(v) ? null : Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(v)))));
    }

    [Theory]
    [InlineData(CompressionMethod.Snappy)]
    [InlineData(CompressionMethod.Zstd)]
    [InlineData(CompressionMethod.None)]
    public void Five_megabyte_values_nulls_and_a_required_column_read_exactly(CompressionMethod method)
    {
        var random = new Random(5);
        var big = new string(Enumerable.Range(0, 5 << 20).Select(_ => (char)('a' + random.Next(26))).ToArray()) + "ü€😀";
        var path = WriteText("big.parquet", [[big, null, "", "x"], [null], [big[..1000] + "é", big]], method, dictionary: false);

        // Parquet.Net writes a row group's chunk as one page: the groups holding `big` are streamed, the other is not.
        AssertAgreesWithParquetNet(path, "content").Streamed.Should().Be(2);
        var records = ReadAll(path, new ReaderOptions { TextField = "content" });
        records.Select(r => r.Reason ?? r.Utf8Bytes.ToString(System.Globalization.CultureInfo.InvariantCulture)).Should().Equal(
            (5 << 20) + 9 + "", ReasonCodes.NullText, ReasonCodes.EmptyText, "1", ReasonCodes.NullText, "1002", (5 << 20) + 9 + "");
        records[0].Sha256.Should().Be(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(big))));

        var required = WriteText("req.parquet", [["a", "", "ü"], ["d"]], method, dictionary: false, nullable: false);
        AssertAgreesWithParquetNet(required, "content");
        ReadAll(required, new ReaderOptions { TextField = "content" }).Select(r => r.Reason ?? r.Text).Should().Equal("a", ReasonCodes.EmptyText, "ü", "d");
    }

    [Fact]
    public void A_truncated_file_is_a_located_error()
    {
        var path = WriteText("t.parquet", [["hello", "world"], ["x", "y"]], CompressionMethod.Snappy, dictionary: false);
        var bytes = File.ReadAllBytes(path);
        var (field, chunk, rows) = Metadata(path, 1);
        var start = chunk.MetaData!.DataPageOffset;
        var cut = _dir.File("cut.parquet", bytes[..(int)(start + 10)]);

        using var file = File.OpenRead(cut);
        using var column = new ParquetTextColumnReader(cut, file);
        var act = () => column.Open(chunk, field.MaxDefinitionLevel, 0, rows, 2, 1, "content");

        var error = act.Should().Throw<BadInputException>().Which;
        (error.File, error.Record, error.ByteOffset).Should().Be((cut, 2L, start));
        error.Problem.Should().StartWith("corrupt_row_group: row group 1, column 'content': the column chunk").And.Contain("(truncated?)");
    }

    [Fact]
    public void A_corrupt_page_header_is_located_at_its_page_and_row()
    {
        var path = WriteText("h.parquet", [["a", "b", "c"], ["d", "e"]], CompressionMethod.Snappy, dictionary: false);
        var start = Metadata(path, 1).Chunk.MetaData!.DataPageOffset;
        var bytes = File.ReadAllBytes(path);
        bytes[start] = 0x9D; // field 9 (unknown, so skipped) with thrift type 13, which does not exist
        var bad = _dir.File("h2.parquet", bytes);

        var act = () => ReadAll(bad, new ReaderOptions { TextField = "content" });
        var error = act.Should().Throw<BadInputException>().Which;
        (error.Record, error.ByteOffset).Should().Be((3L, start));
        error.Problem.Should().StartWith("corrupt_row_group: row group 1, column 'content': bad page header: unknown thrift type 13");

        var skipped = ReadAll(bad, new ReaderOptions { TextField = "content", OnBadRecord = BadRecordPolicy.Skip });
        skipped.Select(r => r.Reason ?? r.Text).Should().Equal("a", "b", "c", ReasonCodes.CorruptRowGroup, ReasonCodes.CorruptRowGroup);
    }

    [Theory]
    [InlineData(CompressionMethod.Snappy, 0)]
    [InlineData(CompressionMethod.Snappy, 3)]
    [InlineData(CompressionMethod.Zstd, 0)]
    [InlineData(CompressionMethod.Gzip, 0)]
    [InlineData(CompressionMethod.LZ4, 0)]
    [InlineData(CompressionMethod.Brotli, 0)]
    [InlineData(CompressionMethod.None, 0)]
    public void A_corrupt_streamed_page_is_reported_as_the_whole_page_reader_reports_it(CompressionMethod method, int seed)
    {
        var random = new Random(seed);
        var rows = Enumerable.Range(0, 50).Select(i => (string?)(i + ": " + new string(Enumerable.Range(0, 2000).Select(_ => (char)('a' + random.Next(26))).ToArray()))).ToArray();
        var path = WriteText("s.parquet", [["first"], rows], method, dictionary: false);
        var (field, chunk, count) = Metadata(path, 1);
        var bytes = File.ReadAllBytes(path);
        var start = (int)chunk.MetaData!.DataPageOffset;
        var length = (int)chunk.MetaData.TotalCompressedSize;
        // Damage the page's data (past its header) in a few places: a length, a codec element, or text.
        for (var k = 0; k < 4; k++)
        {
            bytes[start + 40 + random.Next(length - 40)] ^= (byte)(1 + random.Next(255));
        }

        var bad = _dir.File("s2.parquet", bytes);
        string Outcome(long streamAbove)
        {
            using var file = File.OpenRead(bad);
            using var column = new ParquetTextColumnReader(bad, file, streamAbove);
            column.Open(chunk, field.MaxDefinitionLevel, 0, count, 1, 1, "content");
            var texts = new List<string>();
            try
            {
                while (column.MoveNext())
                {
                    texts.Add(column.IsNull ? "null" : Convert.ToHexString(column.Value.Span));
                }

                return string.Join(",", texts);
            }
            catch (BadInputException ex)
            {
                return texts.Count + " values, then " + ex.Message;
            }
        }

        Outcome(streamAbove: 0).Should().Be(Outcome(ParquetTextColumnReader.DefaultStreamAbove));
    }

    [Theory]
    [InlineData(InvalidTextPolicy.Replace, BadRecordPolicy.Fail)]
    [InlineData(InvalidTextPolicy.Reject, BadRecordPolicy.Skip)]
    [InlineData(InvalidTextPolicy.Reject, BadRecordPolicy.Fail)]
    public void Invalid_UTF8_in_a_string_column_follows_the_policy(InvalidTextPolicy onInvalid, BadRecordPolicy onBad)
    {
        // Parquet.Net only writes valid UTF-8: write "zzézz" uncompressed and break the é (C3 A9 -> C3 28) everywhere.
        var path = WriteText("u.parquet", [["ok", "zz\u00e9zz"]], CompressionMethod.None, dictionary: false);
        var bytes = File.ReadAllBytes(path);
        var patched = 0;
        for (var i = 0; i + 5 < bytes.Length; i++)
        {
            if (bytes.AsSpan(i, 5).SequenceEqual("zz\u00e9z"u8))
            {
                bytes[i + 3] = 0x28;
                patched++;
            }
        }

        patched.Should().BeGreaterThan(0);
        var bad = _dir.File("u2.parquet", bytes);
        var options = new ReaderOptions { TextField = "content", OnInvalidText = onInvalid, OnBadRecord = onBad };

        if (onInvalid == InvalidTextPolicy.Replace)
        {
            var records = ReadAll(bad, options);
            records[1].Text.Should().Be("zz\uFFFD(zz");
            records[1].Replaced.Should().Be(1);
        }
        else if (onBad == BadRecordPolicy.Skip)
        {
            ReadAll(bad, options).Select(r => (r.Outcome, r.Reason ?? r.Text)).Should().Equal(
                (RecordOutcome.Used, "ok"), (RecordOutcome.Rejected, ReasonCodes.InvalidUtf8));
        }
        else
        {
            var act = () => ReadAll(bad, options);
            act.Should().Throw<BadInputException>().Which.Message.Should().Be($"{bad}: record 1: invalid_utf8: the text has 1 invalid UTF-8 sequence(s)");
        }
    }

    private static string?[] Mixed(int seed, bool dictionary)
    {
        var random = new Random(seed);
        var values = new List<string?> { null, "", "ascii", "non-ASCII: été, 日本語, 😀, \0 nul", null, "" };
        for (var i = 0; i < 500; i++)
        {
            values.Add(dictionary
                ? "repeat " + random.Next(10)
                : new string(Enumerable.Range(0, random.Next(0, 300)).Select(_ => (char)random.Next(0x20, 0x3000)).Where(c => !char.IsSurrogate(c)).ToArray()));
            if (random.Next(10) == 0)
            {
                values.Add(null);
            }
        }

        return [.. values];
    }

    /// <summary>Reads every row group of the column both ways; returns the values, and the pages the stream read and streamed.</summary>
    internal static (long Values, int Pages, int Streamed) AssertAgreesWithParquetNet(string path, string column, long streamAbove = ParquetTextColumnReader.DefaultStreamAbove)
    {
        using var file = File.OpenRead(path);
        var reader = ParquetReader.CreateAsync(file, leaveStreamOpen: true).GetAwaiter().GetResult();
        try
        {
            return AssertAgrees(reader, file, path, column, streamAbove);
        }
        finally
        {
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static (long Values, int Pages, int Streamed) AssertAgrees(ParquetReader reader, FileStream file, string path, string column, long streamAbove)
    {
        var field = reader.Schema.GetDataFields().Single(f => f.Path.ToString() == column);
        using var stream = new ParquetTextColumnReader(path, file, streamAbove);
        long first = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var rows = (int)group.RowCount;
            byte[]?[] expected;
            if (field.ClrType == typeof(string) || field.ClrType == typeof(ReadOnlyMemory<char>))
            {
                var strings = new string?[rows];
                group.ReadAsync(field, strings.AsMemory()!, null, default).AsTask().GetAwaiter().GetResult();
                expected = strings.Select(s => s is null ? null : Encoding.UTF8.GetBytes(s)).ToArray();
            }
            else
            {
                expected = new byte[]?[rows];
                group.ReadAsync(field, expected.AsMemory()!, null, default).AsTask().GetAwaiter().GetResult();
            }

            stream.Open(group.GetMetadata(field)!, field.MaxDefinitionLevel, field.MaxRepetitionLevel, rows, first, g, column);
            for (var i = 0; i < rows; i++)
            {
                stream.MoveNext().Should().BeTrue("row {0} of group {1}", i, g);
                stream.Row.Should().Be(first + i);
                stream.IsNull.Should().Be(expected[i] is null, "row {0} of group {1} of {2}", i, g, path);
                if (expected[i] is { } bytes)
                {
                    stream.Value.Span.SequenceEqual(bytes).Should().BeTrue("row {0} of group {1} of {2}", i, g, path);
                }
            }

            stream.MoveNext().Should().BeFalse();
            first += rows;
        }

        return (first, stream.PagesRead, stream.PagesStreamed);
    }

    private static Parquet.Meta.CompressionCodec CodecOf(string path) => Metadata(path, 0).Chunk.MetaData!.Codec;

    private static (DataField Field, Parquet.Meta.ColumnChunk Chunk, long Rows) Metadata(string path, int group)
    {
        using var file = File.OpenRead(path);
        var reader = ParquetReader.CreateAsync(file).GetAwaiter().GetResult();
        try
        {
            using var rg = reader.OpenRowGroupReader(group);
            var field = reader.Schema.GetDataFields()[0];
            return (field, rg.GetMetadata(field)!, rg.RowCount);
        }
        finally
        {
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private string WriteText(string name, string?[][] groups, CompressionMethod method, bool dictionary, bool nullable = true)
    {
        var content = new DataField("content", typeof(string), isNullable: nullable);
        var path = Path.Combine(_dir.Path, name);
        var options = new ParquetOptions { CompressionMethod = method, DictionaryEncodingThreshold = dictionary ? 0.8 : 0 };
        using var stream = File.Create(path);
        var writer = ParquetWriter.CreateAsync(new ParquetSchema(content), stream, options).GetAwaiter().GetResult();
        try
        {
            foreach (var group in groups)
            {
                using var rg = writer.CreateRowGroup();
                rg.WriteAsync(content, group, null).GetAwaiter().GetResult();
            }
        }
        finally
        {
            writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        return path;
    }
}
