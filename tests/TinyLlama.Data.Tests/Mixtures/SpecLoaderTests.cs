using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;

namespace TinyLlama.Data.Tests.Mixtures;

public sealed class SpecLoaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public SpecLoaderTests() => _dir.Write("tok.model", "not read by the loader");

    public void Dispose() => _dir.Dispose();

    private const string Minimal = """
        seed: 7
        tokenizer: tok.model
        sources:
          web:
            format: jsonl
            paths: ["data/*.jsonl"]
        output:
          prefix: train
        """;

    private BuildSpec Load(string yaml, string name = "spec.yaml") => SpecLoader.Load(_dir.Write(name, yaml));

    private SpecException LoadFails(string yaml)
    {
        var act = () => Load(yaml);
        return act.Should().Throw<SpecException>().Which;
    }

    [Fact]
    public void A_minimal_spec_gets_the_documented_defaults()
    {
        var spec = Load(Minimal);

        spec.Seed.Should().Be(7);
        spec.TokenizerPath.Should().Be(_dir.Combine("tok.model"));
        spec.Output.ChunkSize.Should().Be(2049 * 1024);
        spec.Output.Separator.Should().Be(SeparatorPolicy.DocEos);
        spec.Output.Tail.Should().Be(TailPolicy.Drop);
        spec.Sources.Should().ContainSingle().Which.Reader.OnBadRecord.Should().Be(BadRecordPolicy.Fail);
        spec.Stages.Should().ContainSingle().Which.Tokens.Should().BeNull();
        spec.SpecHash.Should().MatchRegex("^[0-9a-f]{64}$");
    }

    [Fact]
    public void An_unknown_key_is_an_error_with_line_and_column()
    {
        var e = LoadFails(Minimal.Replace("  prefix: train", "  prefix: train\n  chunk_sise: 4098", StringComparison.Ordinal));

        e.Line.Should().Be(9);
        e.Column.Should().Be(3);
        e.Message.Should().Contain("chunk_sise").And.Contain("spec.yaml:9:3");
    }

    [Fact]
    public void A_misspelt_source_key_names_the_source()
    {
        var e = LoadFails(Minimal.Replace("    format: jsonl", "    format: jsonl\n    text_feild: body", StringComparison.Ordinal));

        e.Message.Should().Contain("text_feild").And.Contain("source 'web'");
        e.Line.Should().Be(6);
    }

    [Theory]
    [InlineData("separator: eos+doc", "separator")]
    [InlineData("tail: keep", "tail")]
    [InlineData("chunk_size: -5", "chunk_size")]
    [InlineData("chunk_size: 1.5K7", "chunk_size")]
    public void Bad_output_values_are_located(string line, string key)
    {
        var e = LoadFails(Minimal + "\n  " + line);

        e.Message.Should().Contain(key);
        e.Line.Should().Be(9);
    }

    [Theory]
    [InlineData("2049", 2049)]
    [InlineData("6B", 6_000_000_000)]
    [InlineData("1.5T", 1_500_000_000_000)]
    [InlineData("1_000", 1000)]
    [InlineData("2.5K", 2500)]
    public void Token_counts_take_decimal_suffixes(string text, long expected)
    {
        var spec = Load(Minimal + "\nstages:\n  - name: s\n    tokens: " + text + "\n    weights: {web: 1}\n");

        spec.Stages[0].Tokens.Should().Be(expected);
    }

    [Fact]
    public void Weights_must_name_sources_of_the_spec()
    {
        var e = LoadFails(Minimal + "\nstages:\n  - tokens: 10\n    weights: {web: 1, code: 2}\n");

        e.Message.Should().Contain("'code' is not a source");
    }

    [Fact]
    public void Extends_merges_mappings_and_the_child_wins()
    {
        _dir.Write("base.yaml", Minimal);
        var spec = Load("extends: base.yaml\nseed: 9\noutput:\n  tail: pad\n", "child.yaml");

        spec.Seed.Should().Be(9);
        spec.Output.Prefix.Should().Be("train");
        spec.Output.Tail.Should().Be(TailPolicy.Pad);
    }

    [Fact]
    public void The_spec_hash_ignores_formatting_but_not_content()
    {
        var a = Load(Minimal, "a.yaml").SpecHash;
        var b = Load("# a comment\n" + Minimal.Replace("seed: 7", "seed:   7", StringComparison.Ordinal), "b.yaml").SpecHash;
        var c = Load(Minimal.Replace("seed: 7", "seed: 8", StringComparison.Ordinal), "c.yaml").SpecHash;

        a.Should().Be(b);
        a.Should().NotBe(c);
    }

    [Fact]
    public void A_prefix_that_would_match_the_sidecar_folder_is_refused()
    {
        var e = LoadFails(Minimal.Replace("prefix: train", "prefix: side", StringComparison.Ordinal));

        e.Message.Should().Contain("sidecars");
    }

    [Fact]
    public void A_chunk_that_is_not_a_multiple_of_the_trainer_block_is_refused()
    {
        var e = LoadFails(Minimal + "\n  chunk_size: 4097\ntrainer:\n  block_size: 2049\n");

        e.Message.Should().Contain("not a multiple");
    }

    [Fact]
    public void Invalid_yaml_is_located()
    {
        var e = LoadFails("seed: 1\nsources: [a, b\n");

        e.Line.Should().BeGreaterThan(0);
        e.Message.Should().Contain("not valid YAML");
    }

    [Fact]
    public void A_missing_tokenizer_model_is_named()
    {
        var e = LoadFails(Minimal.Replace("tok.model", "missing.model", StringComparison.Ordinal));

        e.Message.Should().Contain("missing.model");
    }
}
