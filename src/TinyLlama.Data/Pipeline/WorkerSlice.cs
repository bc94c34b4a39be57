using System.Globalization;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Pipeline;

/// <summary>
/// Worker <see cref="Index"/> of <see cref="Count"/>: in the tokenize step it takes input files j with
/// j mod Count = Index (files in the build's sorted order); in the pack step the contiguous shard range
/// [⌊n·Index/Count⌋, ⌊n·(Index+1)/Count⌋). Slices never overlap and together cover everything, so workers
/// need no coordinator.
/// </summary>
public sealed record WorkerSlice(int Index, int Count)
{
    public static readonly WorkerSlice All = new(0, 1);

    public bool Owns(int job) => job % Count == Index;

    public (long First, long End) Range(long shards) => (shards * Index / Count, shards * (Index + 1) / Count);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"worker {Index} of {Count}");

    /// <summary>
    /// The slice from explicit options, else from the scheduler's environment: Slurm job arrays
    /// (<c>SLURM_ARRAY_TASK_ID</c>, <c>SLURM_ARRAY_TASK_COUNT</c>) or Kubernetes Indexed Jobs
    /// (<c>JOB_COMPLETION_INDEX</c>, with the count given by option), else the whole job.
    /// </summary>
    public static WorkerSlice Resolve(int? index, int? count, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        int? Env(string name) => environment(name) is { Length: > 0 } v
            ? int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new PlanException($"{name}={v} is not a non-negative integer")
            : null;

        var i = index ?? Env("SLURM_ARRAY_TASK_ID") ?? Env("JOB_COMPLETION_INDEX");
        var n = count ?? Env("SLURM_ARRAY_TASK_COUNT");
        if (i is null && n is null)
        {
            return All;
        }

        if (i is null || n is null)
        {
            throw new PlanException(i is null
                ? "--worker-count is given but no worker index (--worker-index, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)"
                : "a worker index is set but no worker count: give --worker-count (Kubernetes Indexed Jobs: the Job's completions)");
        }

        if (n < 1 || i < 0 || i >= n)
        {
            throw new PlanException(string.Create(CultureInfo.InvariantCulture, $"worker index {i} is not in 0..{n - 1}"));
        }

        return new WorkerSlice(i.Value, n.Value);
    }
}
