using TinyLlama.Data.Errors;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;

namespace TinyLlama.Data.Tests.Readers;

public sealed class SourceResolverTests : IDisposable
{
    private static readonly string Data = Path.Combine(RepoPaths.SharedDir, "data");
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static List<string> Relative(ResolvedSource s, string root) =>
        s.Files.Select(f => Path.GetRelativePath(root, f).Replace('\\', '/')).ToList();

    [Fact]
    public void StarCoder_takes_language_folders_and_the_content_column()
    {
        var root = Path.Combine(Data, "starcoderdata");
        var all = SourceResolver.Resolve(new SourceSpec { Name = "code", Format = "starcoder", Root = root }, "/");
        var python = SourceResolver.Resolve(new SourceSpec { Name = "code", Format = "starcoder", Root = root, Include = ["python"] }, "/");
        var noPython = SourceResolver.Resolve(new SourceSpec { Name = "code", Format = "starcoder", Root = root, Exclude = ["python"] }, "/");

        Relative(all, root).Should().Equal("c/train-00000-of-00001.parquet", "python/train-00000-of-00002.parquet", "python/train-00001-of-00002.parquet");
        all.Options.TextField.Should().Be("content");
        all.Options.Filters.Should().BeEmpty();
        Relative(python, root).Should().HaveCount(2).And.OnlyContain(p => p.StartsWith("python/", StringComparison.Ordinal));
        Relative(noPython, root).Should().Equal("c/train-00000-of-00001.parquet");
    }

    [Fact]
    public void An_unknown_subset_is_a_spec_error_listing_the_subsets_found()
    {
        var act = () => SourceResolver.Resolve(new SourceSpec { Name = "code", Format = "starcoder", Root = Path.Combine(Data, "starcoderdata"), Include = ["rust"] }, "/");

        act.Should().Throw<SpecException>().Which.Message.Should().Contain("source 'code': unknown subset(s) rust; found: c, python");
    }

    [Theory]
    [InlineData("validation", "dev/proofpile_dev.jsonl.gz")]
    [InlineData("dev", "dev/proofpile_dev.jsonl.gz")]
    [InlineData("test", "test/proofpile_test.jsonl.gz")]
    public void ProofPile_maps_validation_to_dev(string split, string file)
    {
        var root = Path.Combine(Data, "proof-pile");
        Relative(SourceResolver.Resolve(new SourceSpec { Name = "pp", Format = "proof-pile", Root = root, Split = split }, "/"), root)
            .Should().Equal(file);
    }

    [Fact]
    public void ProofPile2_selects_subsets_and_split()
    {
        var root = Path.Combine(Data, "proof-pile-2");
        var train = SourceResolver.Resolve(new SourceSpec { Name = "pp2", Format = "proof-pile-2", Root = root, Exclude = ["arxiv"] }, "/");
        var validation = SourceResolver.Resolve(new SourceSpec { Name = "pp2", Format = "proof-pile-2", Root = root, Split = "validation" }, "/");

        Relative(train, root).Should().Equal("algebraic-stack/train/python0000.jsonl.zst", "open-web-math/train/shard-0000.jsonl.zst");
        Relative(validation, root).Should().Equal("algebraic-stack/validation/python-validation.jsonl.zst", "arxiv/validation/arXiv_000.jsonl.zst");
    }

    [Fact]
    public void SkyPile_and_SlimPajama_splits_and_default_filters()
    {
        var sky = Path.Combine(Data, "skypile");
        Relative(SourceResolver.Resolve(new SourceSpec { Name = "sky", Format = "skypile", Root = "../shared/data/skypile" }, RepoPaths.RepoRoot), sky)
            .Should().Equal("data/2020-40_zh_head_0000.jsonl", "data/2021-43_zh_middle_0001.jsonl");

        var slim = SourceResolver.Resolve(new SourceSpec { Name = "s", Format = "slimpajama", Root = Path.Combine(Data, "slimpajama"), Split = "test", NoDefaultFilters = true }, "/");
        slim.Files.Should().ContainSingle().Which.Should().EndWith("test/chunk1/example_holdout_0.jsonl.zst");
        slim.Options.Filters.Should().BeEmpty();
    }

    [Fact]
    public void Generic_globs_match_star_question_mark_and_double_star_in_ordinal_order()
    {
        foreach (var f in new[] { "a/x1.jsonl", "a/x2.jsonl.gz", "a/b/c/x3.jsonl.zst", "a/B/x4.jsonl", "a/b/y.parquet", "top.jsonl" })
        {
            _dir.File(f, []);
        }

        List<string> Glob(params string[] paths) =>
            Relative(SourceResolver.Resolve(new SourceSpec { Name = "g", Format = "jsonl", Paths = paths }, _dir.Path), _dir.Path);

        Glob("a/**/*.jsonl*").Should().Equal("a/B/x4.jsonl", "a/b/c/x3.jsonl.zst", "a/x1.jsonl", "a/x2.jsonl.gz");
        Glob("a/x?.jsonl").Should().Equal("a/x1.jsonl");
        Glob("**/x*.jsonl", "top.jsonl").Should().Equal("a/B/x4.jsonl", "a/x1.jsonl", "top.jsonl");
        SourceResolver.Resolve(new SourceSpec { Name = "p", Format = "parquet", Paths = ["**/*.parquet"] }, _dir.Path)
            .Options.TextField.Should().Be("content");
    }

    [Fact]
    public void No_match_unknown_format_and_wrong_extensions_are_spec_errors()
    {
        _dir.File("a/readme.md", []);
        var noMatch = () => SourceResolver.Resolve(new SourceSpec { Name = "g", Format = "jsonl", Paths = ["nothing/*.jsonl"] }, _dir.Path);
        var wrongExt = () => SourceResolver.Resolve(new SourceSpec { Name = "g", Format = "jsonl", Paths = ["a/*"] }, _dir.Path);
        var unknown = () => SourceResolver.Resolve(new SourceSpec { Name = "g", Format = "csv", Paths = ["a/*"] }, _dir.Path);
        var emptyRoot = () => SourceResolver.Resolve(new SourceSpec { Name = "s", Format = "slimpajama", Root = _dir.Path }, _dir.Path);

        noMatch.Should().Throw<SpecException>().Which.Message.Should().Contain("source 'g': no files match 'nothing/*.jsonl'");
        wrongExt.Should().Throw<SpecException>().Which.Message.Should().Contain("'a/readme.md' matched but is not");
        unknown.Should().Throw<SpecException>().Which.Message.Should().Contain("unknown format 'csv'");
        emptyRoot.Should().Throw<SpecException>().Which.Message.Should().Contain("no files match 'train/chunk*/*.jsonl.zst'");
    }
}
