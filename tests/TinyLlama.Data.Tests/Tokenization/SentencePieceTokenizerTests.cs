using System.Security.Cryptography;
using System.Text;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Tokenization;
using static TinyLlama.Data.Tests.Tokenization.TokenizerTestTexts;

namespace TinyLlama.Data.Tests.Tokenization;

/// <summary>The tokenizer's surface and its properties that do not need the python reference.</summary>
public sealed class SentencePieceTokenizerTests
{
    [Fact]
    public void Llama2_model_loads_with_its_known_facts()
    {
        Llama2.VocabularySize.Should().Be(32000);
        Llama2.UnkId.Should().Be(0);
        Llama2.BosId.Should().Be(1);
        Llama2.EosId.Should().Be(2);
        Llama2.ModelSha256.Should().Be(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(RepoPaths.Llama2Model))));
        Llama2.UsesFastPath.Should().BeTrue();
        Llama2.SplitsBeforeSpace.Should().BeTrue("no Llama 2 piece has '▁' after another character");
    }

    [Theory]
    [InlineData("aaaa", new[] { 263, 7340, 29874 })] // ▁a aa a: equal-score ties go to the leftmost pair
    [InlineData("Hello world", new[] { 15043, 3186 })]
    [InlineData("\uFFFD", new[] { 29871, 30140 })]
    [InlineData("<s>", new[] { 529, 29879, 29958 })] // stays text
    [InlineData(" ", new[] { 259 })]
    [InlineData("", new int[0])]
    public void Pinned_ids_from_sentencepiece(string text, int[] expected) => Llama2.Encode(text).Should().Equal(expected);

    [Fact]
    public void Encode_appends_without_clearing_and_adds_no_bos_or_eos()
    {
        var ids = new List<int> { 42 };
        Llama2.Encode("Hello world"u8, ids);
        ids.Should().Equal(42, 15043, 3186);
    }

    [Fact]
    public void Encoding_utf8_bytes_and_strings_agree() =>
        Adversarial.Concat(RandomFromBlocks(200, seed: 3)).Should().AllSatisfy(text =>
        {
            var ids = new List<int>();
            Llama2.Encode(Encoding.UTF8.GetBytes(text), ids);
            ids.Should().Equal(Llama2.Encode(text));
        });

    [Fact]
    public void Chunked_and_cached_encoding_equals_the_literal_whole_text_algorithm()
    {
        // The chunk split and the cache are the speed tricks; the whole-text path is sentencepiece's loop as is.
        var texts = Adversarial.Concat(RandomFromBlocks(1000, seed: 11)).ToList();
        foreach (var text in texts)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            var literal = new List<int>();
            Llama2.EncodeWithoutChunks(bytes, literal);
            Llama2.Encode(text).Should().Equal(literal, Describe(text));
        }
    }

    [Fact]
    public void Results_stay_exact_after_the_cache_has_filled_and_been_dropped()
    {
        // Far more distinct words than the cache holds, then the same words again.
        var random = new Random(17);
        var documents = new List<string>();
        for (var d = 0; d < 60; d++)
        {
            var builder = new StringBuilder();
            for (var w = 0; w < 5000; w++)
            {
                builder.Append(' ');
                var length = random.Next(2, 10);
                for (var i = 0; i < length; i++)
                {
                    builder.Append((char)('a' + random.Next(26)));
                }
            }

            documents.Add(builder.ToString());
        }

        foreach (var document in documents.Concat(documents.Take(5)))
        {
            var literal = new List<int>();
            Llama2.EncodeWithoutChunks(Encoding.UTF8.GetBytes(document), literal);
            Llama2.Encode(document).Should().Equal(literal);
        }
    }

    [Fact]
    public void A_tiny_cache_that_turns_over_all_the_time_stays_exact()
    {
        // 128 entries and 2,048 ints per generation: common words are promoted from the older generation over
        // and over while one-off words push generations out, with text at the start (dummy prefix) and inside.
        // The short-chunk table has 4 sets of 4 entries: its entries replace one another all the time.
        var cache = new ChunkCache(slotBits: 8, arenaInts: 2048);
        var scratch = new EncoderScratch(Llama2, cache, new ShortChunkTable(setBits: 2));
        var random = new Random(29);
        string[] common = ["the", "of", "and", "    ", "if", "return", "x", "====", "日本語", "ünïcødé", "\t", "a\u2581b", " "];
        var texts = new List<string>();
        for (var d = 0; d < 300; d++)
        {
            var builder = new StringBuilder();
            var words = random.Next(0, 80);
            for (var w = 0; w < words; w++)
            {
                if (random.Next(3) == 0)
                {
                    var length = random.Next(1, 300); // some longer than the scan limit (64) and the key limit (255)
                    for (var i = 0; i < length; i++)
                    {
                        builder.Append((char)('a' + random.Next(26)));
                    }
                }
                else
                {
                    builder.Append(common[random.Next(common.Length)]);
                }

                builder.Append(random.Next(10) == 0 ? "\n" : " ");
            }

            texts.Add(builder.ToString());
        }

        texts.AddRange(Adversarial);
        foreach (var text in texts.Concat(texts))
        {
            var bytes = Encoding.UTF8.GetBytes(SentencePieceOracle.ReplaceLoneSurrogates(text));
            var literal = new List<int>();
            Llama2.EncodeWithoutChunks(bytes, literal);
            var ids = new List<int>();
            Llama2.Encode(bytes, ids, scratch);
            ids.Should().Equal(literal, Describe(text));
        }

        cache.Turnovers.Should().BeGreaterThan(50);
    }

    [Fact]
    public void Many_threads_encoding_at_once_get_the_same_ids_as_one_thread()
    {
        var texts = Adversarial.Concat(RandomFromBlocks(2000, seed: 23)).ToList();
        var expected = texts.Select(t => Llama2.Encode(t)).ToList();
        var results = new int[texts.Count][];
        Parallel.For(0, texts.Count * 4, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var k = i % texts.Count;
            var ids = new List<int>();
            Llama2.Encode(Encoding.UTF8.GetBytes(texts[k]), ids);
            results[k] = [.. ids];
        });
        for (var k = 0; k < texts.Count; k++)
        {
            results[k].Should().Equal(expected[k]);
        }
    }

    [Fact]
    public void Decode_gives_back_the_text()
    {
        var texts = Adversarial.Concat(RandomFromBlocks(500, seed: 31))
            .Where(t => !t.Contains('\u2581', StringComparison.Ordinal)) // a literal ▁ decodes as a space, as in sentencepiece
            .ToList();
        texts.Should().AllSatisfy(text => Llama2.Decode(Llama2.Encode(text)).Should().Be(text, Describe(text)));
    }

    [Fact]
    public void Decode_skips_control_pieces_and_shows_unk_as_sentencepiece_does()
    {
        // Values from python sentencepiece 0.1.97: decode([1, 2]), decode([263, 0, 263]), decode([29871, 263]).
        Llama2.Decode([1, 2]).Should().Be("");
        Llama2.Decode([263, 0, 263]).Should().Be("a \u2047  a");
        Llama2.Decode([29871, 263]).Should().Be(" a");
    }

    [Fact]
    public void Decode_refuses_ids_outside_the_vocabulary()
    {
        var act = () => Llama2.Decode([5, 32000]);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }
}
