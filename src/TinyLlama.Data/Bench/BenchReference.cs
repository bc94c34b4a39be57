using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace TinyLlama.Data.Bench;

/// <summary>
/// The reference pipelines, run as child processes pinned to CPU 0 (<c>taskset -c 0</c>) under
/// <c>/usr/bin/time</c> (wall, user, system, max RSS): TinyLlama's <c>scripts/prepare_slimpajama.py</c> loop
/// (python zstandard + json + sentencepiece + numpy) and sentencepiece's own <c>spm_encode</c>.
/// </summary>
internal static class BenchReference
{
    /// <summary>
    /// TinyLlama's prepare_slimpajama.py, minus torch: <c>zstd.open(open(f, "rb"), "rt", encoding="utf-8")</c>,
    /// <c>json.loads(row)</c> per line (twice, as the script does), skip RedPajamaGithub, <c>sp.encode(text)</c>
    /// + [eos] (lit_gpt's Tokenizer.encode with bos=False, eos=True), <c>np.array(..., dtype=np.uint16)</c> and
    /// PackedDatasetBuilder.add_array's copy into 2049 × 1024-token chunks written to a file.
    /// </summary>
    public const string PythonScript = """
        import json, sys
        import numpy as np
        import sentencepiece as spm
        import zstandard as zstd

        model, out_path, files = sys.argv[1], sys.argv[2], sys.argv[3:]
        sp = spm.SentencePieceProcessor(model_file=model)
        eos = sp.eos_id()
        chunk = 2049 * 1024
        arr = np.zeros(chunk, dtype=np.uint16)
        idx = 0
        tokens = 0
        docs = 0
        with open(out_path, "wb") as out:
            for filepath in files:
                with zstd.open(open(filepath, "rb"), "rt", encoding="utf-8") as f:
                    for row in f:
                        text = json.loads(row)["text"]
                        if json.loads(row)["meta"]["redpajama_set_name"] == "RedPajamaGithub":
                            continue
                        ids = sp.encode(text)
                        ids.append(eos)
                        a = np.array(ids, dtype=np.uint16)
                        tokens += len(a) - 1
                        docs += 1
                        while idx + a.shape[0] > chunk:
                            part = chunk - idx
                            arr[idx:idx + part] = a[:part]
                            out.write(b"LITPKDS" + (1).to_bytes(8, "little") + bytes([8]) + chunk.to_bytes(8, "little"))
                            out.write(arr.tobytes(order="C"))
                            idx = 0
                            a = a[part:]
                        arr[idx:idx + a.shape[0]] = a
                        idx += a.shape[0]
        print(json.dumps({"tokens": tokens, "documents": docs, "sentencepiece": spm.__version__, "zstandard": zstd.__version__}))
        """;

    public static JsonObject RunPython(string python, string workDirectory, string model, string file)
    {
        var dir = Path.Combine(workDirectory, "reference");
        Directory.CreateDirectory(dir);
        var script = Path.Combine(dir, "prepare_like_tinyllama.py");
        File.WriteAllText(script, PythonScript);
        var output = Path.Combine(dir, "python-out.bin");
        try
        {
            var (stdout, time) = RunTimed(dir, ["taskset", "-c", "0", python, script, model, output, file]);
            var result = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!.AsObject();
            foreach (var (k, v) in time)
            {
                result[k] = v?.DeepClone();
            }

            result["kind"] = "python";
            return result;
        }
        finally
        {
            File.Delete(output);
        }
    }

    public static JsonObject RunSpmEncode(string spmEncode, string workDirectory, string model, string textLines)
    {
        var dir = Path.Combine(workDirectory, "reference");
        var output = Path.Combine(dir, "spm-out.txt");
        try
        {
            var (_, time) = RunTimed(dir, ["taskset", "-c", "0", spmEncode, "--model", model, "--output_format=id", "--input", textLines, "--output", output]);
            long tokens = 0;
            using (var reader = new StreamReader(output))
            {
                while (reader.ReadLine() is { } line)
                {
                    tokens += line.Length == 0 ? 0 : line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
                }
            }

            time["kind"] = "spm_encode";
            time["tokens"] = tokens;
            return time;
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>Runs a program to its end and returns its standard output; a non-zero exit is an error quoting its standard error.</summary>
    internal static string Capture(string fileName, IEnumerable<string> arguments, string? directory, string what)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory ?? "",
        };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {fileName}");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{what} failed with exit code {process.ExitCode}: {stderr.Result}");
        }

        return stdout;
    }

    /// <summary>Runs a command under /usr/bin/time; returns its stdout and wall_s, cpu_s, user_s, sys_s, peak_rss_bytes.</summary>
    public static (string Stdout, JsonObject Time) RunTimed(string directory, IReadOnlyList<string> command)
    {
        var timeFile = Path.Combine(directory, "time.txt");
        var stdout = Capture("/usr/bin/time", ["-f", "%e %U %S %M", "-o", timeFile, .. command], directory, string.Join(' ', command));
        var fields = File.ReadAllLines(timeFile)[^1].Split(' ');
        File.Delete(timeFile);
        var wall = double.Parse(fields[0], CultureInfo.InvariantCulture);
        var user = double.Parse(fields[1], CultureInfo.InvariantCulture);
        var sys = double.Parse(fields[2], CultureInfo.InvariantCulture);
        return (stdout, new JsonObject
        {
            ["wall_s"] = wall,
            ["cpu_s"] = Math.Round(user + sys, 3),
            ["peak_rss_bytes"] = long.Parse(fields[3], CultureInfo.InvariantCulture) * 1024,
        });
    }
}
