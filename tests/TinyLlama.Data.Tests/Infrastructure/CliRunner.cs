namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>Runs the real tinyllama-data command (built next to the tests) as a child process.</summary>
public static class CliRunner
{
    public static ProcessRunner.Result Run(string workingDirectory, params string[] args) =>
        ProcessRunner.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "tinyllama-data.dll"), .. args], workingDirectory);
}
