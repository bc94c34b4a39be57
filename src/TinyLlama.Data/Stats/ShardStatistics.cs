using TinyLlama.Data.Errors;
using TinyLlama.Data.Shards;

namespace TinyLlama.Data.Stats;

/// <summary>The longest run of one repeated token id: a separator flood shows up here.</summary>
public readonly record struct TokenRun(int Id, long Length, string Shard, long Offset);

/// <summary>Counts over one shard, or over the whole stream (<see cref="Shard"/> = "all", <see cref="Index"/> = -1).</summary>
public sealed record ShardStats
{
    public required string Shard { get; init; }

    public required long Index { get; init; }

    public required long StartToken { get; init; }

    /// <summary>Token positions (the chunk size, or the whole stream), padding included.</summary>
    public required long Tokens { get; init; }

    /// <summary>Per source, in the order of <see cref="StatsReport.Sources"/>: tokens attributed by the sidecar spans.</summary>
    public required IReadOnlyList<long> TokensBySource { get; init; }

    /// <summary>Documents starting here: spans that begin at framed position 0.</summary>
    public required long Documents { get; init; }

    /// <summary>Tokens equal to the BOS id (padding with the BOS id counts: it is what the trainer sees).</summary>
    public required long Bos { get; init; }

    /// <summary>Tokens equal to the EOS id.</summary>
    public required long Eos { get; init; }

    public required long Pad { get; init; }

    public required int MinId { get; init; }

    public required int MaxId { get; init; }

    public required TokenRun LongestRun { get; init; }

    public double BosFraction => Tokens == 0 ? 0 : (double)Bos / Tokens;

    public double EosFraction => Tokens == 0 ? 0 : (double)Eos / Tokens;
}

/// <summary>Tokens of each source inside one window of the stream: <c>[Start, Start + Tokens)</c>.</summary>
public sealed record WindowShares(long Start, long Tokens, IReadOnlyList<long> TokensBySource)
{
    /// <summary>Realised share of a source in the window: its tokens over the window's tokens.</summary>
    public double Share(int source) => Tokens == 0 ? 0 : (double)TokensBySource[source] / Tokens;
}

/// <summary>What <see cref="ShardStatistics.Compute"/> found.</summary>
public sealed record StatsReport
{
    public required IReadOnlyList<string> Sources { get; init; }

    public required IReadOnlyList<string> Stages { get; init; }

    public required long ChunkSize { get; init; }

    public required int BosId { get; init; }

    public required int EosId { get; init; }

    public required int PadId { get; init; }

    public required IReadOnlyList<ShardStats> Shards { get; init; }

    public required ShardStats Total { get; init; }

    public required long WindowTokens { get; init; }

    public required IReadOnlyList<WindowShares> Windows { get; init; }

    /// <summary>Per stage index, the first stream position of a span labelled with it (-1 when none is).</summary>
    public required IReadOnlyList<long> ObservedStageStarts { get; init; }
}

/// <summary>
/// Reads a build folder's shards and sidecars, nothing else, and counts what is inside: tokens per source
/// (from the sidecar spans), documents, BOS/EOS ids, padding, id range, the longest run of one id, and the
/// share of each source per window of the token stream.
/// </summary>
public static class ShardStatistics
{
    public static StatsReport Compute(string directory, long? windowTokens = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var paths = Sidecar.OrderedPaths(directory);
        var first = Sidecar.Load(paths[0]);
        var chunk = first.ChunkSize;
        var window = windowTokens ?? chunk;
        if (window <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(windowTokens), "the window must be at least one token");
        }

        var sources = first.Sources;
        var n = sources.Count;
        var shards = new List<ShardStats>();
        var windows = new List<long[]>();
        var stageStarts = Enumerable.Repeat(-1L, first.Stages.Count).ToArray();
        var totalBySource = new long[n];
        long documents = 0, bos = 0, eos = 0, pad = 0;
        int minId = int.MaxValue, maxId = int.MinValue;

        // The run in progress crosses shard boundaries: a flood does not stop at a file's end.
        var runId = -1;
        long runLength = 0;
        var runShard = "";
        long runOffset = 0;
        var best = new TokenRun(-1, 0, "", 0);
        byte[] buffer = [];

        foreach (var sc in Sidecar.ReadInOrder(paths))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (sc.ChunkSize != chunk || !sc.Sources.SequenceEqual(sources, StringComparer.Ordinal))
            {
                throw new ShardException(sc.Shard, -1, "sidecar's chunk size or sources differ from the first shard's");
            }

            var width = ReadShard(Path.Combine(directory, sc.Shard), sc, ref buffer);
            var tokens = buffer.AsSpan(LitPkdsFormat.HeaderSize, (int)(chunk * width));

            int sMin = int.MaxValue, sMax = int.MinValue;
            long sBos = 0, sEos = 0;
            var shardBest = new TokenRun(-1, 0, sc.Shard, 0);
            long localRun = 0;
            var localId = -1;
            long localStart = 0;
            for (var o = 0; o < chunk; o++)
            {
                var id = LitPkdsFormat.ReadToken(tokens, width, o);
                sMin = Math.Min(sMin, id);
                sMax = Math.Max(sMax, id);
                sBos += id == sc.BosId ? 1 : 0;
                sEos += id == sc.EosId ? 1 : 0;

                if (id == localId)
                {
                    localRun++;
                }
                else
                {
                    localId = id;
                    localRun = 1;
                    localStart = o;
                }

                if (localRun > shardBest.Length)
                {
                    shardBest = new TokenRun(id, localRun, sc.Shard, localStart);
                }

                if (id == runId)
                {
                    runLength++;
                }
                else
                {
                    runId = id;
                    runLength = 1;
                    runShard = sc.Shard;
                    runOffset = o;
                }

                if (runLength > best.Length)
                {
                    best = new TokenRun(id, runLength, runShard, runOffset);
                }
            }

            var bySource = new long[n];
            long docs = 0;
            foreach (var span in sc.Spans)
            {
                if (span.Source < 0 || span.Source >= n || span.Offset < 0 || span.Offset + span.Tokens > chunk)
                {
                    throw new ShardException(sc.Shard, span.Offset, "sidecar span is outside the shard or names no source");
                }

                bySource[span.Source] += span.Tokens;
                docs += span.Start == 0 ? 1 : 0;
                var position = (sc.Index * chunk) + span.Offset;
                if (span.Stage >= 0 && span.Stage < stageStarts.Length && stageStarts[span.Stage] < 0)
                {
                    stageStarts[span.Stage] = position;
                }

                AddToWindows(windows, window, n, span.Source, position, span.Tokens);
            }

            for (var i = 0; i < n; i++)
            {
                totalBySource[i] += bySource[i];
            }

            documents += docs;
            bos += sBos;
            eos += sEos;
            pad += sc.Pad;
            minId = Math.Min(minId, sMin);
            maxId = Math.Max(maxId, sMax);
            shards.Add(new ShardStats
            {
                Shard = sc.Shard,
                Index = sc.Index,
                StartToken = sc.Index * chunk,
                Tokens = chunk,
                TokensBySource = bySource,
                Documents = docs,
                Bos = sBos,
                Eos = sEos,
                Pad = sc.Pad,
                MinId = sMin,
                MaxId = sMax,
                LongestRun = shardBest,
            });
        }

        var streamLength = paths.Count * chunk;
        var windowList = new List<WindowShares>();
        var windowCount = (streamLength + window - 1) / window;
        for (long w = 0; w < windowCount; w++)
        {
            var start = w * window;
            var counts = w < windows.Count ? windows[(int)w] : new long[n];
            windowList.Add(new WindowShares(start, Math.Min(window, streamLength - start), counts));
        }

        return new StatsReport
        {
            Sources = sources,
            Stages = first.Stages,
            ChunkSize = chunk,
            BosId = first.BosId,
            EosId = first.EosId,
            PadId = first.PadId,
            Shards = shards,
            Total = new ShardStats
            {
                Shard = "all",
                Index = -1,
                StartToken = 0,
                Tokens = streamLength,
                TokensBySource = totalBySource,
                Documents = documents,
                Bos = bos,
                Eos = eos,
                Pad = pad,
                MinId = minId,
                MaxId = maxId,
                LongestRun = best,
            },
            WindowTokens = window,
            Windows = windowList,
            ObservedStageStarts = stageStarts,
        };
    }

    private static void AddToWindows(List<long[]> windows, long window, int sources, int source, long position, long length)
    {
        while (length > 0)
        {
            var w = position / window;
            while (windows.Count <= w)
            {
                windows.Add(new long[sources]);
            }

            var take = Math.Min(length, ((w + 1) * window) - position);
            windows[(int)w][source] += take;
            position += take;
            length -= take;
        }
    }

    /// <summary>Reads a whole shard into the buffer and checks its header; returns the token width.</summary>
    private static int ReadShard(string path, Sidecar sidecar, ref byte[] buffer)
    {
        var name = Path.GetFileName(path);
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            Span<byte> head = stackalloc byte[LitPkdsFormat.HeaderSize];
            fs.ReadExactly(head);
            var header = LitPkdsFormat.TryReadHeader(head, out var problem) ?? throw new ShardException(name, -1, "bad header: " + problem);
            if (header.ChunkSize != sidecar.ChunkSize || fs.Length != header.FileLength)
            {
                throw new ShardException(name, -1, FormattableString.Invariant(
                    $"file is {fs.Length} bytes with chunk size {header.ChunkSize}; its sidecar says chunk size {sidecar.ChunkSize}"));
            }

            if (buffer.Length != header.FileLength)
            {
                buffer = new byte[header.FileLength];
            }

            head.CopyTo(buffer);
            fs.ReadExactly(buffer.AsSpan(LitPkdsFormat.HeaderSize));
            return header.TokenWidth;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ShardException(name, -1, "cannot read the shard: " + e.Message, e);
        }
    }
}
