using System.Globalization;
using TinyLlama.Data.Pipeline;

namespace TinyLlama.Data.Cli;

/// <summary>Renders a <see cref="BuildPlanReport"/> as tables.</summary>
internal static class PlanPrinter
{
    public static void Print(BuildPlanReport r, TextWriter o)
    {
        var inv = CultureInfo.InvariantCulture;
        var plan = r.Plan;
        o.WriteLine(string.Create(inv, $"plan for {r.Spec.SpecPath} (sizes: {r.SizesFrom})"));
        o.WriteLine();
        var header = string.Create(inv, $"{"stage",-12} {"tokens",18} {"shards",12}");
        foreach (var s in plan.Sources)
        {
            header += string.Create(inv, $" {s.Name,16}");
        }

        o.WriteLine(header);
        foreach (var st in r.Stages)
        {
            var line = string.Create(inv, $"{st.Name,-12} {Tokens(st.End - st.Start),18} {st.Shards,12:N2}");
            for (var i = 0; i < st.SourceTokens.Count; i++)
            {
                var share = st.End > st.Start ? st.SourceTokens[i] / (st.End - st.Start) : 0;
                line += string.Create(inv, $" {Tokens((long)Math.Round(st.SourceTokens[i])) + $" {share,4:P0}",16}");
            }

            o.WriteLine(line);
        }

        o.WriteLine();
        o.WriteLine(string.Create(inv, $"{"source",-16} {"available",18} {"planned",18} {"epochs",8} {"max",6}  status"));
        foreach (var s in plan.Sources)
        {
            o.WriteLine(string.Create(inv, $"{s.Name,-16} {Tokens(s.Tokens),18} {Tokens((long)Math.Round(s.PlannedTokens)),18} {s.Epochs,8:N3} {s.MaxEpochs,6:G4}  {(s.Feasible ? "ok" : "EXCEEDS CAP")}"));
        }

        o.WriteLine();
        o.WriteLine(string.Create(inv, $"total {Tokens(plan.TotalTokens)} tokens → {r.Shards:N0} shards of {r.Spec.Output.ChunkSize:N0} tokens ({(r.Spec.Output.Tail == Data.Mixtures.Spec.TailPolicy.Drop ? "dropped" : "padded")} tail: {r.TailTokens:N0} tokens)"));
        o.WriteLine(string.Create(inv, $"disk: {Bytes(r.DiskBytes)} of shards ({Bytes(r.ShardBytes)} each), plus token caches of about {Bytes(plan.Sources.Sum(s => s.Tokens) * (r.ShardBytes - 24) / r.Spec.Output.ChunkSize)}"));
        foreach (var note in r.TrainerNotes)
        {
            o.WriteLine("trainer: " + note);
        }

        foreach (var e in plan.Errors)
        {
            o.WriteLine("INFEASIBLE: " + e);
        }
    }

    private static string Tokens(long n) => n switch
    {
        >= 1_000_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e12:0.###}T"),
        >= 1_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e9:0.###}B"),
        >= 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e6:0.###}M"),
        _ => n.ToString("N0", CultureInfo.InvariantCulture),
    };

    private static string Bytes(long n) => n switch
    {
        >= 1L << 40 => string.Create(CultureInfo.InvariantCulture, $"{n / (double)(1L << 40):0.##} TiB"),
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{n / (double)(1L << 30):0.##} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{n / (double)(1L << 20):0.##} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{n / 1024.0:0.##} KiB"),
    };
}
