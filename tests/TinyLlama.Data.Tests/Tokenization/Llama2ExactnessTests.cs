using System.Text;
using TinyLlama.Data.Tests.Infrastructure;
using static TinyLlama.Data.Tests.Tokenization.TokenizerTestTexts;

namespace TinyLlama.Data.Tests.Tokenization;

/// <summary>Our ids against python sentencepiece's, run at test time, on the Llama 2 model.</summary>
public sealed class Llama2ExactnessTests
{
    [Fact]
    public void Adversarial_strings_encode_as_sentencepiece_encodes_them() => ShouldMatchOracle(Adversarial);

    [Fact]
    public void Every_code_point_up_to_U02FF_encodes_as_sentencepiece_encodes_it()
    {
        var texts = new List<string>();
        for (var cp = 0; cp <= 0x2FF; cp++)
        {
            var c = char.ConvertFromUtf32(cp);
            texts.Add(c);
            texts.Add($"x{c}{c}y {c}");
        }

        texts.Add(string.Concat(Enumerable.Range(0, 0x300).Select(char.ConvertFromUtf32)));
        ShouldMatchOracle(texts);
    }

    [Fact]
    public void Random_strings_from_many_unicode_blocks_encode_as_sentencepiece_encodes_them() =>
        ShouldMatchOracle(RandomFromBlocks(3000, seed: 20240611));

    [Fact]
    public void A_one_megabyte_mixed_document_encodes_as_sentencepiece_encodes_it()
    {
        var random = new Random(7);
        var pool = Adversarial.Concat(RandomFromBlocks(400, seed: 99)).Concat(
        [
            "The quick brown fox jumps over the lazy dog. ",
            "    for (var i = 0; i < count; i++)\n    {\n        total += values[i];\n    }\n",
            "\u5929\u4E0B\u5927\u52BF\uFF0C\u5206\u4E45\u5FC5\u5408\uFF0C\u5408\u4E45\u5FC5\u5206\u3002",
            "$$\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}$$\n",
        ]).ToArray();
        var builder = new StringBuilder();
        while (Encoding.UTF8.GetByteCount(builder.ToString()) < 1_000_000)
        {
            for (var i = 0; i < 1000; i++)
            {
                builder.Append(pool[random.Next(pool.Length)]);
            }
        }

        ShouldMatchOracle([builder.ToString()]);
    }

    [Fact]
    public void Lone_surrogates_encode_as_sentencepiece_encodes_the_text_with_U_FFFD()
    {
        string[] texts = ["a\uD800b", "\uDC00", "x\uD83D", "\uDE00y", "\uD800\uD800", "ok \uDBFF\uDFFF ok", "a \uDC00\uD800 b"];
        var expected = SentencePieceOracle.Encode(RepoPaths.Llama2Model, texts); // replaced by U+FFFD before python sees them
        var ours = texts.Select(t => Llama2.Encode(t)).ToList();
        ShouldAllMatch(texts, ours, expected);
        foreach (var (text, ids) in texts.Zip(ours))
        {
            ids.Should().Equal(Llama2.Encode(SentencePieceOracle.ReplaceLoneSurrogates(text)));
        }
    }

    [Fact]
    public void Invalid_utf8_bytes_encode_as_sentencepiece_encodes_them_one_U_FFFD_per_byte()
    {
        var texts = new List<byte[]>
        {
            new byte[] { 0x61, 0xE4, 0xB8, 0x62 }, // truncated 3-byte sequence
            new byte[] { 0xFF, 0xFE },
            new byte[] { 0xED, 0xA0, 0x80, 0x78 }, // an encoded surrogate
            new byte[] { 0xF4, 0x90, 0x80, 0x80 }, // beyond U+10FFFF
            new byte[] { 0xC0, 0xAF, 0x71 }, // overlong '/'
            new byte[] { 0x80 },
            new byte[] { 0x20, 0xE2, 0x96 }, // truncated '▁'
            new byte[] { 0xF0, 0x9F, 0x98 },
        };
        var random = new Random(5);
        for (var i = 0; i < 300; i++)
        {
            var bytes = new byte[random.Next(1, 40)];
            random.NextBytes(bytes);
            texts.Add(bytes);
        }

        var expected = SentencePieceOracle.EncodeBytes(RepoPaths.Llama2Model, texts);
        var ours = texts.Select(t =>
        {
            var ids = new List<int>();
            Llama2.Encode(t, ids);
            return ids.ToArray();
        }).ToList();
        ShouldAllMatch(texts.Select(Convert.ToHexString).ToList(), ours, expected);
    }

    [Fact]
    public void Every_record_of_the_slimpajama_and_skypile_samples_encodes_as_sentencepiece_encodes_it()
    {
        var files = Directory.GetFiles(Path.Combine(RepoPaths.SharedDir, "data", "slimpajama", "train"), "*.jsonl.zst", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(Path.Combine(RepoPaths.SharedDir, "data", "skypile", "data"), "*.jsonl"))
            .Order(StringComparer.Ordinal)
            .ToList();
        files.Should().NotBeEmpty();

        var records = SentencePieceOracle.EncodeCorpus(RepoPaths.Llama2Model, files);
        records.Should().HaveCountGreaterThan(1000);
        var texts = records.Select(r => r.Text).ToList();
        ShouldAllMatch(texts, texts.Select(t => Llama2.Encode(t)).ToList(), records.Select(r => r.Ids).ToList());

        // The same records glued into documents of about a megabyte each.
        var big = new List<string>();
        var builder = new StringBuilder();
        foreach (var text in texts)
        {
            builder.Append(text).Append("\n\n");
            if (builder.Length > 1_000_000)
            {
                big.Add(builder.ToString());
                builder.Clear();
            }
        }

        ShouldMatchOracle(big);
    }

    private static void ShouldMatchOracle(IReadOnlyList<string> texts)
    {
        var expected = SentencePieceOracle.Encode(RepoPaths.Llama2Model, texts);
        ShouldAllMatch(texts, texts.Select(t => Llama2.Encode(t)).ToList(), expected);
    }
}
