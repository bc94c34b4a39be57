using System.Text.Json;
using Parquet;
using Parquet.Schema;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;
using static TinyLlama.Data.Tests.Readers.ReaderTestKit;

namespace TinyLlama.Data.Tests.Readers;

/// <summary>
/// The footer Parquet.Net is given (<see cref="ParquetFooter"/>): Parquet.Net's own reading of it is the original
/// metadata with the chunk statistics gone and nothing else changed; garbage falls through to Parquet.Net's errors.
/// </summary>
public sealed class ParquetFooterTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> SharedFiles()
    {
        var data = new TheoryData<string>();
        foreach (var folder in new[] { "starcoderdata", "parquet-real" })
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(RepoPaths.SharedDir, "data", folder), "*.parquet", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                data.Add(Path.GetRelativePath(RepoPaths.SharedDir, file));
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SharedFiles))]
    public void Shared_files_keep_their_metadata_without_statistics(string file)
    {
        AssertSameMetadataLessStatistics(Path.Combine(RepoPaths.SharedDir, file));
    }

    [Fact]
    public void Whole_documents_stored_as_statistics_are_left_out()
    {
        var big = new string('x', 1 << 20);
        var path = Write("big.parquet", [[big + "a", big + "b"], [big + "c"]]);

        var removed = AssertSameMetadataLessStatistics(path);

        removed.Should().BeGreaterThan(4 << 20, "min and max of each chunk are whole megabyte values");
        ReadAll(path, new ReaderOptions { TextField = "content" }).Select(r => r.Utf8Bytes).Should().Equal((1 << 20) + 1, (1 << 20) + 1, (1 << 20) + 1);
    }

    [Fact]
    public void Files_without_a_plain_footer_are_invalid_data()
    {
        var good = File.ReadAllBytes(Write("g.parquet", [["a", "b"]]));
        var encrypted = (byte[])good.Clone();
        "PARE"u8.CopyTo(encrypted.AsSpan(encrypted.Length - 4));
        var tooLong = (byte[])good.Clone();
        BitConverter.GetBytes(good.Length).CopyTo(tooLong, good.Length - 8);
        var trailing = (byte[])good.Clone();
        BitConverter.GetBytes(BitConverter.ToInt32(good, good.Length - 8) - 1).CopyTo(trailing, good.Length - 8);
        foreach (var bytes in new[] { good[..^1], good[..^9], good[..(good.Length / 2)], "PAR1"u8.ToArray(), [], encrypted, tooLong, trailing })
        {
            using var stream = new MemoryStream(bytes);
            var act = () => ParquetFooter.Rewrite(stream, out _);
            act.Should().Throw<InvalidDataException>();
        }
    }

    [Fact]
    public async Task A_field_of_the_wrong_type_is_refused_and_an_unknown_one_left_out()
    {
        var good = File.ReadAllBytes(Write("w.parquet", [["a", "b"]]));
        var footerLength = BitConverter.ToInt32(good, good.Length - 8);
        var footerStart = good.Length - 8 - footerLength;
        // FileMetaData starts with field 1 (version, i32): header 0x15. As an i64 (0x16) it is the wrong type.
        good[footerStart].Should().Be(0x15);
        var wrongType = (byte[])good.Clone();
        wrongType[footerStart] = 0x16;
        var act = () => ParquetFooter.Rewrite(new MemoryStream(wrongType), out _);
        act.Should().Throw<InvalidDataException>().WithMessage("footer: FileMetaData.version has thrift type 6, expected 5");

        // Before FileMetaData's closing STOP: field 100 (i32, long form) and field 101, a struct holding an i32, which
        // Parquet.Net's skipping would misread. Both are left out.
        byte[] extra = [0x05, 0xC8, 0x01, 0x02, 0x0C, 0xCA, 0x01, 0x15, 0x04, 0x00];
        var footer = good.AsSpan(footerStart, footerLength - 1).ToArray().Concat(extra).Append((byte)0).ToArray();
        var unknown = good[..footerStart].Concat(footer).Concat(BitConverter.GetBytes(footer.Length)).Concat("PAR1"u8.ToArray()).ToArray();
        ParquetFooter.Rewrite(new MemoryStream(good), out var statistics);
        var view = ParquetFooter.Rewrite(new MemoryStream(unknown), out var removed);
        removed.Should().Be(statistics + extra.Length);
        view.Length.Should().Be(good.Length - statistics);
        await using var reader = await ParquetReader.CreateAsync(view);
        reader.Metadata!.Version.Should().Be(1);
        reader.Metadata.NumRows.Should().Be(2);
    }

    [Fact]
    public void Every_field_the_copy_keeps_is_one_Parquet_Net_parses()
    {
        // Parquet.Net skips fields it does not know with a parser that misreads structs; the copy must only keep fields
        // that Parquet.Net's generated classes have a property for.
        var meta = typeof(ParquetReader).Assembly;
        var structs = ParquetFooter.Schema.All().Where(s => !s.Name.StartsWith('(')).ToList();
        structs.Should().HaveCountGreaterThan(20);
        foreach (var s in structs)
        {
            var type = meta.GetType("Parquet.Meta." + s.Name);
            type.Should().NotBeNull(s.Name);
            var properties = type!.GetProperties().Select(p => p.Name.ToUpperInvariant()).ToHashSet();
            foreach (var field in s.Fields.Where(f => !f.Dropped))
            {
                properties.Should().Contain(field.Name.Replace("_", "", StringComparison.Ordinal).ToUpperInvariant(), "{0}.{1}", s.Name, field.Name);
            }
        }
    }

    [Fact]
    public void Random_damage_to_a_footer_is_bad_input_or_read_never_another_exception()
    {
        var good = File.ReadAllBytes(Write("f.parquet", [["one", null, "three"], ["four", "five"]]));
        var footerLength = BitConverter.ToInt32(good, good.Length - 8);
        var footerStart = good.Length - 8 - footerLength;
        var random = new Random(11);
        var outcomes = new Dictionary<string, int>();
        for (var trial = 0; trial < 300; trial++)
        {
            var bytes = (byte[])good.Clone();
            for (var k = random.Next(1, 4); k > 0; k--)
            {
                bytes[footerStart + random.Next(footerLength)] = (byte)random.Next(256);
            }

            var path = _dir.File("f" + trial + ".parquet", bytes);
            string outcome;
            try
            {
                ReadAll(path, new ReaderOptions { TextField = "content" });
                outcome = "read";
            }
            catch (BadInputException)
            {
                outcome = "bad input";
            }

            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            File.Delete(path);
        }

        outcomes.Keys.Should().BeSubsetOf(["read", "bad input"]);
        outcomes.GetValueOrDefault("bad input").Should().BeGreaterThan(0);
    }

    /// <summary>Compares Parquet.Net's metadata of the file and of the view; returns the footer bytes the view saved.</summary>
    private static long AssertSameMetadataLessStatistics(string path)
    {
        using var file = File.OpenRead(path);
        string expected;
        var original = ParquetReader.CreateAsync(file, leaveStreamOpen: true).GetAwaiter().GetResult();
        try
        {
            foreach (var column in original.Metadata!.RowGroups.SelectMany(g => g.Columns))
            {
                if (column.MetaData is { } meta)
                {
                    meta.Statistics = null;
                    meta.SizeStatistics = null;
                    meta.GeospatialStatistics = null;
                }
            }

            expected = JsonSerializer.Serialize(original.Metadata);
        }
        finally
        {
            original.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        var view = ParquetFooter.Rewrite(file, out var removed);
        var stripped = ParquetReader.CreateAsync(view, leaveStreamOpen: true).GetAwaiter().GetResult();
        try
        {
            JsonSerializer.Serialize(stripped.Metadata).Should().Be(expected);
            stripped.Metadata!.RowGroups.SelectMany(g => g.Columns).Should().OnlyContain(c => c.MetaData == null || c.MetaData.Statistics == null);
        }
        finally
        {
            stripped.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        removed.Should().BeGreaterThanOrEqualTo(0);
        view.Length.Should().Be(file.Length - removed);
        return removed;
    }

    private string Write(string name, string?[][] groups)
    {
        var content = new DataField("content", typeof(string), isNullable: true);
        var path = Path.Combine(_dir.Path, name);
        using (var stream = File.Create(path))
        {
            var writer = ParquetWriter.CreateAsync(new ParquetSchema(content), stream).GetAwaiter().GetResult();
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
        }

        return path;
    }
}
