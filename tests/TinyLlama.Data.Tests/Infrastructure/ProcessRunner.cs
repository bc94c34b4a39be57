using System.Diagnostics;

namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>Runs a program to completion for a test: the reference tools, the python oracles, the CLI itself.</summary>
public static class ProcessRunner
{
    /// <summary>A run that takes longer is killed and fails the test (no test hangs CI).</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    public static Result Run(string fileName, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} did not finish within {Timeout}");
        }

        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a program that must succeed; returns its stdout, or throws with its stderr.</summary>
    public static string RunChecked(string fileName, IEnumerable<string> arguments)
    {
        var args = arguments.ToList();
        var r = Run(fileName, args);
        return r.ExitCode == 0
            ? r.StdOut
            : throw new InvalidOperationException($"{fileName} {string.Join(' ', args)} exited with {r.ExitCode}: {r.StdErr}");
    }
}
