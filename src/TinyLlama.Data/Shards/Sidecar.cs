using System.Text.Json;
using System.Text.Json.Nodes;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Packing;
using TinyLlama.Data.Pipeline;

namespace TinyLlama.Data.Shards;

/// <summary>One span of a sidecar (fields as <see cref="ShardPacker.SpanFields"/> names them).</summary>
public readonly record struct SidecarSpan(long Offset, int Source, int File, long Record, long Start, long End, long Length, long Epoch, int Stage)
{
    /// <summary>Tokens the span covers in the shard.</summary>
    public long Tokens => End - Start;
}

/// <summary>
/// A shard's sidecar as <see cref="ShardPacker"/> writes it (docs/formats.md), read by verify, stats and
/// document sampling. The verifier checks every field against the shard; this reader only parses.
/// </summary>
public sealed record Sidecar
{
    public required string Shard { get; init; }

    public required long Index { get; init; }

    public required long ChunkSize { get; init; }

    public required int BosId { get; init; }

    public required int EosId { get; init; }

    public required int PadId { get; init; }

    public required string Separator { get; init; }

    public required long StartToken { get; init; }

    public required long Pad { get; init; }

    /// <summary>sha256 of the shard file, as the packer recorded it.</summary>
    public required string Sha256 { get; init; }

    public required string SpecSha256 { get; init; }

    public required string TokenizerSha256 { get; init; }

    /// <summary>Tokens of each source in the shard, as the sidecar counts them.</summary>
    public required IReadOnlyDictionary<string, long> TokensBySource { get; init; }

    /// <summary>Document starts (BOS) and ends (EOS) in the shard, as the sidecar counts them.</summary>
    public required long Bos { get; init; }

    public required long Eos { get; init; }

    public required IReadOnlyList<string> Sources { get; init; }

    public required IReadOnlyList<string> Stages { get; init; }

    /// <summary><c>[source, path]</c> pairs; spans refer to them by index.</summary>
    public required IReadOnlyList<(string Source, string Path)> Files { get; init; }

    public required IReadOnlyList<SidecarSpan> Spans { get; init; }

    /// <summary>Reads and parses a sidecar; a missing, unreadable or malformed one is a <see cref="ShardException"/>.</summary>
    public static Sidecar Load(string path)
    {
        var shard = System.IO.Path.GetFileName(path);
        try
        {
            var o = JsonNode.Parse(File.ReadAllBytes(path))!.AsObject();
            var fields = o["span_fields"]!.AsArray().Select(n => (string)n!).ToList();
            if (!fields.SequenceEqual(ShardPacker.SpanFields))
            {
                throw new ShardException(shard, -1, "sidecar span_fields are not the ones this tool writes");
            }

            var spans = new List<SidecarSpan>();
            foreach (var node in o["spans"]!.AsArray())
            {
                var s = node!.AsArray();
                spans.Add(new SidecarSpan((long)s[0]!, (int)s[1]!, (int)s[2]!, (long)s[3]!, (long)s[4]!, (long)s[5]!, (long)s[6]!, (long)s[7]!, (int)s[8]!));
            }

            return new Sidecar
            {
                Shard = (string)o["shard"]!,
                Index = (long)o["index"]!,
                ChunkSize = (long)o["chunk_size"]!,
                BosId = (int)o["bos_id"]!,
                EosId = (int)o["eos_id"]!,
                PadId = (int)o["pad_id"]!,
                Separator = (string)o["separator"]!,
                StartToken = (long)o["start_token"]!,
                Pad = (long)o["tokens"]!["pad"]!,
                Sha256 = (string)o["sha256"]!,
                SpecSha256 = (string)o["spec_sha256"]!,
                TokenizerSha256 = (string)o["tokenizer_sha256"]!,
                TokensBySource = o["tokens"]!["by_source"]!.AsObject().ToDictionary(kv => kv.Key, kv => (long)kv.Value!, StringComparer.Ordinal),
                Bos = (long)o["tokens"]!["bos"]!,
                Eos = (long)o["tokens"]!["eos"]!,
                Sources = [.. o["sources"]!.AsArray().Select(n => (string)n!)],
                Stages = [.. o["stages"]!.AsArray().Select(n => (string)n!)],
                Files = [.. o["files"]!.AsArray().Select(n => ((string)n!.AsArray()[0]!, (string)n.AsArray()[1]!))],
                Spans = spans,
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ShardException(shard, -1, "sidecar missing or unreadable: " + e.Message, e);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException or ArgumentException)
        {
            throw new ShardException(shard, -1, "sidecar is malformed: " + e.Message, e);
        }
    }

    /// <summary>
    /// The sidecar files of a build folder (<c>DIR/sidecars/*.json</c>) in shard order, from their names alone.
    /// Throws <see cref="ShardException"/> when there are none, a name is not a shard's, or the numbering has a gap.
    /// </summary>
    public static IReadOnlyList<string> OrderedPaths(string directory)
    {
        var folder = System.IO.Path.Combine(directory, OutputLayout.SidecarFolder);
        if (!Directory.Exists(folder))
        {
            throw new ShardException(folder, -1, "no sidecars folder: not a build output folder");
        }

        var numbered = new List<(long Index, string Path)>();
        foreach (var path in Directory.EnumerateFiles(folder, "*.json"))
        {
            var stem = System.IO.Path.GetFileNameWithoutExtension(path);
            if (stem.Length < 11 || stem[^11] != '_' || !long.TryParse(stem[^10..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
            {
                throw new ShardException(System.IO.Path.GetFileName(path), -1, "not a sidecar name ({prefix}_{counter:D10}.json)");
            }

            numbered.Add((index, path));
        }

        if (numbered.Count == 0)
        {
            throw new ShardException(folder, -1, "no sidecars found");
        }

        numbered.Sort((a, b) => a.Index.CompareTo(b.Index));
        for (var i = 0; i < numbered.Count; i++)
        {
            if (numbered[i].Index != i)
            {
                throw new ShardException(System.IO.Path.GetFileName(numbered[i].Path), -1, FormattableString.Invariant($"sidecar numbering has a gap: expected shard {i}, found {numbered[i].Index}"));
            }
        }

        return [.. numbered.Select(n => n.Path)];
    }

    /// <summary>
    /// The sidecars of <paramref name="paths"/> (from <see cref="OrderedPaths"/>), read one at a time as they are
    /// enumerated: a build of a million shards is never held in memory at once.
    /// </summary>
    public static IEnumerable<Sidecar> ReadInOrder(IReadOnlyList<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        for (var i = 0; i < paths.Count; i++)
        {
            var sidecar = Load(paths[i]);
            if (sidecar.Index != i)
            {
                throw new ShardException(sidecar.Shard, -1, FormattableString.Invariant($"sidecar {System.IO.Path.GetFileName(paths[i])} says it is shard {sidecar.Index}"));
            }

            yield return sidecar;
        }
    }
}
