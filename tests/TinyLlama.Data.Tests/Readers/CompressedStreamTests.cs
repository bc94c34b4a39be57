using System.Text;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;
using static TinyLlama.Data.Tests.Readers.ReaderTestKit;

namespace TinyLlama.Data.Tests.Readers;

public sealed class CompressedStreamTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly byte[] _jsonl;

    public CompressedStreamTests()
    {
        var text = new StringBuilder();
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            text.Append("{\"text\":\"");
            for (var k = 0; k < 200 + random.Next(400); k++)
            {
                text.Append((char)('a' + random.Next(26)));
            }

            text.Append("\"}\n");
        }

        _jsonl = Utf8(text.ToString());
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Multi_member_gzip_and_multi_frame_zstd_read_every_member()
    {
        var gz = _dir.File("m.jsonl.gz", [.. Gzip(_jsonl), .. Gzip(_jsonl), .. Gzip([])]);
        var zst = _dir.File("m.jsonl.zst", [.. Zstd(_jsonl), .. Zstd(_jsonl, checksum: true)]);

        foreach (var path in new[] { gz, zst })
        {
            var records = ReadAll(path);
            records.Should().HaveCount(4000);
            records.Should().OnlyContain(r => r.Outcome == RecordOutcome.Used);
            records[2000].Offset.Should().Be(_jsonl.Length);
            records[^1].Text.Should().Be(records[1999].Text);
        }
    }

    public static TheoryData<string, int> Truncations() => new()
    {
        { "gz", 2 }, { "gz", 3 }, { "gz", 50 }, { "gz", -1 }, { "gz", -4 }, { "gz", -8 }, { "gz", -9 },
        { "zst", 3 }, { "zst", 50 }, { "zst", -1 }, { "zst", -100 },
    };

    [Theory]
    [MemberData(nameof(Truncations))]
    public void A_truncated_stream_is_an_error_naming_file_and_offset_reached_never_a_short_read(string kind, int cut)
    {
        var full = kind == "gz" ? Gzip(_jsonl) : Zstd(_jsonl);
        // cut > 0: keep that percentage of the file; cut < 0: drop that many bytes from the end.
        var keep = cut > 0 ? full.Length * cut / 100 : full.Length + cut;
        var path = _dir.File("t.jsonl." + kind, full[..keep]);

        var act = () => ReadAll(path);

        var ex = act.Should().Throw<BadInputException>().Which;
        ex.File.Should().Be(path);
        ex.Record.Should().BeGreaterThanOrEqualTo(0);
        ex.ByteOffset.Should().BeGreaterThanOrEqualTo(0).And.BeLessThanOrEqualTo(_jsonl.Length);
        ex.Message.Should().Contain("corrupt_stream").And.Contain("truncated or corrupt").And.Contain("offset reached");

        var skipped = ReadAll(path, Skip);
        skipped[^1].Should().Match<Rec>(r => r.Outcome == RecordOutcome.Rejected && r.Reason == ReasonCodes.CorruptStream);
        skipped.Count(r => r.Outcome == RecordOutcome.Rejected).Should().Be(1);
        skipped.Take(skipped.Count - 1).All(r => r.Outcome == RecordOutcome.Used).Should().BeTrue();
        skipped[^1].Index.Should().Be(skipped.Count - 1);
    }

    [Theory]
    [InlineData("gz")]
    [InlineData("zst")]
    public void Corrupt_bytes_mid_stream_are_detected_by_the_checksum(string kind)
    {
        // The checksum is checked at the end of the member/frame: garbage decoded before it may surface first as
        // bad lines, but the file never reads as good, and under skip it always ends with corrupt_stream.
        var full = kind == "gz" ? Gzip(_jsonl) : Zstd(_jsonl, checksum: true);
        for (var k = 0; k < 16; k++)
        {
            full[(full.Length / 2) + k] ^= 0x5A;
        }

        var path = _dir.File("c.jsonl." + kind, full);

        var act = () => ReadAll(path);

        act.Should().Throw<BadInputException>().Which.File.Should().Be(path);
        ReadAll(path, Skip)[^1].Reason.Should().Be(ReasonCodes.CorruptStream);
    }

    [Theory]
    [InlineData("gz")]
    [InlineData("zst")]
    public void Garbage_after_the_last_member_or_frame_is_an_error(string kind)
    {
        var full = kind == "gz" ? Gzip(_jsonl) : Zstd(_jsonl);
        var path = _dir.File("g.jsonl." + kind, [.. full, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

        var act = () => ReadAll(path);

        act.Should().Throw<BadInputException>().Which.Message.Should().Contain("corrupt_stream");
    }

    [Theory]
    [InlineData("gz")]
    [InlineData("zst")]
    public void A_file_that_is_not_compressed_at_all_is_an_error(string kind)
    {
        var path = _dir.File("n.jsonl." + kind, _jsonl);

        var act = () => ReadAll(path);

        act.Should().Throw<BadInputException>().Which.Record.Should().Be(0);
    }

    [Fact]
    public void A_gzip_header_with_name_comment_and_extra_fields_is_parsed()
    {
        var body = Gzip(_jsonl);
        // Rebuild the header with FEXTRA, FNAME and FCOMMENT set, as the gzip tool and other writers do.
        byte[] header = [0x1F, 0x8B, 8, 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 3, 3, 0, 9, 9, 9, .. Utf8("x.jsonl"), 0, .. Utf8("hi"), 0];
        var path = _dir.File("h.jsonl.gz", [.. header, .. body[10..]]);

        ReadAll(path).Should().HaveCount(2000);
    }
}
