using System.Globalization;
using TinyLlama.Data.Mixtures.Spec;

namespace TinyLlama.Data.Pipeline;

/// <summary>
/// What TinyLlama's loader would make of a set of shards. <see cref="Shard"/> is the last shard the finding is
/// about (-1: none in particular); a finding that is not a violation is a note (something not checked).
/// </summary>
public sealed record TrainerFinding(long Shard, string Problem, bool IsViolation);

/// <summary>
/// The trainer's constraints on shards, checked the same way by <c>plan</c> (before anything is built) and by
/// <c>verify</c> (on the shards): blocks never span files, so the chunk must be a multiple of the block; lit_gpt's
/// PackedDataset deals files to world_size × workers readers by stride and each reader loads them
/// <c>buffer_files</c> at a time, stopping (or wrapping) when fewer are left, so the shard count — and, for
/// a schedule, each stage's — must be a multiple of world_size × workers × buffer_files.
/// </summary>
public static class TrainerConstraints
{
    /// <param name="trainer">The trainer section of the spec.</param>
    /// <param name="chunkSize">Tokens per shard.</param>
    /// <param name="shardCount">Shards in the build.</param>
    /// <param name="stages">Each stage's name, first token and tokens; null when a budget is not known.</param>
    public static IReadOnlyList<TrainerFinding> Check(TrainerSpec trainer, long chunkSize, long shardCount, IReadOnlyList<(string Name, long Start, long Tokens)>? stages)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        var findings = new List<TrainerFinding>();
        var inv = CultureInfo.InvariantCulture;
        var last = shardCount - 1;
        if (chunkSize % trainer.BlockSize != 0)
        {
            findings.Add(new TrainerFinding(0, string.Create(inv,
                $"chunk size {chunkSize} is not a multiple of trainer.block_size {trainer.BlockSize}: blocks never span files, so the remainder of every shard is never trained on"), true));
        }

        var readers = (long)trainer.WorldSize * trainer.Workers;
        var group = readers * trainer.BufferFiles;
        var why = string.Create(inv,
            $"TinyLlama's loader (lit_gpt PackedDataset) deals files to world_size × workers = {readers} readers by stride, and each reader loads its files {trainer.BufferFiles} at a time (buffer_files, n_chunks) and stops, or wraps to its first file, when fewer than {trainer.BufferFiles} are left, so files beyond a multiple of {group} are skipped");
        if (shardCount % readers != 0)
        {
            findings.Add(new TrainerFinding(last, string.Create(inv,
                $"{shardCount} shards is not a multiple of world_size × workers = {readers}: the trainer's loader would silently skip {shardCount % readers} file(s)"), true));
        }
        else if (shardCount % group != 0)
        {
            findings.Add(new TrainerFinding(last, string.Create(inv,
                $"{shardCount:N0} shards is not a multiple of world_size × workers × buffer_files = {group}: {why}"), true));
        }

        foreach (var (name, start, tokens) in stages ?? [])
        {
            if (start % chunkSize == 0 && tokens % chunkSize == 0)
            {
                var shards = tokens / chunkSize;
                if (shards % group != 0)
                {
                    findings.Add(new TrainerFinding((start / chunkSize) + shards - 1, string.Create(inv,
                        $"stage '{name}' is {shards:N0} shards, not a multiple of world_size × workers × buffer_files = {group}: {why}; the stage's last buffer would mix with the next stage's files or, at the end, be skipped"), true));
                }
            }
            else
            {
                findings.Add(new TrainerFinding(-1, string.Create(inv,
                    $"stage '{name}' is not a whole number of shards ({tokens:N0} tokens from {start:N0}, {(double)tokens / chunkSize:N3} shards of {chunkSize:N0}): its shard count is not checked against the trainer's buffers"), false));
            }
        }

        return findings;
    }

    /// <summary>The spec's stages as (name, first token, tokens), or null when a budget is <c>tokens: all</c>.</summary>
    public static IReadOnlyList<(string Name, long Start, long Tokens)>? Stages(BuildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Stages.Any(s => s.Tokens is null))
        {
            return null;
        }

        var result = new List<(string, long, long)>();
        long start = 0;
        foreach (var st in spec.Stages)
        {
            result.Add((st.Name, start, st.Tokens!.Value));
            start += st.Tokens!.Value;
        }

        return result;
    }
}
