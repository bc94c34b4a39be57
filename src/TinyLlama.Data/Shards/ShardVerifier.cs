using System.Globalization;
using TinyLlama.Data.Errors;
using System.Security.Cryptography;
using TinyLlama.Data.Mixtures.Spec;
using TinyLlama.Data.Packing;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Tokenization;

namespace TinyLlama.Data.Shards;

/// <summary>One thing wrong with a set of shards, located by shard and token offset (-1 when not about a token).</summary>
public sealed record Violation(string Shard, long TokenOffset, string Problem)
{
    public override string ToString() => TokenOffset >= 0
        ? string.Create(CultureInfo.InvariantCulture, $"{Shard}: token {TokenOffset}: {Problem}")
        : $"{Shard}: {Problem}";
}

public sealed record VerifyReport(IReadOnlyList<Violation> Violations, int ShardsChecked, long TokensChecked, bool Truncated)
{
    public bool Ok => Violations.Count == 0;

    /// <summary>Checks that could not be made, and why (e.g. a <c>tokens: all</c> stage); not failures.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>Documents re-read from the source files and re-tokenized (<see cref="VerifyExpectations.SampleDocuments"/>).</summary>
    public int DocumentsSampled { get; init; }
}

/// <summary>What the shards must agree with: taken from the spec and the tokenizer, never from the build's manifest.</summary>
public sealed record VerifyExpectations
{
    public required string Prefix { get; init; }

    public required long ChunkSize { get; init; }

    public required SeparatorPolicy Separator { get; init; }

    public required int VocabularySize { get; init; }

    public required int BosId { get; init; }

    public required int EosId { get; init; }

    public required string TokenizerSha256 { get; init; }

    public string? SpecHash { get; init; }

    public TrainerSpec? Trainer { get; init; }

    /// <summary>
    /// The spec itself, for the mixture checks (realised against planned proportions, stage labels, the total
    /// token count, stage shard counts) and document sampling; null skips them.
    /// </summary>
    public BuildSpec? Spec { get; init; }

    /// <summary>How many documents to re-read from the source files and re-tokenize (needs <see cref="Spec"/>).</summary>
    public int SampleDocuments { get; init; }

    /// <summary>Seed of the document sample; null = the spec's seed.</summary>
    public ulong? SampleSeed { get; init; }

    /// <summary>Everything a spec and its tokenizer say about the shards.</summary>
    public static VerifyExpectations FromSpec(BuildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var tokenizer = SentencePieceTokenizer.Load(spec.TokenizerPath);
        return new VerifyExpectations
        {
            Prefix = spec.Output.Prefix,
            ChunkSize = spec.Output.ChunkSize,
            Separator = spec.Output.Separator,
            VocabularySize = tokenizer.VocabularySize,
            BosId = tokenizer.BosId,
            EosId = tokenizer.EosId,
            TokenizerSha256 = tokenizer.ModelSha256,
            SpecHash = spec.SpecHash,
            Trainer = spec.Trainer,
            Spec = spec,
        };
    }
}

/// <summary>
/// Checks a folder of shards against what the spec says they must be, reading only the shard files and
/// their sidecars: contiguous numbering, identical headers, sizes, dtype, checksums, ids inside the
/// vocabulary, spans tiling each shard exactly, the separator policy at every document boundary and
/// nowhere else, documents continuing where they stopped, and the sidecars' counts.
/// </summary>
public static class ShardVerifier
{
    public const int MaxViolations = 200;

    public static VerifyReport Verify(string directory, VerifyExpectations expect, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(expect);
        var layout = new OutputLayout(directory, expect.Prefix);
        var v = new List<Violation>();
        var truncated = false;
        void Add(string shard, long offset, string problem)
        {
            if (v.Count < MaxViolations)
            {
                v.Add(new Violation(shard, offset, problem));
            }
            else
            {
                truncated = true;
            }
        }

        var indices = new SortedSet<long>();
        if (Directory.Exists(layout.Directory))
        {
            foreach (var path in Directory.EnumerateFiles(layout.Directory, expect.Prefix + "_*"))
            {
                var name = Path.GetFileName(path);
                var digits = name.EndsWith(".bin", StringComparison.Ordinal) ? name[(expect.Prefix.Length + 1)..^4] : "";
                if (digits.Length == 10 && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    indices.Add(n);
                }
                else
                {
                    Add(name, -1, $"unexpected file matching the shard prefix '{expect.Prefix}' (a trainer globbing the prefix would read it)");
                }
            }
        }

        if (indices.Count == 0)
        {
            Add(layout.ShardName(0), -1, "no shards found");
            return new VerifyReport(v, 0, 0, truncated);
        }

        var count = indices.Max + 1;
        for (long i = 0; i < count; i++)
        {
            if (!indices.Contains(i))
            {
                Add(layout.ShardName(i), -1, "missing shard: the numbering has a gap");
            }
        }

        var dtype = LitPkdsFormat.DtypeFor(expect.VocabularySize);
        var width = LitPkdsFormat.TokenWidth(dtype);
        var expectedHeader = new byte[LitPkdsFormat.HeaderSize];
        LitPkdsFormat.WriteHeader(expectedHeader, dtype, expect.ChunkSize);
        var framing = Framing.For(expect.Separator, expect.BosId, expect.EosId);
        var open = new Dictionary<(string Source, string File, long Record, long Epoch), long>();
        var notes = new List<string>();
        var stages = expect.Spec is { } spec0 ? StageRule.For(spec0) : null;
        var tallies = new ShardTally?[checked((int)count)];
        var buffer = new byte[LitPkdsFormat.HeaderSize + (expect.ChunkSize * width)];
        long tokens = 0;
        var shardsChecked = 0;

        foreach (var index in indices)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var name = layout.ShardName(index);
            var path = layout.ShardPath(index);
            var length = new FileInfo(path).Length;
            if (length != buffer.Length)
            {
                Add(name, -1, string.Create(CultureInfo.InvariantCulture, $"file is {length} bytes; a shard of {expect.ChunkSize} {LitPkdsFormat.DtypeName(dtype)} tokens is {buffer.Length}"));
                continue;
            }

            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
            {
                fs.ReadExactly(buffer);
            }

            shardsChecked++;
            var header = LitPkdsFormat.TryReadHeader(buffer, out var headerProblem);
            if (header is null)
            {
                Add(name, -1, "bad header: " + headerProblem);
                continue;
            }

            if (!buffer.AsSpan(0, LitPkdsFormat.HeaderSize).SequenceEqual(expectedHeader))
            {
                Add(name, -1, string.Create(CultureInfo.InvariantCulture,
                    $"header says dtype {LitPkdsFormat.DtypeName(header.Dtype)}, chunk {header.ChunkSize}; expected {LitPkdsFormat.DtypeName(dtype)}, chunk {expect.ChunkSize} (headers must be identical: the trainer reads only the first)"));
                continue;
            }

            var sha = Convert.ToHexStringLower(SHA256.HashData(buffer));
            var sidecarPath = layout.SidecarPath(name);
            Sidecar sidecar;
            try
            {
                sidecar = Sidecar.Load(sidecarPath);
            }
            catch (ShardException e)
            {
                Add(name, -1, e.Problem);
                continue;
            }

            try
            {
                tallies[index] = CheckShard(name, index, buffer, width, sha, sidecar, expect, framing, open, stages, Add);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException or KeyNotFoundException or ArgumentException or IndexOutOfRangeException)
            {
                Add(name, -1, "sidecar is malformed: " + e.Message);
            }

            tokens += expect.ChunkSize;
        }

        if (expect.Trainer is { } t)
        {
            var budgets = expect.Spec is null ? null : TrainerConstraints.Stages(expect.Spec);
            foreach (var f in TrainerConstraints.Check(t, expect.ChunkSize, count, budgets))
            {
                if (f.IsViolation)
                {
                    Add(layout.ShardName(Math.Max(0, f.Shard)), -1, f.Problem);
                }
                else
                {
                    notes.Add(f.Problem);
                }
            }
        }

        if (expect.Spec is { } spec)
        {
            MixtureChecks.Run(spec, expect, layout, count, tallies, Add, notes);
            if (expect.SampleDocuments > 0)
            {
                var sample = DocumentSampler.Check(spec, layout.Directory, expect.SampleDocuments, expect.SampleSeed ?? spec.Seed, cancellationToken);
                foreach (var violation in sample.Violations)
                {
                    Add(violation.Shard, violation.TokenOffset, violation.Problem);
                }

                if (sample.Note is not null)
                {
                    notes.Add(sample.Note);
                }

                return new VerifyReport(v, shardsChecked, tokens, truncated) { Notes = notes, DocumentsSampled = sample.DocumentsSampled };
            }
        }

        return new VerifyReport(v, shardsChecked, tokens, truncated) { Notes = notes };
    }

    private static ShardTally? CheckShard(
        string name,
        long index,
        byte[] buffer,
        int width,
        string sha,
        Sidecar sidecar,
        VerifyExpectations expect,
        Framing framing,
        Dictionary<(string, string, long, long), long> open,
        StageRule? stages,
        Action<string, long, string> add)
    {
        if (sidecar.Shard != name || sidecar.Index != index)
        {
            add(name, -1, "sidecar names another shard");
        }

        if (sidecar.Sha256 != sha)
        {
            add(name, -1, "sha256 of the shard does not match its sidecar (the shard or the sidecar was changed)");
        }

        if (sidecar.TokenizerSha256 != expect.TokenizerSha256)
        {
            add(name, -1, "built with another tokenizer (tokenizer_sha256 differs from the spec's tokenizer)");
        }

        if (expect.SpecHash is not null && sidecar.SpecSha256 != expect.SpecHash)
        {
            add(name, -1, "built from another spec (spec_sha256 differs)");
        }

        if (sidecar.Separator != SpecLoader.SeparatorName(expect.Separator))
        {
            add(name, -1, $"sidecar says separator '{sidecar.Separator}', the spec says '{SpecLoader.SeparatorName(expect.Separator)}'");
        }

        int Token(long offset) => LitPkdsFormat.ReadToken(buffer.AsSpan(LitPkdsFormat.HeaderSize), width, offset);

        var chunk = expect.ChunkSize;
        for (long o = 0; o < chunk; o++)
        {
            var id = Token(o);
            if (id < 0 || id >= expect.VocabularySize)
            {
                add(name, o, string.Create(CultureInfo.InvariantCulture, $"id {id} is outside the vocabulary (0..{expect.VocabularySize - 1})"));
                break;
            }
        }

        var sources = sidecar.Sources;
        var files = sidecar.Files.Select(f => f.Path).ToList();
        var bySource = new long[sources.Count];
        long bos = 0, eos = 0, expectedOffset = 0;
        foreach (var s in sidecar.Spans)
        {
            var (offset, source, file, record, start, end, len, epoch, stage) = (s.Offset, s.Source, s.File, s.Record, s.Start, s.End, s.Length, s.Epoch, s.Stage);
            if (offset != expectedOffset || start < 0 || end <= start || end > len || offset + (end - start) > chunk)
            {
                add(name, offset, string.Create(CultureInfo.InvariantCulture,
                    $"spans do not tile the shard: span [{start}, {end}) of a {len}-token document at offset {offset}, expected offset {expectedOffset}"));
                return null;
            }

            stages?.Check(name, (index * chunk) + offset, offset, end - start, start, stage, sources[(int)source], add);

            var key = (sources[(int)source], files[(int)file], record, epoch);
            var continues = open.GetValueOrDefault(key, 0);
            if (start != continues)
            {
                add(name, offset, string.Create(CultureInfo.InvariantCulture,
                    $"document {files[(int)file]} record {record} resumes at token {start}, but {continues} of its tokens came before"));
            }

            if (end == len)
            {
                open.Remove(key);
            }
            else
            {
                open[key] = end;
            }

            for (var p = start; p < end; p++)
            {
                var at = offset + (p - start);
                var id = Token(at);
                var isBos = framing.Bos && p == 0;
                var isEos = framing.Eos && p == len - 1;
                if (isBos && id != expect.BosId)
                {
                    add(name, at, string.Create(CultureInfo.InvariantCulture, $"document start without BOS (id {id}) under separator {SpecLoader.SeparatorName(expect.Separator)}"));
                }
                else if (isEos && id != expect.EosId)
                {
                    add(name, at, string.Create(CultureInfo.InvariantCulture, $"document end without EOS (id {id}) under separator {SpecLoader.SeparatorName(expect.Separator)}"));
                }
                else if (!isBos && !isEos && (id == expect.BosId || id == expect.EosId))
                {
                    add(name, at, string.Create(CultureInfo.InvariantCulture, $"separator id {id} inside a document (framed position {p} of {len})"));
                }
            }

            bos += framing.Bos && start == 0 ? 1 : 0;
            eos += framing.Eos && end == len ? 1 : 0;
            bySource[source] += end - start;
            expectedOffset = offset + (end - start);
        }

        var pad = sidecar.Pad;
        var padId = sidecar.PadId;
        if (expectedOffset + pad != chunk)
        {
            add(name, expectedOffset, string.Create(CultureInfo.InvariantCulture,
                $"spans cover {expectedOffset} tokens and padding {pad}; the shard holds {chunk}"));
        }
        else
        {
            for (var o = expectedOffset; o < chunk; o++)
            {
                if (Token(o) != padId)
                {
                    add(name, o, "padding holds a token other than pad_id");
                    break;
                }
            }
        }

        for (var i = 0; i < sources.Count; i++)
        {
            if (sidecar.TokensBySource[sources[i]] != bySource[i])
            {
                add(name, -1, string.Create(CultureInfo.InvariantCulture, $"sidecar counts {sidecar.TokensBySource[sources[i]]} tokens of {sources[i]}, its spans hold {bySource[i]}"));
            }
        }

        if (sidecar.Bos != bos || sidecar.Eos != eos)
        {
            add(name, -1, "sidecar BOS/EOS counts do not match its spans");
        }

        return expectedOffset + pad == chunk ? new ShardTally(name, sources, bySource, pad) : null;
    }
}
