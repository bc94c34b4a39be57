using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;
using System.Text.Json.Nodes;

namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>The demo mixture (mixtures/demo.yaml: three stages, a ramp, four sources, 128 shards), built once per test class.</summary>
public sealed class DemoBuildFixture : IDisposable
{
    public DemoBuildFixture()
    {
        SpecPath = Path.Combine(RepoPaths.RepoRoot, "mixtures", "demo.yaml");
        Spec = SpecLoader.Load(SpecPath);
        Result = BuildPipeline.Run(Spec, new BuildOptions { OutputDirectory = Good, CacheDirectory = Cache, Threads = 2 });
        Sidecars = Result.Pack.Shards
            .Select(s => JsonNode.Parse(File.ReadAllText(Result.Layout.SidecarPath(s.Name)))!.AsObject())
            .ToList();
    }

    public TempDir Dir { get; } = new();

    public string SpecPath { get; }

    public BuildSpec Spec { get; }

    public BuildResult Result { get; }

    /// <summary>The sidecars of the build, in shard order.</summary>
    public IReadOnlyList<JsonObject> Sidecars { get; }

    public string Good => Dir.Combine("good");

    /// <summary>Shared token cache: a variant of the demo spec builds in seconds.</summary>
    public string Cache => Dir.Combine("cache");

    public static string ShardName(int index) => FormattableString.Invariant($"train_demo_{index:D10}.bin");

    /// <summary>The demo spec with its paths made absolute and <paramref name="edit"/> applied, written to a temp file.</summary>
    public string VariantSpec(string name, Func<string, string> edit)
    {
        ArgumentNullException.ThrowIfNull(edit);
        var demo = Path.Combine(RepoPaths.RepoRoot, "mixtures", "demo") + "/";
        var text = File.ReadAllText(SpecPath)
            .Replace("tokenizer: demo/", "tokenizer: " + demo, StringComparison.Ordinal)
            .Replace("root: demo/", "root: " + demo, StringComparison.Ordinal);
        return Dir.Write(name + ".yaml", edit(text));
    }

    public string Copy()
    {
        var target = Dir.Combine("copy-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var file in Directory.GetFiles(Good, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(Good, file);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(target, rel))!);
            File.Copy(file, Path.Combine(target, rel));
        }

        return target;
    }

    public void Dispose() => Dir.Dispose();
}
