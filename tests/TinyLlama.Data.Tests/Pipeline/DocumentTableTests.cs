using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using TinyLlama.Data.Cache;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Tests.Tokenization;
using Xunit;

namespace TinyLlama.Data.Tests.Pipeline;

/// <summary>
/// The document table the plan and the packer read documents from: every lookup must give what the cache's
/// own index says, whatever the size of its block cache, and a corrupt index must be refused when it is read.
/// </summary>
public sealed class DocumentTableTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Two sources: files of 1,000, 0 and 700 short documents; then one file of 500.</summary>
    private TokenCacheEntry[][] Entries()
    {
        var cache = new TokenCache(_dir.Combine("cache"), TokenizerTestTexts.Llama2) { Threads = 2 };
        var options = new ReaderOptions { TextField = "text" };
        TokenCacheEntry Make(string name, int documents, int seed)
        {
            var rng = new Random(seed);
            var sb = new StringBuilder();
            for (var i = 0; i < documents; i++)
            {
                // Some empty records too: they are counted, not cached, so record numbers skip them.
                var words = rng.Next(4) == 0 ? 0 : rng.Next(1, 30);
                sb.Append(JsonSerializer.Serialize(new { text = string.Join(' ', Enumerable.Range(0, words).Select(w => "w" + rng.Next(500))) })).Append('\n');
            }

            return cache.GetOrBuild(_dir.Write(name, sb.ToString()), options, null, CancellationToken.None);
        }

        return
        [
            [Make("a/0.jsonl", 1000, 1), Make("a/1.jsonl", 0, 2), Make("a/2.jsonl", 700, 3)],
            [Make("b/0.jsonl", 500, 4)],
        ];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public void Every_lookup_gives_what_the_cache_index_says_whatever_the_block_cache(int blocks)
    {
        var entries = Entries();
        var expected = entries.Select(files => files.SelectMany(e => e.ReadIndex().Select(d => (Entry: e, Doc: d))).ToList()).ToList();
        expected[0].Count.Should().BeGreaterThan(3 * DocumentTable.RecordsPerBlock / 2, "the first source spans several blocks");
        expected[0].Count(x => x.Entry == entries[0][0]).Should().NotBe(0).And.Match(n => n % DocumentTable.RecordsPerBlock != 0, "the third file starts inside a block");

        using var table = DocumentTable.Build(entries, _dir.Combine("out"), CancellationToken.None, (long)blocks * DocumentTable.BlockBytes);
        Directory.GetFiles(_dir.Combine("out")).Should().BeEmpty("the table's file is unlinked as soon as it is open");
        table.SourceCount.Should().Be(2);
        var rng = new Random(blocks);
        for (var i = 0; i < 20_000; i++)
        {
            var s = rng.Next(2);
            var d = rng.Next(expected[s].Count);
            table.Get(s, d).Should().Be(expected[s][d].Doc);
            table.Tokens(s, d).Should().Be(expected[s][d].Doc.Tokens);
            var file = table.FileOf(s, d);
            entries[s][file].Should().BeSameAs(expected[s][d].Entry);
            table.Get(s, file, d - table.FileStart(s, file)).Should().Be(expected[s][d].Doc);
        }

        table.TokenCount(0).Should().Be(expected[0].Sum(x => (long)x.Doc.Tokens));
        table.TokenCount(1).Should().Be(expected[1].Sum(x => (long)x.Doc.Tokens));
        table.DocumentCount(0).Should().Be(expected[0].Count);
        table.DocumentCount(1).Should().Be(expected[1].Count);
        table.FileCount(0).Should().Be(3);
        table.FileStart(0, 2).Should().Be(table.FileStart(0, 1), "the empty file holds no document");
        var tableBlocks = ((expected[0].Count + expected[1].Count) / DocumentTable.RecordsPerBlock) + 1;
        if (blocks >= tableBlocks)
        {
            table.BlockReads.Should().Be(tableBlocks, "a cache that holds the table reads each block once");
        }
        else
        {
            table.BlockReads.Should().BeGreaterThan(tableBlocks * 10, "a small cache evicts and reads blocks again");
        }

        for (var s = 0; s < 2; s++)
        {
            table.SequentialTokens(s).Should().Equal(expected[s].Select(x => x.Doc.Tokens), "a sequential pass reads past the cache");
        }

        var act = () => table.Get(1, expected[1].Count);
        act.Should().Throw<ArgumentOutOfRangeException>();
        Exception? fromOtherThread = null;
        var thread = new Thread(() => fromOtherThread = Record.Exception(() => table.Get(0, 0)));
        thread.Start();
        thread.Join();
        fromOtherThread.Should().BeOfType<InvalidOperationException>("the block cache belongs to one thread");
    }

    [Theory]
    [InlineData("pointer")]
    [InlineData("last size")]
    [InlineData("record")]
    public void A_corrupt_cache_index_is_refused_naming_the_file(string damage)
    {
        var entries = Entries();
        var entry = entries[0][2];
        var n = entry.DocumentCount;
        var idx = File.ReadAllBytes(entry.IndexPath);
        var rec = File.ReadAllBytes(entry.RecordsPath);
        var sizes = TokenCacheFormat.IndexHeaderSize;
        var pointers = sizes + (4 * n);
        string expectedFile;
        switch (damage)
        {
            case "pointer":
                BinaryPrimitives.WriteInt64LittleEndian(idx.AsSpan(pointers + (8 * 300)), BinaryPrimitives.ReadInt64LittleEndian(idx.AsSpan(pointers + (8 * 300))) + 2);
                expectedFile = entry.IndexPath;
                break;
            case "last size":
                BinaryPrimitives.WriteInt32LittleEndian(idx.AsSpan(sizes + (4 * (n - 1))), BinaryPrimitives.ReadInt32LittleEndian(idx.AsSpan(sizes + (4 * (n - 1)))) + 1);
                expectedFile = entry.IndexPath;
                break;
            default:
                BinaryPrimitives.WriteInt64LittleEndian(rec.AsSpan(8 * 200), BinaryPrimitives.ReadInt64LittleEndian(rec.AsSpan(8 * 199)));
                expectedFile = entry.RecordsPath;
                break;
        }

        File.WriteAllBytes(entry.IndexPath, idx);
        File.WriteAllBytes(entry.RecordsPath, rec);
        var act = () => DocumentTable.Build(entries, _dir.Combine("out"), CancellationToken.None).Dispose();
        act.Should().Throw<IoFailureException>().Which.Message.Should().Contain(expectedFile).And.Contain("to rebuild");
        Directory.GetFiles(_dir.Combine("out")).Should().BeEmpty();
    }
}
