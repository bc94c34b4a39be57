using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Shards;
using TinyLlama.Data.Tokenization;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Cache;

/// <summary>
/// Tokenize once, mix many: one cache entry per (input file, reader options, tokenizer). An entry is
/// complete only when its <c>.json</c> exists (written last, atomically); a complete entry is never redone.
/// </summary>
public sealed class TokenCache(string directory, SentencePieceTokenizer tokenizer)
{
    public const int FormatVersion = 1;

    public string Directory { get; } = Path.GetFullPath(directory);

    public SentencePieceTokenizer Tokenizer { get; } = tokenizer;

    public byte Dtype => LitPkdsFormat.DtypeFor(Tokenizer.VocabularySize);

    /// <summary>The cache key of an input file: changes when the file, the reader options or the tokenizer change.</summary>
    public string KeyFor(string inputPath, ReaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var info = new FileInfo(inputPath);
        if (!info.Exists)
        {
            throw new IoFailureException(inputPath, "input file not found (did it vanish during the build?)");
        }

        var identity = new JsonObject
        {
            ["cache_version"] = FormatVersion,
            ["input"] = Path.GetFullPath(inputPath),
            ["size"] = info.Length,
            ["mtime_ticks"] = info.LastWriteTimeUtc.Ticks,
            ["tokenizer_sha256"] = Tokenizer.ModelSha256,
            ["reader"] = ReaderOptionsJson(options),
        };
        var hash = Hashing.Sha256Hex(CanonicalJson.SerializeToUtf8(identity));
        var stem = Path.GetFileName(inputPath);
        var dot = stem.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0)
        {
            stem = stem[..dot];
        }

        return stem + "-" + hash[..24];
    }

    public string BasePathFor(string inputPath, ReaderOptions options) => Path.Combine(Directory, KeyFor(inputPath, options));

    /// <summary>Opens the complete entry for the file, or returns null when there is none.</summary>
    public TokenCacheEntry? TryOpen(string inputPath, ReaderOptions options)
    {
        var basePath = BasePathFor(inputPath, options);
        var jsonPath = basePath + ".json";
        if (!File.Exists(jsonPath))
        {
            return null;
        }

        JsonObject meta;
        try
        {
            meta = JsonNode.Parse(File.ReadAllBytes(jsonPath))!.AsObject();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or IOException)
        {
            throw new IoFailureException(jsonPath, "corrupt token cache metadata; delete it to rebuild: " + e.Message, e);
        }

        foreach (var ext in new[] { "bin", "idx", "rec" })
        {
            var expected = (long)meta["bytes"]![ext]!;
            var path = basePath + "." + ext;
            var actual = File.Exists(path) ? new FileInfo(path).Length : -1;
            if (actual != expected)
            {
                throw new IoFailureException(path, FormattableString.Invariant(
                    $"token cache file is {actual} bytes, its metadata says {expected}; delete {basePath}.* to rebuild"));
            }
        }

        return TokenCacheEntry.Open(basePath, RecordCounts.FromJson(meta["records"]!.AsObject()));
    }

    /// <summary>Returns the complete entry for the file, tokenizing it first if needed.</summary>
    public TokenCacheEntry GetOrBuild(string inputPath, ReaderOptions options, BuildProgress? progress, CancellationToken cancellationToken)
    {
        var existing = TryOpen(inputPath, options);
        if (existing is not null)
        {
            var size = new FileInfo(inputPath).Length;
            progress?.AddInputDone(size);
            return existing;
        }

        Build(inputPath, options, progress, cancellationToken);
        return TryOpen(inputPath, options) ?? throw new InvalidOperationException("cache entry missing right after it was written");
    }

    private void Build(string inputPath, ReaderOptions options, BuildProgress? progress, CancellationToken cancellationToken)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var basePath = BasePathFor(inputPath, options);
        var width = LitPkdsFormat.TokenWidth(Dtype);
        var counts = new RecordCounts();
        var sizes = new List<int>();
        var records = new List<long>();
        var ids = new List<int>(1 << 16);
        var tokenBytes = new byte[1 << 16];

        using (var bin = new AtomicFile(basePath + ".bin"))
        using (var binHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            using (var reader = RecordReaders.Open(inputPath, options))
            {
                long reported = 0;
                while (reader.MoveNext(cancellationToken))
                {
                    var r = reader.Current;
                    counts.Read++;
                    counts.ReplacedSequences += r.ReplacedSequences;
                    switch (r.Outcome)
                    {
                        case RecordOutcome.Used:
                            ids.Clear();
                            Tokenizer.Encode(r.Utf8Text.Span, ids);
                            WriteIds(bin.Stream, binHash, CollectionsMarshal.AsSpan(ids), width, ref tokenBytes);
                            sizes.Add(ids.Count);
                            records.Add(r.Index);
                            counts.Used++;
                            counts.Tokens += ids.Count;
                            counts.TextBytes += r.Utf8Text.Length;
                            progress?.AddDocument(ids.Count, r.Utf8Text.Length);
                            break;
                        case RecordOutcome.Empty:
                            counts.Empty++;
                            break;
                        case RecordOutcome.Filtered:
                            counts.Filtered[r.Reason ?? "filter"] = counts.Filtered.GetValueOrDefault(r.Reason ?? "filter") + 1;
                            break;
                        case RecordOutcome.Rejected:
                            counts.Rejected[r.Reason ?? "rejected"] = counts.Rejected.GetValueOrDefault(r.Reason ?? "rejected") + 1;
                            break;
                        default:
                            throw new InvalidOperationException("unknown record outcome");
                    }

                    var consumed = reader.FileBytesConsumed;
                    progress?.AddInputDone(consumed - reported);
                    reported = consumed;
                }

                progress?.AddInputDone(new FileInfo(inputPath).Length - reported);
            }

            if (!counts.Balances)
            {
                throw new InvalidOperationException($"{inputPath}: record accounting does not balance");
            }

            var binSha = Convert.ToHexStringLower(binHash.GetHashAndReset());
            var binLength = bin.Stream.Length;
            bin.Commit();

            var idx = BuildIndex(sizes, width);
            var rec = new byte[8 * records.Count];
            for (var i = 0; i < records.Count; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(rec.AsSpan(8 * i), records[i]);
            }

            AtomicFile.WriteAllBytes(basePath + ".idx", idx);
            AtomicFile.WriteAllBytes(basePath + ".rec", rec);
            var meta = new JsonObject
            {
                ["cache_version"] = FormatVersion,
                ["input"] = Path.GetFullPath(inputPath),
                ["tokenizer_sha256"] = Tokenizer.ModelSha256,
                ["reader"] = ReaderOptionsJson(options),
                ["dtype"] = Dtype,
                ["documents"] = sizes.Count,
                ["records"] = counts.ToJson(),
                ["bytes"] = new JsonObject { ["bin"] = binLength, ["idx"] = idx.Length, ["rec"] = rec.Length },
                ["sha256"] = new JsonObject
                {
                    ["bin"] = binSha,
                    ["idx"] = Hashing.Sha256Hex(idx),
                    ["rec"] = Hashing.Sha256Hex(rec),
                },
            };
            AtomicFile.WriteAllBytes(basePath + ".json", CanonicalJson.SerializeToUtf8(meta));
        }
    }

    private static void WriteIds(Stream stream, IncrementalHash hash, ReadOnlySpan<int> ids, int width, ref byte[] buffer)
    {
        var needed = ids.Length * width;
        if (buffer.Length < needed)
        {
            buffer = new byte[Math.Max(needed, buffer.Length * 2)];
        }

        var span = buffer.AsSpan(0, needed);
        if (width == 2)
        {
            for (var i = 0; i < ids.Length; i++)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(span[(2 * i)..], checked((ushort)ids[i]));
            }
        }
        else
        {
            for (var i = 0; i < ids.Length; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(span[(4 * i)..], ids[i]);
            }
        }

        stream.Write(span);
        hash.AppendData(span);
    }

    private byte[] BuildIndex(List<int> sizes, int width)
    {
        var n = sizes.Count;
        var idx = new byte[TokenCacheFormat.IndexHeaderSize + (4L * n) + (8L * n) + (8L * (n + 1))];
        TokenCacheFormat.WriteIndexHeader(idx, Dtype, n);
        var o = TokenCacheFormat.IndexHeaderSize;
        foreach (var s in sizes)
        {
            BinaryPrimitives.WriteInt32LittleEndian(idx.AsSpan(o), s);
            o += 4;
        }

        long pointer = 0;
        foreach (var s in sizes)
        {
            BinaryPrimitives.WriteInt64LittleEndian(idx.AsSpan(o), pointer);
            pointer += (long)s * width;
            o += 8;
        }

        for (long d = 0; d <= n; d++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(idx.AsSpan(o), d);
            o += 8;
        }

        return idx;
    }

    public static JsonObject ReaderOptionsJson(ReaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var filters = new JsonArray();
        foreach (var f in options.Filters)
        {
            filters.Add(new JsonObject
            {
                ["name"] = f.Name,
                ["field"] = f.Field,
                ["mode"] = f.Mode == FilterMode.Include ? "include" : "exclude",
                ["values"] = new JsonArray([.. f.Values.Select(v => (JsonNode?)v)]),
            });
        }

        return new JsonObject
        {
            ["text_field"] = options.TextField,
            ["filters"] = filters,
            ["on_bad_record"] = options.OnBadRecord.ToString().ToLowerInvariant(),
            ["on_invalid_text"] = options.OnInvalidText.ToString().ToLowerInvariant(),
        };
    }

    internal static string Describe(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    internal static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
