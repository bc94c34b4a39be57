using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Tokenization;

namespace TinyLlama.Data.Tests.Pipeline;

/// <summary>
/// A folder mixing good and broken files: under <c>fail</c> the build stops at the first broken one, naming
/// it; under <c>skip</c> it completes with the broken records counted and every good document in the shards.
/// </summary>
public sealed class BadInputBuildTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly Dictionary<(string File, long Record), string> _good = [];

    public BadInputBuildTests()
    {
        // Sorted order: a_good, b_truncated, c_mixed, d_good.
        WriteZst("data/a_good.jsonl.zst", Docs("a", 20), truncate: false);
        WriteZst("data/b_truncated.jsonl.zst", Docs("b", 400), truncate: true);
        var mixed = Docs("c", 8);
        mixed[3] = "{\"text\": \"unterminated";
        mixed[5] = "{\"body\": \"no text field\"}";
        _dir.Write("data/c_mixed.jsonl", string.Join("\n", mixed) + "\n");
        Remember("data/c_mixed.jsonl", mixed, skip: [3, 5]);
        using (var gz = new GZipStream(File.Create(_dir.Combine("data/d_good.jsonl.gz")), CompressionLevel.Fastest))
        {
            var docs = Docs("d", 15);
            gz.Write(Encoding.UTF8.GetBytes(string.Join("\n", docs) + "\n"));
            Remember("data/d_good.jsonl.gz", docs, skip: []);
        }
    }

    public void Dispose() => _dir.Dispose();

    private static List<string> Docs(string prefix, int n) =>
        Enumerable.Range(0, n).Select(i => JsonSerializer.Serialize(new { text = $"Document {prefix}{i}: " + string.Concat(Enumerable.Repeat($"word{i} and {prefix} ", 5 + (i % 7))) + "😀 end." })).ToList();

    private void Remember(string file, List<string> lines, int[] skip)
    {
        for (var i = 0; i < lines.Count; i++)
        {
            if (!skip.Contains(i))
            {
                _good[(file, i)] = JsonNode.Parse(lines[i])!["text"]!.GetValue<string>();
            }
        }
    }

    private void WriteZst(string rel, List<string> lines, bool truncate)
    {
        using var ms = new MemoryStream();
        using (var z = new ZstdSharp.CompressionStream(ms, 3))
        {
            z.Write(Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"));
        }

        var bytes = ms.ToArray();
        _dir.File(rel, truncate ? bytes[..(bytes.Length / 2)] : bytes);
        if (!truncate)
        {
            Remember(rel, lines, skip: []);
        }
    }

    private string Spec(string policy, int maxBad = 1000) => _dir.Write($"spec-{policy}.yaml", $"""
        tokenizer: {RepoPaths.Llama2Model}
        sources:
          mixed:
            format: jsonl
            paths: ["data/*"]
            order: sequential
            on_bad_record: {policy}
            max_bad_records: {maxBad}
        output:
          prefix: train
          chunk_size: 512
          tail: pad
        """);

    [Fact]
    public void Under_fail_the_build_stops_at_the_first_broken_file_naming_it()
    {
        var spec = SpecLoader.Load(Spec("fail"));
        var act = () => BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = _dir.Combine("out-fail"), Threads = 1 });

        var e = act.Should().Throw<BadInputException>().Which;
        e.File.Should().EndWith("b_truncated.jsonl.zst");
        e.Message.Should().Contain("b_truncated.jsonl.zst").And.Contain("byte offset");
        File.Exists(_dir.Combine("out-fail", "manifest.json")).Should().BeFalse();
        Directory.GetFiles(_dir.Combine("out-fail"), "train_*").Should().BeEmpty();
    }

    [Fact]
    public void Under_skip_the_build_counts_the_broken_records_and_every_good_document_is_in_the_shards()
    {
        var spec = SpecLoader.Load(Spec("skip"));
        var result = BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = _dir.Combine("out-skip"), Threads = 2 });

        var counts = result.Sources.Single().Totals;
        counts.Rejected.Should().ContainKey("corrupt_stream").WhoseValue.Should().Be(1);
        counts.Rejected.Should().ContainKey("bad_json").WhoseValue.Should().Be(1);
        counts.Rejected.Should().ContainKey("missing_text").WhoseValue.Should().Be(1);
        counts.Balances.Should().BeTrue();
        var perFile = result.Sources.Single().Files.ToDictionary(f => f.Path, f => f.Counts);
        perFile["data/b_truncated.jsonl.zst"].Rejected["corrupt_stream"].Should().Be(1);
        perFile["data/a_good.jsonl.zst"].Used.Should().Be(20);

        // Decode every document back out of the shards and compare hashes with the good records' texts.
        var tokenizer = SentencePieceTokenizer.Load(spec.TokenizerPath);
        var found = DocumentsInShards(result, tokenizer);
        foreach (var ((file, record), text) in _good)
        {
            found.Should().ContainKey((file, record), $"{file} record {record} is a good document");
            Sha(found[(file, record)]).Should().Be(Sha(text), $"{file} record {record}");
        }

        // Records of the truncated file that were decoded before the damage are used and present too;
        // nothing else is.
        found.Keys.Where(k => !_good.ContainsKey(k) && k.File != "data/b_truncated.jsonl.zst").Should().BeEmpty();
        found.Count.Should().Be((int)counts.Used);
    }

    [Fact]
    public void Under_skip_more_bad_records_than_the_cap_fail_the_build_with_the_counts()
    {
        var spec = SpecLoader.Load(Spec("skip", maxBad: 2));
        var act = () => BuildPipeline.Run(spec, new BuildOptions { OutputDirectory = _dir.Combine("out-cap"), Threads = 1 });

        act.Should().Throw<BadInputException>().Which.Message.Should()
            .Contain("mixed").And.Contain("3 bad records").And.Contain("max_bad_records 2").And.Contain("corrupt_stream 1");
    }

    private static string Sha(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));

    /// <summary>Reassembles each document's ids from the shards via the sidecar spans, then decodes them.</summary>
    private static Dictionary<(string File, long Record), string> DocumentsInShards(BuildResult result, SentencePieceTokenizer tokenizer)
    {
        var ids = new Dictionary<(string, long), List<int>>();
        foreach (var shard in result.Pack.Shards)
        {
            var bytes = File.ReadAllBytes(Path.Combine(result.Layout.Directory, shard.Name));
            var sc = JsonNode.Parse(File.ReadAllText(result.Layout.SidecarPath(shard.Name)))!;
            var files = sc["files"]!.AsArray().Select(f => (string)f!.AsArray()[1]!).ToList();
            foreach (var span in sc["spans"]!.AsArray())
            {
                var f = span!.AsArray().Select(n => (long)n!).ToArray();
                var key = (files[(int)f[2]], f[3]);
                if (!ids.TryGetValue(key, out var list))
                {
                    ids[key] = list = [];
                }

                for (var p = f[4]; p < f[5]; p++)
                {
                    var at = 24 + (2 * (f[0] + (p - f[4])));
                    var id = BitConverter.ToUInt16(bytes, (int)at);
                    if (p < f[6] - 1)
                    {
                        list.Add(id); // the last framed token is the EOS (doc+eos)
                    }
                    else
                    {
                        id.Should().Be((ushort)tokenizer.EosId);
                    }
                }
            }
        }

        return ids.ToDictionary(kv => kv.Key, kv => tokenizer.Decode(kv.Value.ToArray()));
    }
}
