namespace TinyLlama.Data.Errors;

/// <summary>
/// The one exception family for problems with the user's data, spec or shards (as opposed to bugs).
/// Every instance carries where the problem is; the CLI prints <see cref="Exception.Message"/> as one line
/// and maps <see cref="ExitCode"/> to the process exit code.
/// </summary>
public abstract class TinyLlamaDataException : Exception
{
    protected TinyLlamaDataException(string message, Exception? inner = null) : base(message, inner) { }

    /// <summary>The documented process exit code for this kind of failure (see docs/cli.md).</summary>
    public abstract int ExitCode { get; }
}

/// <summary>Bad input data: names the file, the record (0-based line or row) and the byte offset.</summary>
public sealed class BadInputException : TinyLlamaDataException
{
    public BadInputException(string file, long record, long byteOffset, string problem, Exception? inner = null)
        : base(Format(file, record, byteOffset, problem), inner)
    {
        File = file;
        Record = record;
        ByteOffset = byteOffset;
        Problem = problem;
    }

    public string File { get; }

    /// <summary>0-based record index (line of the decompressed stream, or parquet row); -1 when not known.</summary>
    public long Record { get; }

    /// <summary>Byte offset in the decompressed stream (jsonl) or in the file (parquet); -1 when not known.</summary>
    public long ByteOffset { get; }

    public string Problem { get; }

    public override int ExitCode => ExitCodes.BadInput;

    private static string Format(string file, long record, long byteOffset, string problem)
    {
        var where = file;
        if (record >= 0)
        {
            where += FormattableString.Invariant($": record {record}");
        }

        if (byteOffset >= 0)
        {
            where += FormattableString.Invariant($" (byte offset {byteOffset})");
        }

        return $"{where}: {problem}";
    }
}

/// <summary>A bad spec: names the spec file and, where known, the YAML line and column (1-based).</summary>
public sealed class SpecException : TinyLlamaDataException
{
    public SpecException(string file, long line, long column, string problem, Exception? inner = null)
        : base(line > 0
            ? FormattableString.Invariant($"{file}:{line}:{column}: {problem}")
            : $"{file}: {problem}", inner)
    {
        File = file;
        Line = line;
        Column = column;
        Problem = problem;
    }

    public string File { get; }

    public long Line { get; }

    public long Column { get; }

    public string Problem { get; }

    public override int ExitCode => ExitCodes.BadSpec;
}

/// <summary>A shard (or its sidecar) that is not what it must be: names the shard and the token offset.</summary>
public sealed class ShardException : TinyLlamaDataException
{
    public ShardException(string shard, long tokenOffset, string problem, Exception? inner = null)
        : base(tokenOffset >= 0
            ? FormattableString.Invariant($"{shard}: token {tokenOffset}: {problem}")
            : $"{shard}: {problem}", inner)
    {
        Shard = shard;
        TokenOffset = tokenOffset;
        Problem = problem;
    }

    public string Shard { get; }

    public long TokenOffset { get; }

    public string Problem { get; }

    public override int ExitCode => ExitCodes.BadShard;
}

/// <summary>A plan that cannot be carried out (a source runs out, a trainer constraint fails).</summary>
public sealed class PlanException : TinyLlamaDataException
{
    public PlanException(string problem) : base(problem) => Problem = problem;

    public string Problem { get; }

    public override int ExitCode => ExitCodes.Infeasible;
}

/// <summary>An I/O failure on a path we write or read (disk full, permissions, vanished file).</summary>
public sealed class IoFailureException : TinyLlamaDataException
{
    public IoFailureException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        Path = path;
        Problem = problem;
    }

    public string Path { get; }

    public string Problem { get; }

    public override int ExitCode => ExitCodes.Io;
}

/// <summary>The process exit codes, documented in docs/cli.md.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Usage = 1;
    public const int BadSpec = 2;
    public const int BadInput = 3;
    public const int BadShard = 4;
    public const int Infeasible = 5;
    public const int Io = 6;
    public const int VerifyFailed = 7;
    public const int Cancelled = 130;
    public const int Bug = 70;
}
