using Parquet;
using Parquet.Schema;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;
using static TinyLlama.Data.Tests.Readers.ReaderTestKit;

namespace TinyLlama.Data.Tests.Readers;

public sealed class ParquetReaderTests : IDisposable
{
    private static readonly ReaderOptions Content = new() { TextField = "content" };
    private static readonly ReaderOptions ContentSkip = Content with { OnBadRecord = BadRecordPolicy.Skip };

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Rows_are_read_group_by_group_with_file_row_numbers_nulls_and_empties()
    {
        var path = Write("a.parquet", [["one", null, "", "four"], ["five"], []]);

        var records = ReadAll(path, Content);

        records.Select(r => (r.Index, r.Offset, r.Outcome, r.Reason ?? r.Text)).Should().Equal(
            (0L, -1L, RecordOutcome.Used, "one"), (1L, -1L, RecordOutcome.Empty, ReasonCodes.NullText),
            (2L, -1L, RecordOutcome.Empty, ReasonCodes.EmptyText), (3L, -1L, RecordOutcome.Used, "four"),
            (4L, -1L, RecordOutcome.Used, "five"));
    }

    [Fact]
    public void A_zero_row_file_is_zero_records()
    {
        ReadAll(Write("z.parquet", [[]]), Content).Should().BeEmpty();
        ReadAll(Write("z0.parquet", []), Content).Should().BeEmpty();
    }

    [Fact]
    public void Filters_apply_to_string_columns()
    {
        var path = Write("f.parquet", [["a", "b", "c"]], lang: ["py", "c", null]);
        var options = Content with { Filters = [new RecordFilter("no_c", "lang", FilterMode.Exclude, ["c"])] };

        ReadAll(path, options).Select(r => r.Reason ?? r.Text).Should().Equal("a", "no_c", "c");
    }

    [Fact]
    public void A_missing_column_names_the_column_and_the_columns_there_are()
    {
        var path = Write("m.parquet", [["a"]]);

        var act = () => ReadAll(path, new ReaderOptions { TextField = "text", OnBadRecord = BadRecordPolicy.Skip });

        act.Should().Throw<BadInputException>().Which.Message.Should()
            .Be($"{path}: missing_text: no column 'text' (columns: content, lang, stars)");
    }

    [Fact]
    public void A_non_string_column_is_refused()
    {
        var path = Write("n.parquet", [["a"]]);

        var act = () => ReadAll(path, new ReaderOptions { TextField = "stars" });

        act.Should().Throw<BadInputException>().Which.Message.Should().Contain("column 'stars' is a Int64 column, not a string column");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(100)]
    public void Garbage_and_empty_files_are_bad_input_naming_the_file(int length)
    {
        var path = _dir.File("g.parquet", Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray());

        var act = () => ReadAll(path, Content);

        act.Should().Throw<BadInputException>().Which.Message.Should().StartWith($"{path}: not a readable parquet file");
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(-9)]
    [InlineData(-200)]
    public void A_truncated_file_is_bad_input(int cut)
    {
        var good = File.ReadAllBytes(Write("t.parquet", [["hello", "world"]]));
        var path = _dir.File("t2.parquet", good[..(good.Length + cut)]);

        var act = () => ReadAll(path, Content);

        act.Should().Throw<BadInputException>().Which.File.Should().Be(path);
    }

    [Fact]
    public void Corrupt_column_data_fails_under_fail_and_rejects_every_row_of_the_group_under_skip()
    {
        var random = new Random(1);
        var rows = Enumerable.Range(0, 200)
            .Select(i => (string?)("row " + i + new string(Enumerable.Range(0, 100).Select(_ => (char)('a' + random.Next(26))).ToArray())))
            .ToArray();
        var good = File.ReadAllBytes(Write("c.parquet", [rows, ["last"]]));
        // Overwrite the middle of the first row group's data pages, leaving the footer intact.
        var bad = (byte[])good.Clone();
        for (var k = 100; k < 4000 && k < bad.Length - 600; k++)
        {
            bad[k] = 0xFF;
        }

        var path = _dir.File("c2.parquet", bad);

        var act = () => ReadAll(path, Content);
        act.Should().Throw<BadInputException>().Which.Message.Should().Contain($"{path}: record 0 (byte offset 4): corrupt_row_group: row group 0, column 'content': ");

        var skipped = ReadAll(path, ContentSkip);
        skipped.Should().HaveCount(201);
        skipped.Take(200).Should().OnlyContain(r => r.Reason == ReasonCodes.CorruptRowGroup);
        skipped[200].Text.Should().Be("last");
    }

    [Fact]
    public void A_DELTA_BYTE_ARRAY_column_chunk_is_refused_not_read()
    {
        // Parquet.Net cannot write DELTA_BYTE_ARRAY, so a file is written with PLAIN strings and the encoding list of
        // its column chunk metadata is patched in the footer (PLAIN=0 -> DELTA_BYTE_ARRAY=7, same thrift size).
        var path = Write("d.parquet", [["été", "étage"]], dictionary: false);
        var bytes = File.ReadAllBytes(path);
        PatchFirstEncodingList(bytes);
        var patched = _dir.File("d2.parquet", bytes);

        var act = () => ReadAll(patched, Content);
        act.Should().Throw<BadInputException>().Which.Message.Should()
            .Be($"{patched}: record 0 (byte offset 4): unsupported_encoding: row group 0, column 'content': uses encoding DELTA_BYTE_ARRAY, which this reader does not decode; refusing rather than risking wrong text (rewrite the file with PLAIN or dictionary encoding, e.g. pyarrow's defaults)");

        ReadAll(patched, ContentSkip).Select(r => (r.Index, r.Reason)).Should().Equal((0L, ReasonCodes.UnsupportedEncoding), (1L, ReasonCodes.UnsupportedEncoding));
    }

    private static void PatchFirstEncodingList(byte[] file)
    {
        // Footer: ... thrift FileMetaData, int32 length, "PAR1". In a ColumnMetaData, field 1 (type, i32) is followed
        // by field 2 (encodings, list<i32>): header 0x19, list header (n << 4 | 5), zigzag varints.
        var footerLength = BitConverter.ToInt32(file, file.Length - 8);
        var start = file.Length - 8 - footerLength;
        for (var i = start; i < file.Length - 10; i++)
        {
            if (file[i] == 0x15 && file[i + 1] == 0x0C && file[i + 2] == 0x19 && (file[i + 3] & 0x0F) == 5)
            {
                var count = file[i + 3] >> 4;
                for (var k = 0; k < count; k++)
                {
                    if (file[i + 4 + k] == 0x00)
                    {
                        file[i + 4 + k] = 0x0E;
                        return;
                    }
                }
            }
        }

        throw new InvalidOperationException("no BYTE_ARRAY column chunk with a PLAIN encoding found in the footer");
    }

    private string Write(string name, string?[][] groups, string?[]? lang = null, bool dictionary = true)
    {
        var content = new DataField("content", typeof(string), isNullable: true);
        var language = new DataField("lang", typeof(string), isNullable: true);
        var stars = new DataField<long>("stars");
        var path = Path.Combine(_dir.Path, name);
        var options = new ParquetOptions { DictionaryEncodingThreshold = dictionary ? 0.8 : 0 };
        using (var stream = File.Create(path))
        {
            var writer = ParquetWriter.CreateAsync(new ParquetSchema(content, language, stars), stream, options).GetAwaiter().GetResult();
            try
            {
                foreach (var group in groups)
                {
                    using var rg = writer.CreateRowGroup();
                    rg.WriteAsync(content, group, null).GetAwaiter().GetResult();
                    rg.WriteAsync(language, lang ?? group.Select(_ => (string?)"x").ToArray(), null).GetAwaiter().GetResult();
                    rg.WriteAsync<long>(stars, group.Select((_, i) => (long)i).ToArray().AsMemory(), null, null, default).GetAwaiter().GetResult();
                }
            }
            finally
            {
                writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }

        return path;
    }
}
