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

    private readonly Stack<EncoderScratch> _scratches = new();

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

        return TokenCacheEntry.Open(basePath, RecordCounts.FromJson(meta["records"]!.AsObject()), (long)meta["bytes"]!["bin"]!);
    }

    /// <summary>Threads <see cref="GetOrBuild"/> tokenizes one file with (1 = everything on the caller's thread).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Returns the complete entry for the file, tokenizing it first if needed (on <see cref="Threads"/> threads).</summary>
    public TokenCacheEntry GetOrBuild(string inputPath, ReaderOptions options, BuildProgress? progress, CancellationToken cancellationToken) =>
        GetOrBuildAll([(inputPath, options)], Threads, progress, cancellationToken)[0];

    /// <summary>
    /// Returns the complete entries of the files, in the order given, tokenizing those not cached yet on
    /// <paramref name="threads"/> threads in all: several files at once and each file over several threads.
    /// The cache files are byte-identical whatever the thread count.
    /// </summary>
    public IReadOnlyList<TokenCacheEntry> GetOrBuildAll(IReadOnlyList<(string Path, ReaderOptions Options)> inputs, int threads, BuildProgress? progress, CancellationToken cancellationToken) =>
        GetOrBuildAll(inputs, threads, progress, cancellationToken, out _);

    /// <inheritdoc cref="GetOrBuildAll(IReadOnlyList{ValueTuple{string, ReaderOptions}}, int, BuildProgress?, CancellationToken)"/>
    /// <param name="built">How many distinct entries had to be tokenized (the rest were complete already).</param>
    public IReadOnlyList<TokenCacheEntry> GetOrBuildAll(IReadOnlyList<(string Path, ReaderOptions Options)> inputs, int threads, BuildProgress? progress, CancellationToken cancellationToken, out int built)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var entries = new TokenCacheEntry?[inputs.Count];
        var jobs = new List<(string Path, ReaderOptions Options, string BasePath)>();
        var queued = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < inputs.Count; i++)
        {
            var (path, options) = inputs[i];
            entries[i] = TryOpen(path, options);
            if (entries[i] is not null)
            {
                progress?.AddInputDone(new FileInfo(path).Length);
            }
            else if (BasePathFor(path, options) is var basePath && queued.Add(basePath))
            {
                jobs.Add((path, options, basePath));
            }
        }

        built = jobs.Count;

        if (jobs.Count > 0)
        {
            System.IO.Directory.CreateDirectory(Directory);
            CacheBuildPool.Run(this, jobs, threads, progress, cancellationToken);
        }

        var result = new TokenCacheEntry[inputs.Count];
        for (var i = 0; i < inputs.Count; i++)
        {
            result[i] = entries[i] ?? TryOpen(inputs[i].Path, inputs[i].Options)
                ?? throw new InvalidOperationException("cache entry missing right after it was written");
        }

        return result;
    }

    /// <summary>A committed cache file: its length and sha256.</summary>
    internal readonly record struct FileSummary(long Length, string Sha256);

    /// <summary>Writes, last, the <c>.json</c> of an entry whose <c>.bin</c>, <c>.idx</c> and <c>.rec</c> are committed.</summary>
    internal void WriteEntryMetadata(FileBuild file, RecordCounts counts, long documents, FileSummary bin, FileSummary idx, FileSummary rec)
    {
        var meta = new JsonObject
        {
            ["cache_version"] = FormatVersion,
            ["input"] = Path.GetFullPath(file.InputPath),
            ["tokenizer_sha256"] = Tokenizer.ModelSha256,
            ["reader"] = ReaderOptionsJson(file.Options),
            ["dtype"] = Dtype,
            ["documents"] = documents,
            ["records"] = counts.ToJson(),
            ["bytes"] = new JsonObject { ["bin"] = bin.Length, ["idx"] = idx.Length, ["rec"] = rec.Length },
            ["sha256"] = new JsonObject
            {
                ["bin"] = bin.Sha256,
                ["idx"] = idx.Sha256,
                ["rec"] = rec.Sha256,
            },
        };
        AtomicFile.WriteAllBytes(file.BasePath + ".json", CanonicalJson.SerializeToUtf8(meta));
    }

    /// <summary>A worker's encoder memory, kept between files so its chunk cache stays warm.</summary>
    internal EncoderScratch RentScratch()
    {
        lock (_scratches)
        {
            return _scratches.TryPop(out var s) ? s : Tokenizer.CreateScratch();
        }
    }

    internal void ReturnScratch(EncoderScratch scratch)
    {
        lock (_scratches)
        {
            _scratches.Push(scratch);
        }
    }

    public static JsonObject ReaderOptionsJson(ReaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var filters = new JsonArray([.. options.Filters.Select(f => (JsonNode?)f.ToJson())]);
        return new JsonObject
        {
            ["text_field"] = options.TextField,
            ["filters"] = filters,
            ["on_bad_record"] = options.OnBadRecord.ToString().ToLowerInvariant(),
            ["on_invalid_text"] = options.OnInvalidText.ToString().ToLowerInvariant(),
        };
    }


}
