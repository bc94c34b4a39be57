using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Util;
using ZstdSharp;

namespace TinyLlama.Data.Bench;

/// <summary>What the corpus generator wrote (also saved as <c>corpus.json</c> so a rerun can reuse it).</summary>
public sealed record BenchCorpusInfo(
    IReadOnlyList<string> Files,
    long UsedTextBytes,
    long UsedDocuments,
    long LongDocuments,
    string ReferenceFile,
    long ReferenceTextBytes,
    long ReferenceDocuments,
    string ReferenceTextLines,
    string SpecPath);

/// <summary>
/// Generates the benchmark input: SlimPajama-layout <c>train/chunk1/example_train_N.jsonl.zst</c> files
/// made by recombining, with a seeded PRNG, the records of the sample corpora in <c>../shared/data</c>
/// (SlimPajama prose, StarCoder code read with our parquet reader, Proof-Pile / Proof-Pile-2 mathematics,
/// SkyPile Chinese). About 1 document in 8,000 is 1–5 MB long. So that the tokenizer's cache does not see a
/// corpus made only of words it has met, 4 % of the words of prose and code are replaced by fresh random
/// words. Deterministic: the same samples, size and seed give the same bytes.
/// </summary>
public static class BenchCorpus
{
    private const string Vowels = "aeiouy";
    private const string Consonants = "bcdfghjklmnpqrstvwxz";

    private enum Kind
    {
        Prose,
        Code,
        Math,
        Chinese,
    }

    /// <summary>Generates the corpus under <paramref name="workDirectory"/>, or reuses one generated with the same parameters.</summary>
    public static BenchCorpusInfo Generate(string samplesDirectory, string tokenizerPath, string workDirectory, long textBytes, int files, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(files, 1);
        var corpusDir = Path.Combine(workDirectory, "corpus");
        var marker = Path.Combine(workDirectory, "corpus.json");
        var parameters = new JsonObject
        {
            ["generator"] = 1,
            ["samples"] = Path.GetFullPath(samplesDirectory),
            ["tokenizer"] = Path.GetFullPath(tokenizerPath),
            ["text_bytes"] = textBytes,
            ["files"] = files,
            ["seed"] = seed,
        };
        if (File.Exists(marker) && JsonNode.Parse(File.ReadAllText(marker)) is JsonObject saved
            && JsonNode.DeepEquals(saved["parameters"], parameters))
        {
            return FromJson(saved);
        }

        if (Directory.Exists(corpusDir))
        {
            Directory.Delete(corpusDir, recursive: true);
        }

        var pool = LoadPool(samplesDirectory);
        var rng = new SplitMix64(seed);
        var paths = new List<string>();
        var referenceDir = Path.Combine(workDirectory, "reference");
        Directory.CreateDirectory(referenceDir);
        var referenceLines = Path.Combine(referenceDir, "texts-file0.txt");
        long used = 0, usedDocs = 0, longDocs = 0, refBytes = 0, refDocs = 0;
        var perFile = textBytes / files;
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        for (var f = 0; f < files; f++)
        {
            var path = Path.Combine(corpusDir, "train", "chunk1", FormattableString.Invariant($"example_train_{f}.jsonl.zst"));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            paths.Add(path);

            // Even files escape non-ASCII as \uXXXX (Python's json.dumps default), odd files keep raw UTF-8.
            var encoder = f % 2 == 0 ? JavaScriptEncoder.Default : JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
            using var file = File.Create(path);
            using var zstd = new CompressionStream(file, level: 3);
            using var lines = f == 0 ? new StreamWriter(referenceLines, false, new UTF8Encoding(false)) : null;
            long written = 0;
            while (written < perFile)
            {
                var (text, set) = NextDocument(pool, rng, ref longDocs);
                buffer.ResetWrittenCount();
                using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = encoder }))
                {
                    json.WriteStartObject();
                    json.WriteString("text", text);
                    json.WriteStartObject("meta");
                    json.WriteString("redpajama_set_name", set);
                    json.WriteEndObject();
                    json.WriteEndObject();
                }

                zstd.Write(buffer.WrittenSpan);
                zstd.WriteByte((byte)'\n');
                if (set == "RedPajamaGithub" || text.Length == 0)
                {
                    continue; // filtered by the slimpajama preset, as TinyLlama's script skips it
                }

                var bytes = Encoding.UTF8.GetByteCount(text);
                written += bytes;
                used += bytes;
                usedDocs++;
                if (lines is not null)
                {
                    refBytes += bytes;
                    refDocs++;
                    lines.Write(text.Replace('\n', ' ').Replace('\r', ' '));
                    lines.Write('\n');
                }
            }
        }

        var spec = Path.Combine(workDirectory, "bench.yaml");
        File.WriteAllText(spec, string.Join('\n',
            "# Generated by `tinyllama-data bench`: the generated corpus, tokenized and packed like TinyLlama's SlimPajama prep.",
            "seed: 1",
            "tokenizer: " + JsonSerializer.Serialize(Path.GetFullPath(tokenizerPath)),
            "sources:",
            "  slimpajama:",
            "    format: slimpajama",
            "    root: corpus",
            "output:",
            "  prefix: train_bench",
            "  separator: doc+eos",
            "  tail: pad",
            ""));

        var info = new BenchCorpusInfo(paths, used, usedDocs, longDocs, paths[0], refBytes, refDocs, referenceLines, spec);
        var json2 = ToJson(info);
        json2["parameters"] = parameters;
        File.WriteAllText(marker, CanonicalJson.Serialize(json2));
        return info;
    }

    private static (string Text, string Set) NextDocument(List<(string Text, Kind Kind, string Set)>[] pool, SplitMix64 rng, ref long longDocs)
    {
        var roll = rng.Next(100);
        var kind = roll < 60 ? Kind.Prose : roll < 80 ? Kind.Code : roll < 90 ? Kind.Math : Kind.Chinese;
        var source = pool[(int)kind].Count > 0 ? pool[(int)kind] : pool[(int)Kind.Prose];
        var first = source[rng.Next(source.Count)];
        var builder = new StringBuilder();
        if (rng.Next(8000) == 0)
        {
            // A long document: 1–5 MB of one kind.
            longDocs++;
            var target = 1_000_000 + rng.Next(4_000_000);
            while (builder.Length < target)
            {
                AppendMutated(builder, source[rng.Next(source.Count)].Text, kind, rng);
                builder.Append("\n\n");
            }
        }
        else
        {
            AppendSlice(builder, first.Text, kind, rng);
            if (rng.Next(10) < 3)
            {
                builder.Append(kind == Kind.Code ? "\n\n" : "\n");
                AppendSlice(builder, source[rng.Next(source.Count)].Text, kind, rng);
            }
        }

        var set = kind switch
        {
            Kind.Prose => first.Set,
            Kind.Code => rng.Next(4) == 0 ? "RedPajamaGithub" : "RedPajamaStackExchange",
            Kind.Math => "RedPajamaArXiv",
            _ => "RedPajamaCommonCrawl",
        };
        return (builder.ToString(), set);
    }

    /// <summary>The whole text, or half the time a random run of its lines.</summary>
    private static void AppendSlice(StringBuilder builder, string text, Kind kind, SplitMix64 rng)
    {
        if (rng.Next(2) == 0 || text.Length < 2000)
        {
            AppendMutated(builder, text, kind, rng);
            return;
        }

        var start = rng.Next(text.Length / 2);
        var end = Math.Min(text.Length, start + 500 + rng.Next(text.Length - start));
        var lineStart = text.LastIndexOf('\n', start) + 1;
        var lineEnd = text.IndexOf('\n', end);
        AppendMutated(builder, text[lineStart..(lineEnd < 0 ? text.Length : lineEnd)], kind, rng);
    }

    /// <summary>Appends the text with 4 % of its space-separated words (not Chinese) replaced by fresh random words.</summary>
    private static void AppendMutated(StringBuilder builder, string text, Kind kind, SplitMix64 rng)
    {
        if (kind == Kind.Chinese)
        {
            builder.Append(text);
            return;
        }

        var i = 0;
        while (i < text.Length)
        {
            var space = text.IndexOf(' ', i);
            var end = space < 0 ? text.Length : space;
            if (end > i && rng.Next(25) == 0)
            {
                for (var s = 1 + rng.Next(3); s > 0; s--)
                {
                    builder.Append(Consonants[rng.Next(Consonants.Length)]).Append(Vowels[rng.Next(Vowels.Length)]);
                }

                if (rng.Next(3) == 0)
                {
                    builder.Append(rng.Next(10000).ToString(CultureInfo.InvariantCulture));
                }
            }
            else
            {
                builder.Append(text, i, end - i);
            }

            if (space < 0)
            {
                break;
            }

            builder.Append(' ');
            i = space + 1;
        }
    }

    private static List<(string Text, Kind Kind, string Set)>[] LoadPool(string samples)
    {
        var pool = new[] { new List<(string, Kind, string)>(), [], [], [] };
        if (!Directory.Exists(samples))
        {
            throw new DirectoryNotFoundException("sample corpora not found: " + samples);
        }

        foreach (var file in Directory.EnumerateFiles(samples, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(samples, file).Replace('\\', '/');
            if (!RecordReaders.IsSupported(file))
            {
                continue;
            }

            var (kind, field) = relative.Split('/')[0] switch
            {
                "slimpajama" => (Kind.Prose, "text"),
                "starcoderdata" => (Kind.Code, "content"),
                "proof-pile" or "proof-pile-2" => (relative.Contains("algebraic-stack", StringComparison.Ordinal) ? Kind.Code : Kind.Math, "text"),
                "skypile" => (Kind.Chinese, "text"),
                _ => ((Kind)(-1), ""),
            };
            if ((int)kind < 0)
            {
                continue;
            }

            var options = new ReaderOptions { TextField = field, OnBadRecord = BadRecordPolicy.Skip };
            using var reader = RecordReaders.Open(file, options);
            while (reader.MoveNext())
            {
                if (reader.Current.Outcome == RecordOutcome.Used)
                {
                    var text = Encoding.UTF8.GetString(reader.Current.Utf8Text.Span);
                    var set = kind == Kind.Prose ? SetName(text) : "";
                    pool[(int)kind].Add((text, kind, set));
                }
            }
        }

        if (pool.Sum(p => p.Count) == 0)
        {
            throw new InvalidOperationException("no sample documents under " + samples);
        }

        return pool;
    }

    /// <summary>A SlimPajama set name for prose (the sample's own names are not read back by the reader).</summary>
    private static string SetName(string text) => (text.Length % 10) switch
    {
        < 5 => "RedPajamaCommonCrawl",
        < 8 => "RedPajamaC4",
        8 => "RedPajamaWikipedia",
        _ => "RedPajamaBook",
    };

    private static JsonObject ToJson(BenchCorpusInfo info) => new()
    {
        ["files"] = new JsonArray([.. info.Files.Select(f => (JsonNode?)f)]),
        ["used_text_bytes"] = info.UsedTextBytes,
        ["used_documents"] = info.UsedDocuments,
        ["long_documents"] = info.LongDocuments,
        ["reference_file"] = info.ReferenceFile,
        ["reference_text_bytes"] = info.ReferenceTextBytes,
        ["reference_documents"] = info.ReferenceDocuments,
        ["reference_text_lines"] = info.ReferenceTextLines,
        ["spec"] = info.SpecPath,
    };

    private static BenchCorpusInfo FromJson(JsonObject o) => BenchCorpusInfoFile.FromJson(o);
}
