using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Packing;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tokenization;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Shards;

/// <summary>What a document sample found.</summary>
public sealed record SampleResult(IReadOnlyList<Violation> Violations, int DocumentsSampled, string? Note);

/// <summary>
/// Re-reads a seeded sample of the documents named in the sidecars from the spec's source files, tokenizes
/// them again with the spec's tokenizer and checks the shards hold exactly those framed tokens, piece by
/// piece when a document is split across shards. This is what catches a wrong tokenizer or a stale token
/// cache: every other check trusts the token ids.
/// </summary>
/// <remarks>
/// The sample is a bottom-k sample: each document (source, file, record, epoch) gets a seeded 64-bit hash and
/// the <c>count</c> smallest are taken, in one pass over the sidecars keeping only the chosen documents' pieces.
/// </remarks>
public static class DocumentSampler
{
    public static SampleResult Check(BuildSpec spec, string directory, int count, ulong seed, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var violations = new List<Violation>();
        if (count == 0)
        {
            return new SampleResult(violations, 0, null);
        }

        // Bottom-k by seeded hash; pieces kept only for documents in the sample.
        var chosen = new SortedSet<(ulong Hash, DocKey Key)>();
        var pieces = new Dictionary<DocKey, List<Piece>>();
        try
        {
            foreach (var sc in Sidecar.ReadInOrder(Sidecar.OrderedPaths(directory)))
            {
                Collect(sc, seed, count, chosen, pieces);
            }
        }
        catch (ShardException e)
        {
            return new SampleResult(violations, 0, "documents not sampled: " + e.Message);
        }

        var tokenizer = SentencePieceTokenizer.Load(spec.TokenizerPath);
        var framing = Framing.For(spec.Output.Separator, tokenizer.BosId, tokenizer.EosId);
        var width = LitPkdsFormat.TokenWidth(LitPkdsFormat.DtypeFor(tokenizer.VocabularySize));
        var handles = new Dictionary<string, SafeFileHandle>(StringComparer.Ordinal);
        try
        {
            foreach (var byFile in pieces.GroupBy(kv => (kv.Key.Source, kv.Key.Path)).OrderBy(g => g.Key.Source, StringComparer.Ordinal).ThenBy(g => g.Key.Path, StringComparer.Ordinal))
            {
                var (sourceName, path) = byFile.Key;
                var docs = byFile.OrderBy(kv => kv.Key.Record).ThenBy(kv => kv.Key.Epoch).ToList();
                var firstPiece = docs[0].Value[0];
                var source = spec.SourceIndex(sourceName);
                if (source < 0)
                {
                    violations.Add(new Violation(firstPiece.Shard, firstPiece.Offset, $"sidecar names source '{sourceName}', which the spec does not have"));
                    continue;
                }

                var resolved = SourceResolver.Resolve(spec.Sources[source].Reader, spec.SpecDirectory);
                var file = resolved.Files.FirstOrDefault(f => string.Equals(BuildPipeline.DisplayPath(spec, spec.Sources[source], f), path, StringComparison.Ordinal));
                if (file is null)
                {
                    violations.Add(new Violation(firstPiece.Shard, firstPiece.Offset, $"sidecar names file '{path}' of source '{sourceName}', which is not among the spec's files for it"));
                    continue;
                }

                using var reader = RecordReaders.Open(file, resolved.Options);
                var ids = new List<int>();
                var more = reader.MoveNext(cancellationToken);
                foreach (var (key, docPieces) in docs)
                {
                    while (more && reader.Current.Index < key.Record)
                    {
                        more = reader.MoveNext(cancellationToken);
                    }

                    var at = docPieces[0];
                    if (!more || reader.Current.Index != key.Record || reader.Current.Outcome != RecordOutcome.Used)
                    {
                        var what = more && reader.Current.Index == key.Record ? reader.Current.Outcome.ToString().ToLowerInvariant() : "missing";
                        violations.Add(new Violation(at.Shard, at.Offset, string.Create(CultureInfo.InvariantCulture,
                            $"document {path} record {key.Record} ({sourceName}) is not a used record of that file (it is {what})")));
                        continue;
                    }

                    ids.Clear();
                    tokenizer.Encode(reader.Current.Utf8Text.Span, ids);
                    var framed = Framed(ids, framing);
                    CompareDocument(directory, key, docPieces, framed, width, handles, violations);
                }
            }
        }
        finally
        {
            foreach (var h in handles.Values)
            {
                h.Dispose();
            }
        }

        return new SampleResult(violations, pieces.Count, null);
    }

    private static void CompareDocument(string directory, DocKey key, List<Piece> docPieces, int[] framed, int width, Dictionary<string, SafeFileHandle> handles, List<Violation> violations)
    {
        foreach (var piece in docPieces)
        {
            if (piece.Length != framed.Length)
            {
                violations.Add(new Violation(piece.Shard, piece.Offset, string.Create(CultureInfo.InvariantCulture,
                    $"document {key.Path} record {key.Record} ({key.Source}): the sidecar says {piece.Length} framed tokens, the spec's tokenizer gives {framed.Length} (a wrong tokenizer or a stale cache?)")));
                return;
            }

            var bytes = new byte[(piece.End - piece.Start) * width];
            var handle = Handle(directory, piece.Shard, handles);
            if (!Util.FileIo.TryReadExactly(handle, bytes, LitPkdsFormat.HeaderSize + (piece.Offset * width)))
            {
                violations.Add(new Violation(piece.Shard, piece.Offset, "the shard ends inside a sampled document"));
                return;
            }

            for (var p = piece.Start; p < piece.End; p++)
            {
                var i = (int)(p - piece.Start);
                var id = LitPkdsFormat.ReadToken(bytes, width, i);
                if (id != framed[p])
                {
                    violations.Add(new Violation(piece.Shard, piece.Offset + i, string.Create(CultureInfo.InvariantCulture,
                        $"document {key.Path} record {key.Record} ({key.Source}): id {id} at framed position {p}, but the spec's tokenizer gives {framed[p]} (a wrong tokenizer or a stale cache?)")));
                    return;
                }
            }
        }
    }

    private static SafeFileHandle Handle(string directory, string shard, Dictionary<string, SafeFileHandle> handles)
    {
        if (!handles.TryGetValue(shard, out var h))
        {
            var path = Path.Combine(directory, shard);
            try
            {
                h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IoFailureException(path, "cannot open the shard: " + e.Message, e);
            }

            handles[shard] = h;
        }

        return h;
    }

    private static int[] Framed(List<int> ids, Framing framing)
    {
        var framed = new int[ids.Count + framing.Extra];
        var at = 0;
        if (framing.Bos)
        {
            framed[at++] = framing.BosId;
        }

        ids.CopyTo(framed, at);
        if (framing.Eos)
        {
            framed[^1] = framing.EosId;
        }

        return framed;
    }

    /// <summary>Adds one sidecar's spans to the bottom-k sample (documents with the smallest seeded hashes).</summary>
    private static void Collect(Sidecar sc, ulong seed, int count, SortedSet<(ulong Hash, DocKey Key)> chosen, Dictionary<DocKey, List<Piece>> pieces)
    {
        foreach (var span in sc.Spans)
        {
            var (source, path) = sc.Files[span.File];
            var key = new DocKey(source, path, span.Record, span.Epoch);
            var piece = new Piece(sc.Shard, span.Offset, span.Start, span.End, span.Length);
            if (pieces.TryGetValue(key, out var list))
            {
                list.Add(piece);
                continue;
            }

            var hash = Hash(seed, key);
            if (chosen.Count >= count && hash >= chosen.Max.Hash)
            {
                continue;
            }

            list = [piece];
            chosen.Add((hash, key));
            pieces[key] = list;
            if (chosen.Count > count)
            {
                var last = chosen.Max;
                chosen.Remove(last);
                pieces.Remove(last.Key);
            }
        }
    }

    /// <summary>FNV-1a over the document's identity, then SplitMix64 seeded with it and the sample seed.</summary>
    private static ulong Hash(ulong seed, DocKey key)
    {
        var h = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{key.Source}\0{key.Path}\0{key.Record}\0{key.Epoch}")))
        {
            h = (h ^ b) * 1099511628211UL;
        }

        return new SplitMix64(h ^ seed).NextUInt64();
    }

    private readonly record struct DocKey(string Source, string Path, long Record, long Epoch) : IComparable<DocKey>
    {
        public int CompareTo(DocKey other)
        {
            var c = string.CompareOrdinal(Source, other.Source);
            c = c != 0 ? c : string.CompareOrdinal(Path, other.Path);
            c = c != 0 ? c : Record.CompareTo(other.Record);
            return c != 0 ? c : Epoch.CompareTo(other.Epoch);
        }
    }

    private sealed record Piece(string Shard, long Offset, long Start, long End, long Length);
}
