using System.Globalization;
using System.Text;
using System.Text.Json;

namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>
/// The independent reference for tokenizer tests: Debian's python3-sentencepiece, run at test time through
/// <c>sentencepiece_oracle.py</c> with <c>/usr/bin/python3</c> (the <c>python3</c> first on PATH lacks the module).
/// Batches go through JSON-lines temp files, one python process per batch.
/// </summary>
internal static class SentencePieceOracle
{
    /// <summary>Debian's interpreter, the one python3-sentencepiece and python3-zstandard install into.</summary>
    public const string Python = "/usr/bin/python3";


    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "Infrastructure", "sentencepiece_oracle.py");

    /// <summary>sentencepiece's ids for each text (no BOS/EOS). Lone surrogates are replaced by U+FFFD first.</summary>
    public static IReadOnlyList<int[]> Encode(string modelPath, IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        return EncodeRows(modelPath, texts.Select(t => JsonSerializer.Serialize(new { text = ReplaceLoneSurrogates(t) })));
    }

    /// <summary>sentencepiece's ids for raw bytes, handed to it unchanged (invalid UTF-8 included).</summary>
    public static IReadOnlyList<int[]> EncodeBytes(string modelPath, IReadOnlyList<byte[]> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        return EncodeRows(modelPath, texts.Select(t => JsonSerializer.Serialize(new { b64 = Convert.ToBase64String(t) })));
    }

    /// <summary>
    /// Every record (field <c>text</c>) of the given *.jsonl / *.jsonl.zst / *.jsonl.gz files as python reads them,
    /// lone surrogates replaced by U+FFFD, with sentencepiece's ids.
    /// </summary>
    public static IReadOnlyList<OracleRecord> EncodeCorpus(string modelPath, IReadOnlyList<string> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var dir = Directory.CreateTempSubdirectory("spm-oracle-");
        try
        {
            var output = Path.Combine(dir.FullName, "out.jsonl");
            RunPython(["corpus", modelPath, output, .. files]);
            var records = new List<OracleRecord>();
            foreach (var line in File.ReadLines(output))
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                records.Add(new OracleRecord(
                    root.GetProperty("file").GetString()!,
                    root.GetProperty("record").GetInt64(),
                    root.GetProperty("text").GetString()!,
                    [.. root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32())]));
            }

            return records;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>What Encoding.UTF8 does to lone surrogates on the way to UTF-8, done on the string.</summary>
    public static string ReplaceLoneSurrogates(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[++i]);
            }
            else
            {
                builder.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
            }
        }

        return builder.ToString();
    }

    /// <summary>Runs a program to completion; throws with its stderr when it fails.</summary>
    public static string Run(string fileName, IEnumerable<string> arguments) => ProcessRunner.RunChecked(fileName, arguments);

    private static List<int[]> EncodeRows(string modelPath, IEnumerable<string> jsonRows)
    {
        var dir = Directory.CreateTempSubdirectory("spm-oracle-");
        try
        {
            var input = Path.Combine(dir.FullName, "in.jsonl");
            var output = Path.Combine(dir.FullName, "out.txt");
            File.WriteAllLines(input, jsonRows, new UTF8Encoding(false)); // System.Text.Json escapes non-ASCII: the file is ASCII
            RunPython(["encode", modelPath, input, output]);
            return File.ReadAllLines(output)
                .Select(line => line.Length == 0
                    ? []
                    : line.Split(' ').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray())
                .ToList();
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static void RunPython(string[] arguments) => Run(Python, [ScriptPath, .. arguments]);
}

/// <summary>One corpus record as the oracle read it, with sentencepiece's ids.</summary>
internal sealed record OracleRecord(string File, long Record, string Text, int[] Ids);
