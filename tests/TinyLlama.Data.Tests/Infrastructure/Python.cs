using System.Diagnostics;

namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>Runs Debian's /usr/bin/python3 (which has sentencepiece, zstandard, numpy) for reference checks.</summary>
public static class Python
{
    public const string Interpreter = "/usr/bin/python3";

    public static string Run(string script, IEnumerable<string> args, string? stdin = null)
    {
        var psi = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(script);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }

        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Interpreter} {script} failed ({p.ExitCode}): {stderr.Result}");
        }

        return stdout;
    }

    /// <summary>The path of a script shipped next to the test assembly (Infrastructure/*.py).</summary>
    public static string Script(string name) => Path.Combine(AppContext.BaseDirectory, "Infrastructure", name);
}
