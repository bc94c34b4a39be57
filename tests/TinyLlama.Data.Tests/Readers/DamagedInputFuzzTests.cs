using System.Text;
using Parquet;
using Parquet.Schema;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;
using static TinyLlama.Data.Tests.Readers.ReaderTestKit;

namespace TinyLlama.Data.Tests.Readers;

/// <summary>
/// Robust by construction, not by case: files of every format damaged at random (bytes overwritten, bytes cut out,
/// the file cut short, garbage appended) read to the end or stop with a located <see cref="BadInputException"/> —
/// never another exception, never a hang — under both bad-record policies. Under <c>skip</c>, every record read is
/// accounted for with an outcome, and records yielded as used have valid UTF-8 text.
/// </summary>
public sealed class DamagedInputFuzzTests : IDisposable
{
    private const int Trials = 120;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Formats() => new() { "jsonl", "jsonl.gz", "jsonl.zst", "parquet", "parquet-v2-zstd", "parquet-big-page" };

    [Theory]
    [MemberData(nameof(Formats))]
    public void Random_damage_is_read_or_bad_input_never_another_exception(string format)
    {
        var (good, extension, options) = Sample(format);
        ReadAll(_dir.File("good" + extension, good), options).Should().NotBeEmpty();
        var random = new Random(format.Length * 31 + format[^1]);
        var outcomes = new Dictionary<string, int>();
        for (var trial = 0; trial < Trials; trial++)
        {
            var bytes = Damage(good, random);
            var path = _dir.File("d" + trial + extension, bytes);
            foreach (var policy in new[] { BadRecordPolicy.Fail, BadRecordPolicy.Skip })
            {
                string outcome;
                try
                {
                    var records = ReadAll(path, options with { OnBadRecord = policy });
                    records.Where(r => r.Outcome == RecordOutcome.Used).All(r => r.Utf8Bytes > 0).Should().BeTrue();
                    outcome = "read";
                }
                catch (BadInputException ex)
                {
                    ex.File.Should().Be(path);
                    outcome = "bad input";
                }

                outcomes[policy + " " + outcome] = outcomes.GetValueOrDefault(policy + " " + outcome) + 1;
            }

            File.Delete(path);
        }

        outcomes.Keys.Should().BeSubsetOf(["Fail read", "Fail bad input", "Skip read", "Skip bad input"]);
        outcomes.GetValueOrDefault("Fail bad input").Should().BeGreaterThan(Trials / 10, "damage is noticed: {0}", string.Join(", ", outcomes));
    }

    private static byte[] Damage(byte[] good, Random random)
    {
        var bytes = good.ToList();
        switch (random.Next(4))
        {
            case 0:
                for (var k = random.Next(1, 6); k > 0; k--)
                {
                    bytes[random.Next(bytes.Count)] = (byte)random.Next(256);
                }

                break;
            case 1:
                var at = random.Next(bytes.Count);
                bytes.RemoveRange(at, Math.Min(bytes.Count - at, random.Next(1, 64)));
                break;
            case 2:
                bytes.RemoveRange(random.Next(bytes.Count), 1);
                bytes = bytes.Take(random.Next(bytes.Count)).ToList();
                break;
            default:
                var garbage = new byte[random.Next(1, 40)];
                random.NextBytes(garbage);
                bytes.InsertRange(random.Next(bytes.Count), garbage);
                break;
        }

        return [.. bytes];
    }

    private (byte[] Bytes, string Extension, ReaderOptions Options) Sample(string format)
    {
        var random = new Random(3);
        var texts = Enumerable.Range(0, 60).Select(i => i % 13 == 5 ? null : i % 17 == 3 ? "" :
            "doc " + i + " " + new string(Enumerable.Range(0, random.Next(10, 400)).Select(_ => "abcé€😀 \n\t\"\\"[random.Next(12)]).Where(c => !char.IsSurrogate(c)).ToArray())).ToList();
        var jsonl = Encoding.UTF8.GetBytes(string.Concat(texts.Select(t => System.Text.Json.JsonSerializer.Serialize(new { text = t, meta = new { n = 1 } }) + "\n")));
        var parquetOptions = new ReaderOptions { TextField = "content", Filters = [new RecordFilter("lang", "lang", FilterMode.Exclude, ["skip"])] };
        switch (format)
        {
            case "jsonl":
                return (jsonl, ".jsonl", new ReaderOptions());
            case "jsonl.gz":
                return (Gzip(jsonl), ".jsonl.gz", new ReaderOptions());
            case "jsonl.zst":
                return (Zstd(jsonl), ".jsonl.zst", new ReaderOptions());
            case "parquet-v2-zstd":
                {
                    var path = Path.Combine(_dir.Path, "v2.parquet");
                    MiniParquetWriter.Write(path, texts, rowsPerPage: 16, v2: true, MiniParquetWriter.Zstd);
                    return (File.ReadAllBytes(path), ".parquet", new ReaderOptions { TextField = "content" });
                }

            case "parquet-big-page":
                {
                    // One snappy page above the 4 MiB streaming threshold.
                    var big = texts.Select(t => t is null ? null : t + new string('z', 100_000)).ToList();
                    var path = Path.Combine(_dir.Path, "big.parquet");
                    MiniParquetWriter.Write(path, big, rowsPerPage: big.Count, v2: false, MiniParquetWriter.Snappy);
                    return (File.ReadAllBytes(path), ".parquet", new ReaderOptions { TextField = "content" });
                }

            default:
                {
                    var content = new DataField("content", typeof(string), isNullable: true);
                    var lang = new DataField("lang", typeof(string), isNullable: true);
                    using var stream = new MemoryStream();
                    var writer = ParquetWriter.CreateAsync(new ParquetSchema(content, lang), stream).GetAwaiter().GetResult();
                    try
                    {
                        foreach (var chunk in texts.Chunk(20))
                        {
                            using var rg = writer.CreateRowGroup();
                            rg.WriteAsync(content, chunk, null).GetAwaiter().GetResult();
                            rg.WriteAsync(lang, chunk.Select((_, i) => (string?)(i % 5 == 0 ? "skip" : "keep")).ToArray(), null).GetAwaiter().GetResult();
                        }
                    }
                    finally
                    {
                        writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
                    }

                    return (stream.ToArray(), ".parquet", parquetOptions);
                }
        }
    }
}
