using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Tokenization;

namespace TinyLlama.Data.Tests.Tokenization;

/// <summary>
/// Every record of every corpus sample in ../shared/data, read by this project's own readers with each
/// corpus's preset (so the texts are what a build tokenizes: SlimPajama text, StarCoder content from
/// parquet, Proof-Pile, Proof-Pile-2 and SkyPile text), encoded by us and by python sentencepiece: the ids
/// must be identical for 100 % of the records.
/// </summary>
public sealed class CorpusExactnessTests
{
    [Theory]
    [InlineData("slimpajama", "slimpajama", "train")]
    [InlineData("slimpajama", "slimpajama", "validation")]
    [InlineData("slimpajama", "slimpajama", "test")]
    [InlineData("starcoder", "starcoderdata", null)]
    [InlineData("proof-pile", "proof-pile", "train")]
    [InlineData("proof-pile", "proof-pile", "validation")]
    [InlineData("proof-pile", "proof-pile", "test")]
    [InlineData("proof-pile-2", "proof-pile-2", "train")]
    [InlineData("proof-pile-2", "proof-pile-2", "validation")]
    [InlineData("proof-pile-2", "proof-pile-2", "test")]
    [InlineData("skypile", "skypile", null)]
    public void Every_record_of_the_corpus_sample_tokenizes_exactly_like_sentencepiece(string format, string folder, string? split)
    {
        var source = new SourceSpec
        {
            Name = format,
            Format = format,
            Root = Path.Combine(RepoPaths.SharedDir, "data", folder),
            Split = split,
            NoDefaultFilters = true, // every record, the GitHub set too
        };
        var resolved = SourceResolver.Resolve(source, RepoPaths.RepoRoot);
        var texts = new List<string>();
        foreach (var file in resolved.Files)
        {
            using var reader = RecordReaders.Open(file, resolved.Options);
            while (reader.MoveNext())
            {
                reader.Current.Outcome.Should().Be(RecordOutcome.Used, $"{file} record {reader.Current.Index} is well-formed");
                texts.Add(System.Text.Encoding.UTF8.GetString(reader.Current.Utf8Text.Span));
            }
        }

        texts.Should().NotBeEmpty();
        var tokenizer = SentencePieceTokenizer.Load(RepoPaths.Llama2Model);
        var expected = SentencePieceOracle.Encode(RepoPaths.Llama2Model, texts);
        var mismatches = Enumerable.Range(0, texts.Count).Where(i => !tokenizer.Encode(texts[i]).AsSpan().SequenceEqual(expected[i])).ToList();
        mismatches.Should().BeEmpty($"all {texts.Count} records of {folder}/{split} must give sentencepiece's ids");
    }

    [Fact]
    public void The_demo_tokenizer_is_exact_on_the_demo_corpora()
    {
        var spec = SpecLoader.Load(Path.Combine(RepoPaths.RepoRoot, "mixtures", "demo.yaml"));
        var tokenizer = SentencePieceTokenizer.Load(spec.TokenizerPath);
        var texts = new List<string>();
        foreach (var s in spec.Sources)
        {
            var resolved = SourceResolver.Resolve(s.Reader, spec.SpecDirectory);
            foreach (var file in resolved.Files)
            {
                using var reader = RecordReaders.Open(file, resolved.Options);
                while (reader.MoveNext())
                {
                    if (reader.Current.Outcome == RecordOutcome.Used)
                    {
                        texts.Add(System.Text.Encoding.UTF8.GetString(reader.Current.Utf8Text.Span));
                    }
                }
            }
        }

        var expected = SentencePieceOracle.Encode(spec.TokenizerPath, texts);
        Enumerable.Range(0, texts.Count).Count(i => !tokenizer.Encode(texts[i]).AsSpan().SequenceEqual(expected[i])).Should().Be(0);
        texts.Count.Should().BeGreaterThan(2000);
    }
}
