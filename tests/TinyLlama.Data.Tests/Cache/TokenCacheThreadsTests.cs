using System.Globalization;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using TinyLlama.Data.Cache;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Tests.Readers;
using TinyLlama.Data.Tests.Tokenization;
using Xunit;

namespace TinyLlama.Data.Tests.Cache;

public sealed class TokenCacheThreadsTests
{
    private static readonly string[] Extensions = ["bin", "idx", "rec", "json"];

    private static readonly ReaderOptions SlimPajamaSkip = new()
    {
        OnBadRecord = BadRecordPolicy.Skip,
        Filters = [new RecordFilter("no_github", "meta.redpajama_set_name", FilterMode.Exclude, ["RedPajamaGithub"])],
    };

    [Fact]
    public void Cache_files_are_byte_identical_for_1_2_and_4_threads()
    {
        using var dir = new TempDir();
        var input = dir.File("corpus/example_train_0.jsonl.zst", ReaderTestKit.Zstd(GenerateJsonl(seed: 7, targetBytes: 6 << 20)));
        new FileInfo(input).Length.Should().BeGreaterThan(1 << 20, "a multi-MB compressed file");

        var reference = BuildWith(dir, input, threads: 1, "t1");
        foreach (var threads in new[] { 2, 4 })
        {
            var other = BuildWith(dir, input, threads, "t" + threads.ToString(CultureInfo.InvariantCulture));
            foreach (var ext in Extensions)
            {
                File.ReadAllBytes(other + "." + ext).Should().Equal(File.ReadAllBytes(reference + "." + ext), $"{ext} with {threads} threads");
            }
        }
    }

    [Fact]
    public void Cache_holds_each_used_document_encoded_alone_in_file_order_with_every_record_counted()
    {
        using var dir = new TempDir();
        var input = dir.File("corpus/example_train_0.jsonl.zst", ReaderTestKit.Zstd(GenerateJsonl(seed: 11, targetBytes: 2 << 20)));
        var tokenizer = TokenizerTestTexts.Llama2;
        var cache = new TokenCache(dir.Combine("cache"), tokenizer) { Threads = 3 };
        var entry = cache.GetOrBuild(input, SlimPajamaSkip, null, CancellationToken.None);

        var expected = new List<ushort>();
        var records = new List<long>();
        var sizes = new List<int>();
        var all = ReaderTestKit.ReadAll(input, SlimPajamaSkip);
        using (var reader = RecordReaders.Open(input, SlimPajamaSkip))
        {
            var ids = new List<int>();
            while (reader.MoveNext())
            {
                if (reader.Current.Outcome != RecordOutcome.Used)
                {
                    continue;
                }

                ids.Clear();
                tokenizer.Encode(reader.Current.Utf8Text.Span, ids);
                expected.AddRange(ids.Select(i => (ushort)i));
                records.Add(reader.Current.Index);
                sizes.Add(ids.Count);
            }
        }

        var bin = File.ReadAllBytes(entry.BinPath);
        var actual = new ushort[bin.Length / 2];
        Buffer.BlockCopy(bin, 0, actual, 0, bin.Length);
        actual.Should().Equal(expected);
        var index = entry.ReadIndex().ToList();
        index.Select(d => d.Record).Should().Equal(records);
        index.Select(d => d.Tokens).Should().Equal(sizes);
        entry.DocumentCount.Should().Be(sizes.Count);
        entry.Tokens.Should().Be(sizes.Sum());
        entry.Counts.Read.Should().Be(all.Count);
        entry.Counts.Used.Should().Be(all.Count(r => r.Outcome == RecordOutcome.Used));
        entry.Counts.Empty.Should().Be(all.Count(r => r.Outcome == RecordOutcome.Empty)).And.BeGreaterThan(0);
        entry.Counts.FilteredTotal.Should().Be(all.Count(r => r.Outcome == RecordOutcome.Filtered)).And.BeGreaterThan(0);
        entry.Counts.RejectedTotal.Should().Be(all.Count(r => r.Outcome == RecordOutcome.Rejected)).And.BeGreaterThan(0);
        entry.Counts.TextBytes.Should().Be(all.Where(r => r.Outcome == RecordOutcome.Used).Sum(r => (long)r.Utf8Bytes));
    }

    [Fact]
    public void Several_files_on_a_shared_thread_budget_give_the_entries_each_file_gets_alone()
    {
        using var dir = new TempDir();
        var inputs = Enumerable.Range(0, 5)
            .Select(i => dir.File($"corpus/example_train_{i}.jsonl.zst", ReaderTestKit.Zstd(GenerateJsonl(seed: 100 + i, targetBytes: (i + 1) * 200_000))))
            .ToList();
        var tokenizer = TokenizerTestTexts.Llama2;
        var together = new TokenCache(dir.Combine("together"), tokenizer)
            .GetOrBuildAll([.. inputs.Select(p => (p, SlimPajamaSkip)), (inputs[0], SlimPajamaSkip)], threads: 3, null, CancellationToken.None);
        together.Should().HaveCount(6);
        together[5].BasePath.Should().Be(together[0].BasePath, "the same file twice is built once");

        var alone = new TokenCache(dir.Combine("alone"), tokenizer);
        for (var i = 0; i < inputs.Count; i++)
        {
            var single = alone.GetOrBuild(inputs[i], SlimPajamaSkip, null, CancellationToken.None);
            foreach (var ext in new[] { "bin", "idx", "rec" })
            {
                File.ReadAllBytes(together[i].BasePath + "." + ext).Should().Equal(File.ReadAllBytes(single.BasePath + "." + ext));
            }
        }
    }

    [Fact]
    public void A_bad_record_under_fail_stops_the_build_naming_the_file_and_leaves_no_entry()
    {
        using var dir = new TempDir();
        var good = Encoding.UTF8.GetString(GenerateJsonl(seed: 3, targetBytes: 3 << 20, withBadLines: false));
        var input = dir.File("corpus/bad.jsonl.zst", ReaderTestKit.Zstd(Encoding.UTF8.GetBytes(good + "{not json\n" + good)));
        var cache = new TokenCache(dir.Combine("cache"), TokenizerTestTexts.Llama2) { Threads = 4 };

        var act = () => cache.GetOrBuild(input, new ReaderOptions(), null, CancellationToken.None);

        act.Should().Throw<Errors.BadInputException>().Which.Message.Should().Contain("bad.jsonl.zst");
        Directory.EnumerateFiles(dir.Combine("cache")).Should().BeEmpty("no entry and no temp file is left behind");
    }

    /// <summary>Builds the file's entry in a fresh cache folder with the given thread count; returns its base path.</summary>
    private static string BuildWith(TempDir dir, string input, int threads, string folder)
    {
        var cache = new TokenCache(dir.Combine(folder), TokenizerTestTexts.Llama2) { Threads = threads };
        var entry = cache.GetOrBuild(input, SlimPajamaSkip, null, CancellationToken.None);
        entry.Counts.Used.Should().BeGreaterThan(100);
        entry.ReadIndex().Max(d => d.Tokens).Should().BeGreaterThan(20_000, "some documents are long");
        return entry.BasePath;
    }

    /// <summary>
    /// SlimPajama-style lines: mostly short documents, some of 100 KB–1 MB, prose, code, Chinese and random
    /// words, with empty texts, GitHub records (filtered) and, unless told not to, bad lines (rejected under skip).
    /// </summary>
    internal static byte[] GenerateJsonl(int seed, int targetBytes, bool withBadLines = true)
    {
        var random = new Random(seed);
        var words = new[] { "the", "model", "reads", "tokens", "in", "order", "and", "a", "shard", "holds", "documents", "of", "text", "data", "is", "never", "lost" };
        var chinese = "数据处理模型训练中文文本分词测试语料";
        var output = new MemoryStream();
        var line = 0;
        while (output.Length < targetBytes)
        {
            var kind = random.Next(100);
            var text = new StringBuilder();
            var length = kind < 2 ? random.Next(100_000, 1_000_000) : random.Next(0, 3000);
            while (text.Length < length)
            {
                switch (random.Next(6))
                {
                    case 0:
                        text.Append("    if (x").Append(random.Next(1000)).Append(" > 0) {\n        return y;\n    }\n");
                        break;
                    case 1:
                        for (var i = random.Next(1, 20); i > 0; i--)
                        {
                            text.Append(chinese[random.Next(chinese.Length)]);
                        }

                        break;
                    case 2:
                        for (var i = random.Next(1, 8); i > 0; i--)
                        {
                            text.Append((char)('a' + random.Next(26)));
                        }

                        text.Append(' ');
                        break;
                    default:
                        text.Append(words[random.Next(words.Length)]).Append(random.Next(10) == 0 ? ".\n" : " ");
                        break;
                }
            }

            string json;
            if (withBadLines && line % 97 == 50)
            {
                json = "{\"text\": broken";
            }
            else if (line % 53 == 20)
            {
                json = "{\"text\": \"\", \"meta\": {\"redpajama_set_name\": \"RedPajamaC4\"}}";
            }
            else
            {
                var set = line % 31 == 5 ? "RedPajamaGithub" : "RedPajamaCommonCrawl";
                json = JsonSerializer.Serialize(new { text = text.ToString(), meta = new { redpajama_set_name = set } });
            }

            output.Write(Encoding.UTF8.GetBytes(json + "\n"));
            line++;
        }

        return output.ToArray();
    }
}
