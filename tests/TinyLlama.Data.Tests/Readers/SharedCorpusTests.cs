using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;
using static TinyLlama.Data.Tests.Readers.ReaderTestKit;

namespace TinyLlama.Data.Tests.Readers;

/// <summary>Every sample file in ../shared/data read back against the per-record facts of its MANIFEST.json.</summary>
public sealed class SharedCorpusTests
{
    public static TheoryData<string, string> CorpusFiles()
    {
        var data = new TheoryData<string, string>();
        foreach (var corpus in new[] { "slimpajama", "starcoderdata", "proof-pile", "proof-pile-2", "skypile" })
        {
            using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepoPaths.SharedDir, "data", corpus, "MANIFEST.json")));
            foreach (var file in manifest.RootElement.EnumerateObject())
            {
                data.Add(corpus, file.Name);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Every_record_matches_the_manifest(string corpus, string file)
    {
        var folder = Path.Combine(RepoPaths.SharedDir, "data", corpus);
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "MANIFEST.json")));
        var expected = manifest.RootElement.GetProperty(file).GetProperty("records").EnumerateArray().ToList();
        var options = Skip with { TextField = file.EndsWith(".parquet", StringComparison.Ordinal) ? "content" : "text" };

        var records = ReadAll(Path.Combine(folder, file), options);

        records.Should().HaveCount(expected.Count);
        for (var k = 0; k < expected.Count; k++)
        {
            var e = expected[k];
            var r = records[k];
            r.Index.Should().Be(e.GetProperty("i").GetInt64());
            var kind = e.GetProperty("kind").GetString();
            switch (kind)
            {
                case "ok":
                    r.Outcome.Should().Be(RecordOutcome.Used, "record {0} of {1}", k, file);
                    r.Sha256.Should().Be(e.GetProperty("sha256").GetString(), "record {0} of {1}", k, file);
                    r.Utf8Bytes.Should().Be(e.GetProperty("utf8_bytes").GetInt32());
                    r.Replaced.Should().Be(0);
                    break;
                case "empty_text" or "empty_content":
                    (r.Outcome, r.Reason).Should().Be((RecordOutcome.Empty, ReasonCodes.EmptyText));
                    break;
                case "null_content":
                    (r.Outcome, r.Reason).Should().Be((RecordOutcome.Empty, ReasonCodes.NullText));
                    break;
                case "blank_line":
                    (r.Outcome, r.Reason).Should().Be((RecordOutcome.Empty, ReasonCodes.BlankLine));
                    break;
                default:
                    r.Outcome.Should().Be(RecordOutcome.Rejected, "record {0} of {1} is {2}", k, file, kind);
                    break;
            }
        }
    }

    [Fact]
    public void SlimPajama_preset_drops_exactly_the_records_TinyLlama_drops()
    {
        var root = Path.Combine(RepoPaths.SharedDir, "data", "slimpajama");
        var source = SourceResolver.Resolve(new SourceSpec { Name = "slim", Format = "slimpajama", Root = root }, RepoPaths.RepoRoot);
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(root, "MANIFEST.json")));

        source.Files.Select(f => Path.GetRelativePath(root, f).Replace('\\', '/')).Should().Equal(
            "train/chunk1/example_train_0.jsonl.zst", "train/chunk1/example_train_1.jsonl.zst", "train/chunk2/example_train_0.jsonl.zst");
        foreach (var file in source.Files)
        {
            var expected = manifest.RootElement.GetProperty(Path.GetRelativePath(root, file).Replace('\\', '/'))
                .GetProperty("records").EnumerateArray().Select(e => e.GetProperty("tinyllama_keeps").GetBoolean()).ToList();
            var records = ReadAll(file, source.Options);
            records.Select(r => r.Outcome == RecordOutcome.Used).Should().Equal(expected);
            records.Where(r => r.Outcome == RecordOutcome.Filtered).Should().OnlyContain(r => r.Reason == "no_github");
        }
    }

    public static TheoryData<string, string> RealParquetStringColumns()
    {
        var data = new TheoryData<string, string>();
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepoPaths.SharedDir, "data", "parquet-real", "MANIFEST.json")));
        foreach (var file in manifest.RootElement.EnumerateObject())
        {
            foreach (var column in file.Value.GetProperty("string_columns").EnumerateObject())
            {
                data.Add(file.Name, column.Name);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RealParquetStringColumns))]
    public void Real_writer_parquet_string_columns_match_the_DuckDB_digest(string file, string column)
    {
        var folder = Path.Combine(RepoPaths.SharedDir, "data", "parquet-real");
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "MANIFEST.json")));
        var expected = manifest.RootElement.GetProperty(file).GetProperty("string_columns").GetProperty(column);

        using var reader = RecordReaders.Open(Path.Combine(folder, file), new ReaderOptions { TextField = column });
        using var digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var rows = 0;
        var nulls = 0;
        Span<byte> length = stackalloc byte[4];
        while (reader.MoveNext())
        {
            rows++;
            var r = reader.Current;
            r.Index.Should().Be(rows - 1);
            if (r.Reason == ReasonCodes.NullText)
            {
                nulls++;
                digest.AppendData([0]);
                continue;
            }

            r.Outcome.Should().BeOneOf(RecordOutcome.Used, RecordOutcome.Empty);
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)r.Utf8Text.Length);
            digest.AppendData([1]);
            digest.AppendData(length);
            digest.AppendData(r.Utf8Text.Span);
        }

        rows.Should().Be(expected.GetProperty("rows").GetInt32());
        nulls.Should().Be(expected.GetProperty("nulls").GetInt32());
        Convert.ToHexStringLower(digest.GetHashAndReset()).Should().Be(expected.GetProperty("digest").GetString());
    }

    [Theory]
    [InlineData("alltypes_plain.snappy.parquet", "string_col")]
    [InlineData("lz4_raw_compressed.parquet", "c1")]
    public void Binary_columns_without_a_string_annotation_are_refused_clearly(string file, string column)
    {
        var path = Path.Combine(RepoPaths.SharedDir, "data", "parquet-real", file);

        var act = () => ReadAll(path, new ReaderOptions { TextField = column });

        act.Should().Throw<BadInputException>().Which.Message.Should()
            .Contain(file).And.Contain($"column '{column}'").And.Contain("without a UTF8/String annotation");
    }
}
