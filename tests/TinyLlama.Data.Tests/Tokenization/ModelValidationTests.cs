using System.Text;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Tokenization;
using static TinyLlama.Data.Tests.Tokenization.TokenizerTestTexts;

namespace TinyLlama.Data.Tests.Tokenization;

/// <summary>
/// Models other than Llama 2, trained with <c>spm_train</c> in a temp folder at test time: the ones we cannot
/// encode exactly are refused with a clear message; the BPE ones we accept are checked against python sentencepiece.
/// </summary>
public sealed class ModelValidationTests : IDisposable
{
    private const string Identity = "--normalization_rule_name=identity";
    private const string KeepSpaces = "--remove_extra_whitespaces=false";

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("spm-models-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void A_unigram_model_is_refused()
    {
        var model = Train("unigram", "--model_type=unigram", "--vocab_size=300");
        var act = () => SentencePieceTokenizer.Load(model);
        act.Should().Throw<SpecException>().Which.Message.Should().Contain("UNIGRAM").And.Contain(model);
    }

    [Fact]
    public void A_bpe_model_with_the_nfkc_charsmap_is_refused() =>
        LoadingShouldFail(Train("nfkc", "--model_type=bpe", "--vocab_size=300"), "charsmap");

    [Fact]
    public void A_bpe_model_that_removes_extra_whitespace_is_refused() =>
        LoadingShouldFail(Train("squeeze", "--model_type=bpe", "--vocab_size=300", Identity), "remove_extra_whitespaces");

    [Fact]
    public void A_garbage_file_is_refused()
    {
        var path = Path.Combine(_dir.FullName, "garbage.model");
        var random = new Random(1);
        var bytes = new byte[5000];
        random.NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        LoadingShouldFail(path, "not a sentencepiece model");
    }

    [Fact]
    public void A_text_file_is_refused()
    {
        var path = Path.Combine(_dir.FullName, "text.model");
        File.WriteAllText(path, "this is not a model\n");
        var act = () => SentencePieceTokenizer.Load(path);
        act.Should().Throw<SpecException>();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(250_000)]
    [InlineData(499_000)]
    public void A_truncated_llama2_model_is_refused(int length)
    {
        var path = Path.Combine(_dir.FullName, "truncated.model");
        File.WriteAllBytes(path, File.ReadAllBytes(RepoPaths.Llama2Model)[..length]);
        var act = () => SentencePieceTokenizer.Load(path);
        act.Should().Throw<SpecException>();
    }

    [Fact]
    public void An_empty_or_missing_file_is_refused()
    {
        var empty = Path.Combine(_dir.FullName, "empty.model");
        File.WriteAllBytes(empty, []);
        LoadingShouldFail(empty, "no pieces");
        LoadingShouldFail(Path.Combine(_dir.FullName, "missing.model"), "cannot read");
    }

    [Fact]
    public void A_bpe_model_without_byte_fallback_encodes_unknown_characters_as_unk_like_sentencepiece() =>
        ShouldMatchOracle(Train("nofallback", "--model_type=bpe", "--vocab_size=400", Identity, KeepSpaces, "--character_coverage=0.98"), expectFastPath: true);

    [Fact]
    public void A_bpe_model_with_byte_fallback_encodes_like_sentencepiece() =>
        ShouldMatchOracle(Train("fallback", "--model_type=bpe", "--vocab_size=600", Identity, KeepSpaces, "--byte_fallback=true"), expectFastPath: true);

    [Fact]
    public void A_bpe_model_without_dummy_prefix_encodes_like_sentencepiece() =>
        ShouldMatchOracle(Train("noprefix", "--model_type=bpe", "--vocab_size=400", Identity, KeepSpaces, "--add_dummy_prefix=false", "--byte_fallback=true"), expectFastPath: true);

    [Fact]
    public void A_bpe_model_with_user_defined_pieces_matches_them_whole_like_sentencepiece() =>
        ShouldMatchOracle(
            Train("userdefined", "--model_type=bpe", "--vocab_size=400", Identity, KeepSpaces, "--byte_fallback=true",
                "--user_defined_symbols=<tag>,the,ing,\u2581and,@@"),
            expectFastPath: false,
            extra: ["<tag>the thing<tag>", "@@@@@", "and\u2581and and", "thethe", "<ta<tag>g>"]);

    [Fact]
    public void A_bpe_model_with_unused_pieces_resegments_them_like_sentencepiece()
    {
        var trained = Train("unused", "--model_type=bpe", "--vocab_size=400", Identity, KeepSpaces, "--byte_fallback=true");

        // Mark a few frequent multi-character pieces (the first merges learned) as UNUSED, as a model author can.
        var multi = ModelProtoEditor.PieceTexts(File.ReadAllBytes(trained))
            .Where(p => p.Length > 1 && !p.StartsWith('<')).ToList();
        var victims = new[] { multi[0], multi[1], multi[2], multi[7], multi[20] };
        var path = Path.Combine(_dir.FullName, "unused-marked.model");
        File.WriteAllBytes(path, ModelProtoEditor.SetPieceTypes(File.ReadAllBytes(trained), victims, newType: 5));
        ShouldMatchOracle(path, expectFastPath: false);
    }

    [Fact]
    public void A_user_defined_piece_that_other_pieces_are_built_from_stays_frozen_like_sentencepiece()
    {
        // spm_train never builds pieces on top of user-defined ones; re-typing learned pieces makes such a model.
        var trained = Train("frozen", "--model_type=bpe", "--vocab_size=400", Identity, KeepSpaces, "--byte_fallback=true");
        var multi = ModelProtoEditor.PieceTexts(File.ReadAllBytes(trained))
            .Where(p => p.Length > 1 && !p.StartsWith('<')).ToList();
        var path = Path.Combine(_dir.FullName, "frozen-marked.model");
        File.WriteAllBytes(path, ModelProtoEditor.SetPieceTypes(File.ReadAllBytes(trained), [multi[0], multi[3]], newType: 4));
        ShouldMatchOracle(path, expectFastPath: false);
    }

    private static void LoadingShouldFail(string path, string reason)
    {
        var act = () => SentencePieceTokenizer.Load(path);
        act.Should().Throw<SpecException>().Which.Message.Should().Contain(reason).And.Contain(path);
    }

    private static void ShouldMatchOracle(string model, bool expectFastPath, IEnumerable<string>? extra = null)
    {
        var tokenizer = SentencePieceTokenizer.Load(model);
        tokenizer.UsesFastPath.Should().Be(expectFastPath);
        var texts = Adversarial.Concat(RandomFromBlocks(500, seed: 41)).Concat(TrainingLines(300, seed: 2)).Concat(extra ?? []).ToList();
        var expected = SentencePieceOracle.Encode(model, texts);
        ShouldAllMatch(texts, texts.Select(t => tokenizer.Encode(t)).ToList(), expected);
        foreach (var text in texts.Take(200))
        {
            var literal = new List<int>();
            tokenizer.EncodeWithoutChunks(Encoding.UTF8.GetBytes(SentencePieceOracle.ReplaceLoneSurrogates(text)), literal);
            tokenizer.Encode(text).Should().Equal(literal);
        }
    }

    private static IEnumerable<string> TrainingLines(int count, int seed)
    {
        string[] words =
        [
            "the", "then", "there", "thing", "nothing", "and", "a", "an", "in", "into", "hello", "world", "token", "tokens",
            "aaaa", "----", "    ", "x", "42", "3.14", "<tag>", "@@", "\u4E2D\u6587", "caf\u00E9", "na\u00EFve", "\t",
        ];
        string[] syllables = ["ka", "to", "ri", "en", "th", "ing", "qu", "ax", "ble", "str", "o", "e", "\u00E9", "\u0436\u0438"];
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var builder = new StringBuilder();
            var length = random.Next(3, 30);
            for (var w = 0; w < length; w++)
            {
                if (random.Next(3) == 0)
                {
                    for (var s = random.Next(1, 5); s > 0; s--)
                    {
                        builder.Append(syllables[random.Next(syllables.Length)]);
                    }
                }
                else
                {
                    builder.Append(words[random.Next(words.Length)]);
                }

                builder.Append(random.Next(6) == 0 ? "  " : " ");
            }

            yield return builder.ToString().TrimEnd();
        }
    }

    private string Train(string name, params string[] options)
    {
        var input = Path.Combine(_dir.FullName, name + ".txt");
        File.WriteAllLines(input, TrainingLines(3000, seed: 1), new UTF8Encoding(false));
        var prefix = Path.Combine(_dir.FullName, name);
        SentencePieceOracle.Run("spm_train", [$"--input={input}", $"--model_prefix={prefix}", "--num_threads=1", "--minloglevel=2", "--hard_vocab_limit=false", .. options]);
        return prefix + ".model";
    }
}
