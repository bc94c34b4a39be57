namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>Where the repository and the shared, read-only fixtures (../shared) are, found from the test binary.</summary>
internal static class RepoPaths
{
    private static readonly Lazy<string> Root = new(FindRoot);

    /// <summary>The folder that holds TinyLlama.Data.sln.</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>The shared fixtures folder next to the repository (tokenizers, sample corpora).</summary>
    public static string SharedDir => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>The Llama 2 sentencepiece model.</summary>
    public static string Llama2Model => Path.Combine(SharedDir, "tokenizers", "llama2", "tokenizer.model");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TinyLlama.Data.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no TinyLlama.Data.sln above {AppContext.BaseDirectory}");
    }
}
