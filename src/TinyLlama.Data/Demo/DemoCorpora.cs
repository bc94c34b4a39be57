using System.IO.Compression;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Parquet;
using Parquet.Schema;
using TinyLlama.Data.Util;
using ZstdSharp;

namespace TinyLlama.Data.Demo;

/// <summary>
/// Generates the demo's small sample corpora in the real layouts and formats of SlimPajama (jsonl.zst),
/// StarCoder data (parquet, one folder per language), Proof-Pile (jsonl.gz) and SkyPile (jsonl), from
/// <see cref="DemoText"/> with a fixed seed: the same call always writes the same records.
/// </summary>
public static class DemoCorpora
{
    private static readonly JsonSerializerOptions Ascii = new() { Encoder = JavaScriptEncoder.Default };
    private static readonly JsonSerializerOptions Raw = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // Shares of documents per RedPajama set: every set, GitHub included (the preset filters it out), with
    // enough documents of the small sets that each appears throughout the demo's stream.
    private static readonly (string Set, int Weight)[] SlimPajamaSets =
    [
        ("RedPajamaCommonCrawl", 35), ("RedPajamaC4", 22), ("RedPajamaGithub", 5), ("RedPajamaBook", 8),
        ("RedPajamaArXiv", 10), ("RedPajamaWikipedia", 10), ("RedPajamaStackExchange", 10),
    ];

    /// <summary>Writes the corpora under <paramref name="root"/>: slimpajama/, starcoderdata/, proof-pile/, skypile/.</summary>
    public static void Write(string root)
    {
        var rng = new SplitMix64(20240101);
        WriteSlimPajama(Path.Combine(root, "slimpajama"), rng);
        WriteStarCoder(Path.Combine(root, "starcoderdata"), rng);
        WriteProofPile(Path.Combine(root, "proof-pile"), rng);
        WriteSkyPile(Path.Combine(root, "skypile"), rng);
    }

    /// <summary>All text the corpora draw from, one piece per line: what the demo tokenizer is trained on.</summary>
    public static IEnumerable<string> TrainingText() =>
        DemoText.Prose.Concat(DemoText.Code).Concat(DemoText.Math).Concat(DemoText.Chinese);

    private static void WriteSlimPajama(string dir, SplitMix64 rng)
    {
        var files = new[] { ("train/chunk1/example_train_0.jsonl.zst", 900), ("train/chunk1/example_train_1.jsonl.zst", 700), ("train/chunk2/example_train_0.jsonl.zst", 400) };
        foreach (var (name, docs) in files)
        {
            var sb = new StringBuilder();
            for (var i = 0; i < docs; i++)
            {
                var set = Pick(rng, SlimPajamaSets);
                var text = set switch
                {
                    "RedPajamaGithub" => Document(rng, DemoText.Code, 2, 8, "\n"),
                    "RedPajamaArXiv" => Document(rng, DemoText.Math, 3, 12, "\n\n"),
                    "RedPajamaBook" => Document(rng, DemoText.Prose, 20, 80, " "),
                    "RedPajamaStackExchange" => "Q: " + Document(rng, DemoText.Prose, 1, 3, " ") + "\n\nA: " + Document(rng, DemoText.Math, 1, 4, "\n"),
                    _ => Document(rng, DemoText.Prose, 2, 30, rng.Next(4) == 0 ? "\n" : " "),
                };
                var record = new Dictionary<string, object> { ["text"] = text, ["meta"] = new Dictionary<string, string> { ["redpajama_set_name"] = set } };
                sb.Append(JsonSerializer.Serialize(record, Ascii)).Append('\n');
            }

            var path = Path.Combine(dir, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var file = File.Create(path);
            using var zstd = new CompressionStream(file, 19);
            zstd.Write(Encoding.UTF8.GetBytes(sb.ToString()));
        }
    }

    private static void WriteStarCoder(string dir, SplitMix64 rng)
    {
        var languages = new[] { ("python", 0, 240), ("c", 2, 200), ("csharp", 1, 160) };
        foreach (var (language, offset, rows) in languages)
        {
            var paths = new string[rows];
            var repos = new string[rows];
            var stars = new long?[rows];
            var ids = new string[rows];
            var content = new string[rows];
            for (var i = 0; i < rows; i++)
            {
                paths[i] = FormattableString.Invariant($"src/{language}/file{i}.{language switch { "python" => "py", "c" => "c", _ => "cs" }}");
                repos[i] = FormattableString.Invariant($"demo/{language}-repo-{i % 7}");
                stars[i] = i % 5 == 0 ? null : rng.Next(5000);
                ids[i] = FormattableString.Invariant($"{offset}{i}");
                var parts = new List<string>();
                var n = 1 + rng.Next(3);
                for (var k = 0; k < n; k++)
                {
                    parts.Add(DemoText.Code[(offset + (3 * rng.Next(4))) % DemoText.Code.Length]);
                }

                content[i] = string.Join("\n", parts);
            }

            var schema = new ParquetSchema(
                new DataField<string>("max_stars_repo_path"),
                new DataField<string>("max_stars_repo_name"),
                new DataField<long?>("max_stars_count"),
                new DataField<string>("id"),
                new DataField<string>("content"));
            var path = Path.Combine(dir, language, "train-00000-of-00001.parquet");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var file = File.Create(path);
            var writer = ParquetWriter.CreateAsync(schema, file, new ParquetOptions { CompressionMethod = CompressionMethod.Snappy }).GetAwaiter().GetResult();
            try
            {
                using var group = writer.CreateRowGroup();
                group.WriteAsync(schema.DataFields[0], paths).GetAwaiter().GetResult();
                group.WriteAsync(schema.DataFields[1], repos).GetAwaiter().GetResult();
                group.WriteAsync<long>(schema.DataFields[2], stars.AsMemory()).GetAwaiter().GetResult();
                group.WriteAsync(schema.DataFields[3], ids).GetAwaiter().GetResult();
                group.WriteAsync(schema.DataFields[4], content).GetAwaiter().GetResult();
            }
            finally
            {
                writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
    }

    private static void WriteProofPile(string dir, SplitMix64 rng)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < 120; i++)
        {
            var text = Document(rng, DemoText.Math, 2, 10, "\n\n");
            object meta = (i % 3) switch
            {
                0 => new Dictionary<string, object> { ["set_name"] = "stack_exchange", ["score"] = rng.Next(50), ["question_id"] = 1000 + i },
                1 => new Dictionary<string, object> { ["config"] = "arxiv", ["file"] = FormattableString.Invariant($"arxiv/{i}.tex") },
                _ => new Dictionary<string, object> { ["set_name"] = "MATH" },
            };
            sb.Append(JsonSerializer.Serialize(new Dictionary<string, object> { ["text"] = text, ["meta"] = meta }, Ascii)).Append('\n');
        }

        var path = Path.Combine(dir, "train", "proofpile_train_0.jsonl.gz");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.SmallestSize);
        gz.Write(Encoding.UTF8.GetBytes(sb.ToString()));
    }

    private static void WriteSkyPile(string dir, SplitMix64 rng)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            var text = Document(rng, DemoText.Chinese, 2, 20, rng.Next(3) == 0 ? "\n" : "");
            sb.Append(JsonSerializer.Serialize(new Dictionary<string, string> { ["text"] = text }, Raw)).Append('\n');
        }

        var path = Path.Combine(dir, "data", "2023-06_zh_head_0000.jsonl");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, sb.ToString(), new UTF8Encoding(false));
    }

    private static string Document(SplitMix64 rng, string[] pool, int min, int max, string joiner)
    {
        var n = min + rng.Next(max - min + 1);
        var parts = new string[n];
        for (var i = 0; i < n; i++)
        {
            parts[i] = pool[rng.Next(pool.Length)];
        }

        return string.Join(joiner, parts);
    }

    private static string Pick(SplitMix64 rng, (string Set, int Weight)[] options)
    {
        var total = options.Sum(o => o.Weight);
        var r = rng.Next(total);
        foreach (var (set, weight) in options)
        {
            if (r < weight)
            {
                return set;
            }

            r -= weight;
        }

        return options[^1].Set;
    }
}
