namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>Runs Debian's /usr/bin/python3 (which has sentencepiece, zstandard, numpy) for reference checks.</summary>
public static class Python
{
    public const string Interpreter = "/usr/bin/python3";

    /// <summary>Runs a script that must succeed; returns its stdout.</summary>
    public static string Run(string script, IEnumerable<string> args) => ProcessRunner.RunChecked(Interpreter, [script, .. args]);

    /// <summary>The path of a script shipped next to the test assembly (Infrastructure/*.py).</summary>
    public static string Script(string name) => Path.Combine(AppContext.BaseDirectory, "Infrastructure", name);
}
