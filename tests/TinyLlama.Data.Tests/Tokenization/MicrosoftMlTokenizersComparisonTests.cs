using Microsoft.ML.Tokenizers;
using TinyLlama.Data.Tests.Infrastructure;
using static TinyLlama.Data.Tests.Tokenization.TokenizerTestTexts;

namespace TinyLlama.Data.Tests.Tokenization;

/// <summary>
/// Microsoft.ML.Tokenizers 2.0.1's LlamaTokenizer as a second opinion. It is not our encoder because it is not
/// exact: when several candidate merges have the same score it applies the rightmost pair first, where
/// sentencepiece applies the leftmost (docs/ stack notes: 37 % of realistic documents differ). Where no such tie
/// occurs it agrees with us, which these tests pin down in both directions.
/// </summary>
public sealed class MicrosoftMlTokenizersComparisonTests
{
    private static readonly Lazy<LlamaTokenizer> Microsoft = new(() =>
    {
        using var stream = File.OpenRead(RepoPaths.Llama2Model);
        return LlamaTokenizer.Create(stream, addBeginOfSentence: false);
    });

    [Theory]
    [InlineData("Hello world")]
    [InlineData("The quick brown fox jumps over the lazy dog.")]
    [InlineData("\u4E2D\u6587\u6D4B\u8BD5\uFF0C\u6807\u70B9\u3002")]
    [InlineData("\U0001F468\u200D\U0001F469\u200D\U0001F467 emoji \U0002A6A5")]
    [InlineData("<s> stays text </s>")]
    [InlineData("line one\r\nline two\n")]
    public void Agrees_with_us_where_no_equal_score_tie_occurs(string text) =>
        Microsoft.Value.EncodeToIds(text).Should().Equal(Llama2.Encode(text));

    [Theory]
    [InlineData("aaaa")]
    [InlineData("--------")]
    [InlineData("================")]
    public void Differs_on_equal_score_ties_where_we_follow_sentencepiece(string text)
    {
        var sentencepiece = SentencePieceOracle.Encode(RepoPaths.Llama2Model, [text])[0];
        Llama2.Encode(text).Should().Equal(sentencepiece);
        Microsoft.Value.EncodeToIds(text).Should().NotEqual(sentencepiece, "Microsoft.ML.Tokenizers breaks score ties rightmost-first");
    }
}
