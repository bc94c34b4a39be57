using System.Text;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;
using static TinyLlama.Data.Tests.Readers.ReaderTestKit;

namespace TinyLlama.Data.Tests.Readers;

public sealed class JsonlReaderTests : IDisposable
{
    private const string Good = "{\"text\":\"hello\"}\n";

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string, string> BadLines() => new()
    {
        { "{\"text\": \"unterminated\n", ReasonCodes.BadJson, "invalid JSON" },
        { "not json at all\n", ReasonCodes.BadJson, "invalid JSON" },
        { "{\"text\":\"a\"} trailing\n", ReasonCodes.BadJson, "invalid JSON" },
        { "[\"text\", \"a\"]\n", ReasonCodes.JsonNotObject, "JSON array, not an object" },
        { "\"just a string\"\n", ReasonCodes.JsonNotObject, "JSON string, not an object" },
        { "{\"meta\":{}}\n", ReasonCodes.MissingText, "no text field 'text'" },
        { "{\"text\":42}\n", ReasonCodes.TextNotString, "is a JSON number" },
        { "{\"text\":{\"a\":1}}\n", ReasonCodes.TextNotString, "is a JSON object" },
    };

    [Theory]
    [MemberData(nameof(BadLines))]
    public void A_bad_line_fails_with_file_record_and_offset(string badLine, string reason, string detail)
    {
        var path = _dir.File("bad.jsonl", Utf8(Good + Good + badLine + Good));

        var act = () => ReadAll(path);

        var ex = act.Should().Throw<BadInputException>().Which;
        (ex.File, ex.Record, ex.ByteOffset).Should().Be((path, 2L, 2L * Good.Length));
        ex.Message.Should().StartWith($"{path}: record 2 (byte offset {2 * Good.Length}): {reason}: ").And.Contain(detail);
    }

    [Theory]
    [MemberData(nameof(BadLines))]
    public void A_bad_line_under_skip_is_one_rejected_record_and_reading_goes_on(string badLine, string reason, string detail)
    {
        _ = detail;
        var path = _dir.File("bad.jsonl", Utf8(Good + badLine + Good));

        var records = ReadAll(path, Skip);

        records.Select(r => (r.Index, r.Outcome, r.Reason)).Should().Equal(
            (0L, RecordOutcome.Used, (string?)null), (1L, RecordOutcome.Rejected, reason), (2L, RecordOutcome.Used, null));
        records[2].Offset.Should().Be(Good.Length + Encoding.UTF8.GetByteCount(badLine));
    }

    [Fact]
    public void Blank_lines_empty_and_null_texts_are_counted_as_empty_not_errors()
    {
        var path = _dir.File("e.jsonl", Utf8(Good + "\n   \t\n{\"text\":\"\"}\n{\"text\":null}\n" + Good));

        var records = ReadAll(path);

        records.Select(r => (r.Outcome, r.Reason)).Should().Equal(
            (RecordOutcome.Used, null), (RecordOutcome.Empty, ReasonCodes.BlankLine), (RecordOutcome.Empty, ReasonCodes.BlankLine),
            (RecordOutcome.Empty, ReasonCodes.EmptyText), (RecordOutcome.Empty, ReasonCodes.NullText), (RecordOutcome.Used, (string?)null));
    }

    [Fact]
    public void An_empty_file_is_zero_records()
    {
        ReadAll(_dir.File("empty.jsonl", [])).Should().BeEmpty();
        ReadAll(_dir.File("empty.jsonl.gz", [])).Should().BeEmpty();
        ReadAll(_dir.File("empty.jsonl.zst", [])).Should().BeEmpty();
    }

    [Fact]
    public void A_BOM_at_the_start_CRLF_line_ends_and_a_last_line_without_newline_are_accepted()
    {
        var path = _dir.File("crlf.jsonl", [0xEF, 0xBB, 0xBF, .. Utf8("{\"text\":\"a\\r\\nb\"}\r\n{\"text\":\"c\"}\r\n{\"text\":\"d\"}")]);

        var records = ReadAll(path);

        records.Select(r => r.Text).Should().Equal("a\r\nb", "c", "d");
        records.Select(r => r.Offset).Should().Equal(0, 22, 36);
    }

    [Fact]
    public void Escapes_raw_UTF8_and_surrogate_pairs_decode_exactly()
    {
        var path = _dir.File("u.jsonl", Utf8("{\"text\":\"\\u00e9t\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\b\\f\\t 中文 😀\"}\n"));

        var records = ReadAll(path);

        records.Single().Text.Should().Be("été 😀 \"q\" \\ / \b\f\t 中文 😀");
        records.Single().Replaced.Should().Be(0);
    }

    [Fact]
    public void Invalid_UTF8_and_lone_surrogates_are_replaced_and_counted_under_replace()
    {
        byte[] line = [.. Utf8("{\"text\":\"a"), 0xFF, 0xC3, .. Utf8("b\\ud800c\\udc00\\ud83d\"}\n")];
        var path = _dir.File("bad-text.jsonl", line);

        var record = ReadAll(path).Single();

        record.Outcome.Should().Be(RecordOutcome.Used);
        record.Text.Should().Be("a\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFD");
        record.Replaced.Should().Be(5);
        Encoding.UTF8.GetBytes(record.Text).Length.Should().Be(record.Utf8Bytes);
    }

    [Theory]
    [InlineData("{\"text\":\"a\\ud800b\"}\n", ReasonCodes.LoneSurrogate)]
    [InlineData("{\"text\":\"a\\udfffb\"}\n", ReasonCodes.LoneSurrogate)]
    [InlineData("{\"text\":\"a\u00FFb\"}\n", ReasonCodes.InvalidUtf8)]
    public void Invalid_text_under_reject_is_a_bad_record(string line, string reason)
    {
        // \u00FF in the C# string is written below as the single raw byte 0xFF (not UTF-8).
        var bytes = line.Contains('\u00FF', StringComparison.Ordinal) ? Encoding.Latin1.GetBytes(line) : Utf8(line);
        var path = _dir.File("r.jsonl", [.. Utf8(Good), .. bytes]);
        var reject = new ReaderOptions { OnInvalidText = InvalidTextPolicy.Reject };

        var act = () => ReadAll(path, reject);

        act.Should().Throw<BadInputException>().Which.Message.Should().Contain($"record 1 (byte offset {Good.Length}): {reason}");
        ReadAll(path, reject with { OnBadRecord = BadRecordPolicy.Skip }).Select(r => r.Reason).Should().Equal(null, reason);
    }

    [Fact]
    public void Dotted_paths_reach_nested_fields_and_filters_name_themselves()
    {
        var lines = new[]
        {
            "{\"text\":\"keep\",\"meta\":{\"set\":\"A\"}}",
            "{\"text\":\"drop\",\"meta\":{\"set\":\"B\"}}",
            "{\"meta\":{\"set\":\"\\u0042\"},\"text\":\"drop escaped\"}",
            "{\"text\":\"no meta\"}",
            "{\"text\":\"meta is a string\",\"meta\":\"{\\\"set\\\": \\\"B\\\"}\"}",
        };
        var path = _dir.File("f.jsonl", Utf8(string.Join('\n', lines) + "\n"));
        var exclude = new ReaderOptions { Filters = [new RecordFilter("no_b", "meta.set", FilterMode.Exclude, ["B"])] };
        var include = new ReaderOptions { Filters = [new RecordFilter("only_b", "meta.set", FilterMode.Include, ["B"])] };

        ReadAll(path, exclude).Select(r => r.Reason).Should().Equal(null, "no_b", "no_b", null, null);
        ReadAll(path, include).Select(r => r.Reason).Should().Equal("only_b", null, null, "only_b", "only_b");
        ReadAll(path, new ReaderOptions { TextField = "meta.set", OnBadRecord = BadRecordPolicy.Skip })
            .Select(r => r.Reason ?? r.Text).Should().Equal("A", "B", "B", ReasonCodes.MissingText, ReasonCodes.MissingText);
    }

    [Fact]
    public void A_duplicated_key_takes_the_last_value_as_Python_does()
    {
        var path = _dir.File("d.jsonl", Utf8("{\"text\":\"first\",\"text\":\"second\"}\n"));

        ReadAll(path).Single().Text.Should().Be("second");
    }

    [Fact]
    public void A_trickle_stream_of_one_byte_per_read_gives_the_same_records()
    {
        var content = new StringBuilder();
        for (var i = 0; i < 300; i++)
        {
            content.Append("{\"text\":\"doc ").Append(i).Append(' ').Append(new string('x', i * 37 % 500)).Append("\"}").Append(i % 3 == 0 ? "\r\n" : "\n");
        }

        var bytes = Utf8(content.ToString());
        var path = _dir.File("t.jsonl", bytes);
        var expected = ReadAll(path);

        using var trickle = new TrickleStream(bytes);
        using var reader = new JsonlRecordReader("trickle", trickle, trickle, "jsonl", new ReaderOptions());
        var actual = Drain(reader);

        actual.Should().Equal(expected);
        actual.Should().HaveCount(300);
    }

    [Fact]
    public void A_50_MB_document_is_read_whole_and_the_next_line_still_reads()
    {
        var big = new string('a', 50 * 1024 * 1024);
        var path = _dir.File("huge.jsonl", Utf8("{\"text\":\"" + big + "\"}\n" + Good + "{\"text\":\"" + big[..1000] + "\\u00e9\"}\n"));

        var records = ReadAll(path);

        records.Select(r => r.Utf8Bytes).Should().Equal(big.Length, 5, 1002);
        records[1].Offset.Should().Be(big.Length + 12);
    }

    [Fact]
    public void Cancellation_is_honoured_between_records()
    {
        var path = _dir.File("c.jsonl", Utf8(Good + Good));
        using var reader = RecordReaders.Open(path, new ReaderOptions());
        using var cts = new CancellationTokenSource();
        reader.MoveNext(cts.Token).Should().BeTrue();
        cts.Cancel();

        var act = () => reader.MoveNext(cts.Token);

        act.Should().Throw<OperationCanceledException>();
    }

    [Fact]
    public void A_file_that_cannot_be_opened_is_an_io_failure_naming_it()
    {
        var missing = Path.Combine(_dir.Path, "missing.jsonl");
        var folder = Directory.CreateDirectory(Path.Combine(_dir.Path, "folder.jsonl")).FullName;

        ((Action)(() => RecordReaders.Open(missing, new ReaderOptions()))).Should().Throw<IoFailureException>()
            .Which.Message.Should().StartWith(missing + ": cannot open");
        ((Action)(() => RecordReaders.Open(folder, new ReaderOptions()))).Should().Throw<IoFailureException>()
            .Which.Path.Should().Be(folder);
        ((Action)(() => RecordReaders.Open(Path.Combine(_dir.Path, "x.csv"), new ReaderOptions()))).Should().Throw<BadInputException>()
            .Which.Message.Should().Contain("unknown file type");
    }
}
