namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>Locates the repository and the shared data folder next to it (tests read ../shared, never copy it).</summary>
public static class RepoPaths
{
    /// <summary>The folder holding TinyLlama.Data.sln, found by walking up from the test binaries.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary><c>RepoRoot/../shared</c>.</summary>
    public static string SharedDir { get; } = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>The real Llama 2 tokenizer model in ../shared.</summary>
    public static string Llama2Model { get; } = Path.Combine(SharedDir, "tokenizers", "llama2", "tokenizer.model");

    /// <summary>The demo's own small SentencePiece model, shipped in the repo.</summary>
    public static string DemoModel { get; } = Path.Combine(RepoRoot, "mixtures", "demo", "tokenizer.model");

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TinyLlama.Data.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("TinyLlama.Data.sln not found above " + AppContext.BaseDirectory);
    }
}
