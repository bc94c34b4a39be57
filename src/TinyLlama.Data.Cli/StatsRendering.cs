using System.Globalization;
using System.Text.Json.Nodes;
using TinyLlama.Data.Stats;

namespace TinyLlama.Data.Cli;

/// <summary>Renders a <see cref="StatsReport"/> as a table or as JSON; computes nothing.</summary>
internal static class StatsRendering
{
    public static void Table(StatsReport r, TextWriter o)
    {
        var sourceWidth = r.Sources.Select(s => Math.Max(s.Length, 9)).ToList();
        var head = FormattableString.Invariant($"{"shard",-34}");
        for (var i = 0; i < r.Sources.Count; i++)
        {
            head += " " + r.Sources[i].PadLeft(sourceWidth[i]);
        }

        head += FormattableString.Invariant($" {"docs",7} {"bos",7} {"bos%",6} {"eos",7} {"eos%",6} {"pad",7} {"min",6} {"max",6} {"longest run",16}");
        o.WriteLine(head);
        foreach (var s in r.Shards.Append(r.Total))
        {
            o.WriteLine(Row(s, sourceWidth));
        }

        var run = r.Total.LongestRun;
        o.WriteLine(FormattableString.Invariant(
            $"longest run: id {run.Id} × {run.Length:N0}, starting in {run.Shard} at token {run.Offset} (ids {r.Total.MinId}..{r.Total.MaxId}; bos {r.BosId}, eos {r.EosId}, pad {r.PadId})"));

        o.WriteLine();
        o.WriteLine(FormattableString.Invariant($"share of each source per window of {r.WindowTokens:N0} tokens"));
        var wh = FormattableString.Invariant($"{"window start",14} {"tokens",10}");
        for (var i = 0; i < r.Sources.Count; i++)
        {
            wh += " " + r.Sources[i].PadLeft(sourceWidth[i]);
        }

        o.WriteLine(wh);
        foreach (var w in r.Windows)
        {
            var line = FormattableString.Invariant($"{w.Start,14:N0} {w.Tokens,10:N0}");
            for (var i = 0; i < r.Sources.Count; i++)
            {
                line += " " + (w.Share(i) * 100).ToString("0.0", CultureInfo.InvariantCulture).PadLeft(sourceWidth[i] - 1) + "%";
            }

            o.WriteLine(line);
        }
    }

    private static string Row(ShardStats s, List<int> widths)
    {
        var line = FormattableString.Invariant($"{s.Shard,-34}");
        for (var i = 0; i < s.TokensBySource.Count; i++)
        {
            line += " " + s.TokensBySource[i].ToString("N0", CultureInfo.InvariantCulture).PadLeft(widths[i]);
        }

        return line + FormattableString.Invariant(
            $" {s.Documents,7:N0} {s.Bos,7:N0} {s.BosFraction * 100,5:0.00}% {s.Eos,7:N0} {s.EosFraction * 100,5:0.00}% {s.Pad,7:N0} {s.MinId,6} {s.MaxId,6} {FormattableString.Invariant($"{s.LongestRun.Id}×{s.LongestRun.Length}"),16}");
    }

    public static JsonObject Json(StatsReport r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return new JsonObject
        {
            ["sources"] = new JsonArray([.. r.Sources.Select(s => (JsonNode?)s)]),
            ["stages"] = new JsonArray([.. r.Stages.Select(s => (JsonNode?)s)]),
            ["chunk_size"] = r.ChunkSize,
            ["bos_id"] = r.BosId,
            ["eos_id"] = r.EosId,
            ["pad_id"] = r.PadId,
            ["total"] = ShardJson(r.Total, r.Sources),
            ["shards"] = new JsonArray([.. r.Shards.Select(s => (JsonNode?)ShardJson(s, r.Sources))]),
            ["window_tokens"] = r.WindowTokens,
            ["windows"] = new JsonArray([.. r.Windows.Select(w => (JsonNode?)new JsonObject
            {
                ["start"] = w.Start,
                ["tokens"] = w.Tokens,
                ["by_source"] = BySource(w.TokensBySource, r.Sources),
                ["share"] = new JsonObject(r.Sources.Select((name, i) => KeyValuePair.Create(name, (JsonNode?)Math.Round(w.Share(i), 6)))),
            })]),
            ["stage_starts_observed"] = new JsonArray([.. r.ObservedStageStarts.Select(x => (JsonNode?)x)]),
        };
    }

    private static JsonObject ShardJson(ShardStats s, IReadOnlyList<string> sources) => new()
    {
        ["shard"] = s.Shard,
        ["index"] = s.Index,
        ["start_token"] = s.StartToken,
        ["tokens"] = s.Tokens,
        ["by_source"] = BySource(s.TokensBySource, sources),
        ["documents"] = s.Documents,
        ["bos"] = s.Bos,
        ["bos_fraction"] = Math.Round(s.BosFraction, 6),
        ["eos"] = s.Eos,
        ["eos_fraction"] = Math.Round(s.EosFraction, 6),
        ["pad"] = s.Pad,
        ["min_id"] = s.MinId,
        ["max_id"] = s.MaxId,
        ["longest_run"] = new JsonObject
        {
            ["id"] = s.LongestRun.Id,
            ["length"] = s.LongestRun.Length,
            ["shard"] = s.LongestRun.Shard,
            ["offset"] = s.LongestRun.Offset,
        },
    };

    private static JsonObject BySource(IReadOnlyList<long> counts, IReadOnlyList<string> sources) =>
        new(sources.Select((name, i) => KeyValuePair.Create(name, (JsonNode?)counts[i])));
}
