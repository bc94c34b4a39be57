using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace TinyLlama.Data.Tokenization;

// How encoding is made fast without changing a single id:
//
// 1. Chunks. A character that occurs in no multi-character mergeable piece ("not joinable": '\n', most CJK,
//    emoji in Llama 2) can never merge, so it is a symbol of its own and the text on either side of it encodes
//    independently. Between joinable characters, a boundary before a '▁' that follows a non-'▁' character is
//    legal when no mergeable piece contains a non-'▁' character followed by '▁' (checked at load; Llama 2's
//    vocabulary has runs of '▁' but never "x▁"): no merge can then cross it. The text is cut at those points
//    only; each chunk is merged on its own. Since merges never cross a cut, the interleaving of merges in the
//    whole text is the union of each chunk's own merge order, so the ids are the same.
// 2. Cache. Chunks of up to ChunkCache.MaxKeyBytes bytes ("▁the", "▁▁▁▁if") recur constantly; bounded
//    per-thread caches map their bytes (plus a dummy-prefix flag) to ids, so a hit decodes nothing: chunks of
//    at most 8 bytes and 3 ids in a set-associative ShortChunkTable (one cache line per lookup), the rest in a
//    two-generation ChunkCache. The text is cut a window of 64 chunks at a time and each chunk's cache line is
//    prefetched before the window is encoded, so the lookups' memory latency overlaps.
// 3. Merging (cache misses only). Up to 64 symbols: a linear scan for the best pair (highest score, leftmost on
//    ties) over a compact array. Longer: sentencepiece's own agenda (a priority queue with lazy invalidation).
//
// 4. Tiering. The hot methods are marked AggressiveOptimization: under tiered compilation they otherwise run
//    for seconds as unoptimized or instrumented code (and OSR versions of the chunk loop), which halved the
//    speed on a busy 2-core machine.
//
// Models with user-defined pieces (frozen symbols) or unused pieces (resegmented from a per-text map that
// sentencepiece fills in push order) take the literal whole-text path instead.
public sealed partial class SentencePieceTokenizer
{
    /// <summary>Chunks of up to this many symbols are merged by scanning, longer ones with the agenda.</summary>
    internal const int MaxScanSymbols = 64;

    [ThreadStatic]
    private static EncoderScratch? t_scratch;

    /// <summary>Appends the ids of <paramref name="utf8Text"/> (valid UTF-8) to <paramref name="ids"/>.</summary>
    /// <remarks>Invalid UTF-8 does not throw: each byte of an invalid sequence is read as U+FFFD, as sentencepiece does.</remarks>
    public void Encode(ReadOnlySpan<byte> utf8Text, List<int> ids) => Encode(utf8Text, ids, Scratch());

    /// <summary>A worker's own working memory (buffers and chunk cache), for callers that manage their threads.</summary>
    internal EncoderScratch CreateScratch() => new(this);

    /// <summary>As <see cref="Encode(ReadOnlySpan{byte}, List{int})"/>, with working memory the caller owns (one thread at a time).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Encode(ReadOnlySpan<byte> utf8Text, List<int> ids, EncoderScratch scratch)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (!ReferenceEquals(scratch.Owner, this))
        {
            throw new ArgumentException("the scratch belongs to another tokenizer", nameof(scratch));
        }

        if (utf8Text.IsEmpty)
        {
            return;
        }

        var start = ids.Count;
        if (_fastPath)
        {
            EncodeChunked(utf8Text, ids, scratch);
        }
        else
        {
            EncodeWholeText(utf8Text, ids, scratch);
        }

        CollapseUnknownRuns(ids, start);
        scratch.ReleaseLargeBuffers();
    }

    /// <summary>The literal sentencepiece algorithm over the whole text, bypassing chunks and cache (for tests).</summary>
    internal void EncodeWithoutChunks(ReadOnlySpan<byte> utf8Text, List<int> ids)
    {
        if (!utf8Text.IsEmpty)
        {
            var start = ids.Count;
            EncodeWholeText(utf8Text, ids, Scratch());
            CollapseUnknownRuns(ids, start);
        }
    }

    /// <summary>
    /// Without byte fallback, sentencepiece merges a run of adjacent unknown symbols into one unk piece
    /// (sentencepiece_processor.cc, "Merges continuous run of unknown pieces"). Unknown symbols are the only
    /// source of the unk id, so that is: no unk id right after an unk id among the ids of this call.
    /// Done after the fact so that cached chunks stay independent of what precedes them.
    /// </summary>
    private void CollapseUnknownRuns(List<int> ids, int start)
    {
        if (_byteFallback)
        {
            return;
        }

        var span = CollectionsMarshal.AsSpan(ids);
        var write = start;
        for (var read = start; read < span.Length; read++)
        {
            if (span[read] == UnkId && write > start && span[write - 1] == UnkId)
            {
                continue;
            }

            span[write++] = span[read];
        }

        ids.RemoveRange(write, ids.Count - write);
    }

    /// <summary>
    /// Decodes one UTF-8 sequence the way sentencepiece does (util.cc DecodeUTF8): returns the code point, or -1
    /// for an invalid sequence (overlong, surrogate, beyond U+10FFFF, truncated, stray byte), which consumes one byte.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int DecodeUtf8(ReadOnlySpan<byte> s, out int length)
    {
        int b0 = s[0];
        if (b0 < 0x80)
        {
            length = 1;
            return b0;
        }

        length = 1;
        if ((b0 & 0xE0) == 0xC0)
        {
            if (s.Length >= 2 && IsTrail(s[1]))
            {
                var cp = ((b0 & 0x1F) << 6) | (s[1] & 0x3F);
                if (cp >= 0x80)
                {
                    length = 2;
                    return cp;
                }
            }
        }
        else if ((b0 & 0xF0) == 0xE0)
        {
            if (s.Length >= 3 && IsTrail(s[1]) && IsTrail(s[2]))
            {
                var cp = ((b0 & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
                if (cp >= 0x800 && cp is < 0xD800 or > 0xDFFF)
                {
                    length = 3;
                    return cp;
                }
            }
        }
        else if ((b0 & 0xF8) == 0xF0)
        {
            if (s.Length >= 4 && IsTrail(s[1]) && IsTrail(s[2]) && IsTrail(s[3]))
            {
                var cp = ((b0 & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
                if (cp is >= 0x10000 and <= 0x10FFFF)
                {
                    length = 4;
                    return cp;
                }
            }
        }

        return -1;

        static bool IsTrail(byte b) => (b & 0xC0) == 0x80;
    }

    private EncoderScratch Scratch()
    {
        var scratch = t_scratch;
        if (scratch is null || !ReferenceEquals(scratch.Owner, this))
        {
            scratch = new EncoderScratch(this);
            t_scratch = scratch;
        }

        return scratch;
    }

    /// <summary>
    /// Cuts the text into chunks, a window of them at a time: first the window is cut and the cache line each
    /// chunk will look up is prefetched, then the window is encoded in order. The lookups are independent, so
    /// their memory latency overlaps instead of stalling one chunk after another.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void EncodeChunked(ReadOnlySpan<byte> text, List<int> ids, EncoderScratch scratch)
    {
        var window = scratch.Window;
        var shortTable = scratch.ShortTable;
        var cache = scratch.Cache;
        var cut = new CutState();
        if (_addDummyPrefix)
        {
            if (_spaceJoinable)
            {
                cut.Prefixed = true;
                cut.Chars = 1;
                cut.AfterSpace = true;
            }
            else
            {
                EmitAlone(SpaceSymbol, GetChar(SpaceSymbol), ids);
            }
        }

        while (true)
        {
            var count = Cut(text, ref cut, window);
            for (var k = 0; k < count; k++)
            {
                ref var chunk = ref window[k];
                if (chunk.Chars > 1 && chunk.End - chunk.Start <= ChunkCache.MaxKeyBytes)
                {
                    if (chunk.End - chunk.Start <= ShortChunkTable.MaxKeyBytes && shortTable is not null)
                    {
                        chunk.Word = ShortChunkTable.Word(text, chunk.Start, chunk.End - chunk.Start);
                        chunk.Tag = ShortChunkTable.Tag(chunk.End - chunk.Start, chunk.Prefixed);
                        shortTable.Prefetch(chunk.Word, chunk.Tag);
                    }
                    else
                    {
                        chunk.Hash = ChunkCache.Hash(text[chunk.Start..chunk.End], chunk.Prefixed);
                        cache.Prefetch(chunk.Hash);
                    }
                }
            }

            for (var k = 0; k < count; k++)
            {
                ref var chunk = ref window[k];
                if (chunk.Chars == 0)
                {
                    EmitAlone(chunk.Char, GetChar(chunk.Char), ids);
                }
                else
                {
                    Flush(text, ref chunk, ids, scratch, shortTable, cache);
                }
            }

            if (cut.Position >= text.Length && cut.Chars == 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Cuts chunks from <paramref name="cut"/>'s position until the window is full or the text ends (then the
    /// last chunk is closed too). A character that never merges is a record of its own (Chars 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Cut(ReadOnlySpan<byte> text, ref CutState cut, Chunk[] window)
    {
        var classes = _asciiClasses;
        var plain = _joinableAscii;
        var bmp = _bmpChars;
        var split = _splitBeforeSpace;
        var count = 0;
        var limit = window.Length - 1; // an alone character may close a chunk and add itself
        var i = cut.Position;
        var start = cut.Start;
        var chars = cut.Chars;
        var afterSpace = cut.AfterSpace;
        var prefixed = cut.Prefixed;
        while (i < text.Length && count < limit)
        {
            int cp = text[i];
            int length;
            int kind;
            if (cp < 0x80)
            {
                kind = classes[cp];
                if (kind == CharJoinable)
                {
                    // A run of joinable ASCII characters (a word): skip it whole.
                    var run = text[(i + 1)..].IndexOfAnyExcept(plain);
                    run = run < 0 ? text.Length - i : run + 1;
                    i += run;
                    chars += run;
                    afterSpace = false;
                    continue;
                }

                length = 1;
                if (cp == ' ')
                {
                    cp = SpaceSymbol;
                }
            }
            else
            {
                cp = DecodeUtf8(text[i..], out length);
                if (cp < 0)
                {
                    cp = 0xFFFD;
                }

                var entry = cp < 0x10000 ? bmp[cp] : _astralChars.GetValueOrDefault(cp);
                kind = (entry & JoinableFlag) == 0 ? CharAlone : cp == SpaceSymbol ? CharSpace : CharJoinable;
                if (kind == CharJoinable)
                {
                    i += length;
                    chars++;
                    afterSpace = false;
                    continue;
                }
            }

            if (kind == CharSpace)
            {
                if (split && !afterSpace && chars > 0)
                {
                    window[count++] = new Chunk { Start = start, End = i, Chars = chars, Prefixed = prefixed };
                    prefixed = false;
                    chars = 0;
                    start = i;
                }

                i += length;
                chars++;
                afterSpace = true;
                continue;
            }

            // A character that never merges: a chunk boundary on both sides and its own output.
            if (chars > 0)
            {
                window[count++] = new Chunk { Start = start, End = i, Chars = chars, Prefixed = prefixed };
                prefixed = false;
                chars = 0;
            }

            window[count++] = new Chunk { Char = cp };
            i += length;
            start = i;
            afterSpace = false;
        }

        if (i >= text.Length && chars > 0 && count < window.Length)
        {
            window[count++] = new Chunk { Start = start, End = text.Length, Chars = chars, Prefixed = prefixed };
            chars = 0;
        }

        cut = new CutState { Position = i, Start = start, Chars = chars, AfterSpace = afterSpace, Prefixed = prefixed };
        return count;
    }

    /// <summary>A character that occurs in no multi-character mergeable piece: its piece, else byte fallback or unk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EmitAlone(int cp, int entry, List<int> ids)
    {
        var symbol = (entry & SymbolMask) - 1;
        if (symbol >= 0)
        {
            EmitSymbol(symbol, ids);
        }
        else
        {
            EmitChar(cp, ids);
        }
    }

    /// <summary>
    /// Encodes one chunk: its characters are the dummy prefix (when it has it) then the text's bytes from Start
    /// to End. Chunks of up to <see cref="ChunkCache.MaxKeyBytes"/> bytes go through the caches, keyed by their bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Flush(ReadOnlySpan<byte> text, ref Chunk chunk, List<int> ids, EncoderScratch scratch, ShortChunkTable? shortTable, ChunkCache cache)
    {
        var bytes = text[chunk.Start..chunk.End];
        var chars = chunk.Chars;
        var prefixed = chunk.Prefixed;
        var work = scratch.ScanSymbols;
        if (chars == 1)
        {
            ToSymbols(bytes, prefixed, work);
            EmitSymbol(work[0], ids);
            return;
        }

        if (bytes.Length > ChunkCache.MaxKeyBytes)
        {
            Merge(bytes, chars, prefixed, ids, scratch);
            return;
        }

        if (chunk.Tag != 0 && shortTable!.TryAppend(chunk.Word, chunk.Tag, ids))
        {
            return;
        }

        var hash = chunk.Tag != 0 ? ChunkCache.Hash(bytes, prefixed) : chunk.Hash;
        if (cache.TryGet(hash, bytes, prefixed, out var cached))
        {
            ids.AddRange(cached);
            return;
        }

        var first = ids.Count;
        Merge(bytes, chars, prefixed, ids, scratch);
        var value = CollectionsMarshal.AsSpan(ids)[first..];
        if (chunk.Tag != 0 && value.Length <= ShortChunkTable.MaxIds)
        {
            shortTable!.Add(chunk.Word, chunk.Tag, value);
        }
        else
        {
            cache.Add(hash, bytes, prefixed, value);
        }
    }

    /// <summary>Merges a chunk uncached: by scanning when it is short, else with sentencepiece's agenda.</summary>
    private void Merge(ReadOnlySpan<byte> bytes, int chars, bool prefixed, List<int> ids, EncoderScratch scratch)
    {
        if (chars <= MaxScanSymbols)
        {
            var work = scratch.ScanSymbols;
            MergeByScan(work, ToSymbols(bytes, prefixed, work), ids, scratch);
        }
        else
        {
            var symbols = scratch.SymbolBuffer(chars);
            MergeWithAgenda(symbols, ToSymbols(bytes, prefixed, symbols), frozen: null, ids, scratch);
        }
    }

    /// <summary>The symbols of a chunk's characters (all joinable), the dummy prefix first when there is one; returns their count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int ToSymbols(ReadOnlySpan<byte> bytes, bool prefixed, int[] symbols)
    {
        var bmp = _bmpChars;
        var n = 0;
        if (prefixed)
        {
            symbols[n++] = (bmp[SpaceSymbol] & SymbolMask) - 1;
        }

        var i = 0;
        while (i < bytes.Length)
        {
            int cp = bytes[i];
            if (cp < 0x80)
            {
                i++;
                if (cp == ' ')
                {
                    cp = SpaceSymbol;
                }
            }
            else
            {
                cp = DecodeUtf8(bytes[i..], out var length);
                i += length;
                if (cp < 0)
                {
                    cp = 0xFFFD;
                }
            }

            symbols[n++] = ((cp < 0x10000 ? bmp[cp] : _astralChars.GetValueOrDefault(cp)) & SymbolMask) - 1;
        }

        return n;
    }

    /// <summary>Merges a short chunk: repeatedly the best adjacent pair (highest score, leftmost on ties).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void MergeByScan(int[] symbols, int n, List<int> ids, EncoderScratch scratch)
    {
        var merged = scratch.ScanMerged;
        var scores = scratch.ScanScores;
        for (var i = 0; i < n - 1; i++)
        {
            SetPair(symbols, merged, scores, i);
        }

        while (n > 1)
        {
            var best = -1;
            var bestScore = 0f;
            for (var i = 0; i < n - 1; i++)
            {
                if (merged[i] >= 0 && (best < 0 || scores[i] > bestScore))
                {
                    best = i;
                    bestScore = scores[i];
                }
            }

            if (best < 0)
            {
                break;
            }

            symbols[best] = merged[best];
            n--;
            for (var j = best + 1; j < n; j++)
            {
                symbols[j] = symbols[j + 1];
            }

            for (var j = best + 1; j < n - 1; j++)
            {
                merged[j] = merged[j + 1];
                scores[j] = scores[j + 1];
            }

            if (best > 0)
            {
                SetPair(symbols, merged, scores, best - 1);
            }

            if (best < n - 1)
            {
                SetPair(symbols, merged, scores, best);
            }
        }

        for (var i = 0; i < n; i++)
        {
            EmitSymbol(symbols[i], ids);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private void SetPair(int[] symbols, int[] merged, float[] scores, int i)
    {
        var m = _pairs.Find(symbols[i], symbols[i + 1]);
        merged[i] = m;
        scores[i] = m >= 0 ? _scores[m] : 0f;
    }

    /// <summary>
    /// sentencepiece's BPE loop (bpe_model.cc Model::Encode): an agenda of candidate pairs ordered by score, then
    /// by smaller left position; entries made stale by an earlier merge are recognised by their size and skipped.
    /// Symbols &lt; 0 are characters that are no piece at all and never merge; frozen symbols (user-defined pieces)
    /// never merge either. With unused pieces, the final symbols are resegmented as sentencepiece does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void MergeWithAgenda(int[] symbols, int n, bool[]? frozen, List<int> ids, EncoderScratch scratch)
    {
        scratch.EnsureAgendaCapacity(n);
        var length = scratch.Lengths;
        var prev = scratch.Prev;
        var next = scratch.Next;
        var lengthsPreset = frozen is not null; // the whole-text path fills in lengths of user-defined matches
        for (var i = 0; i < n; i++)
        {
            if (!lengthsPreset)
            {
                length[i] = 1;
            }

            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }

        var agenda = scratch.Agenda;
        agenda.Clear();
        var revMerge = _hasUnused ? scratch.RevMerge : null;
        revMerge?.Clear();
        for (var i = 1; i < n; i++)
        {
            TryPush(i - 1, i);
        }

        while (agenda.Count > 0)
        {
            var top = agenda.Pop();
            var l = top.Left;
            var r = top.Right;
            if (length[l] == 0 || length[r] == 0 || length[l] + length[r] != top.Size)
            {
                continue;
            }

            symbols[l] = top.Merged;
            length[l] += length[r];
            length[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0)
            {
                prev[next[r]] = l;
            }

            TryPush(prev[l], l);
            TryPush(l, next[l]);
        }

        for (var i = 0; i >= 0; i = next[i])
        {
            if (revMerge is null)
            {
                EmitSymbol(symbols[i], ids);
            }
            else
            {
                Resegment(symbols[i], ids, revMerge);
            }
        }

        void TryPush(int left, int right)
        {
            if (left < 0 || right < 0 || (frozen is not null && (frozen[left] || frozen[right])))
            {
                return;
            }

            var a = symbols[left];
            var b = symbols[right];
            if (a < 0 || b < 0)
            {
                return;
            }

            var m = _pairs.Find(a, b);
            if (m < 0)
            {
                return;
            }

            agenda.Push(new AgendaEntry(_scores[m], left, right, length[left] + length[right], m));
            if (revMerge is not null && _types[m] == PieceType.Unused)
            {
                revMerge[m] = (a, b);
            }
        }
    }

    private void Resegment(int symbol, List<int> ids, Dictionary<int, (int Left, int Right)> revMerge)
    {
        if (symbol >= 0 && symbol < VocabularySize && _types[symbol] == PieceType.Unused
            && revMerge.TryGetValue(symbol, out var parts))
        {
            Resegment(parts.Left, ids, revMerge);
            Resegment(parts.Right, ids, revMerge);
        }
        else
        {
            EmitSymbol(symbol, ids);
        }
    }

    /// <summary>The whole text as one symbol sequence, user-defined pieces matched longest-first and frozen.</summary>
    private void EncodeWholeText(ReadOnlySpan<byte> text, List<int> ids, EncoderScratch scratch)
    {
        // Normalize: dummy prefix, ' ' → '▁', invalid UTF-8 → U+FFFD per byte.
        var chars = scratch.CodePoints(text.Length + 1);
        var count = 0;
        if (_addDummyPrefix)
        {
            chars[count++] = SpaceSymbol;
        }

        for (var i = 0; i < text.Length;)
        {
            var cp = DecodeUtf8(text[i..], out var length);
            i += length;
            chars[count++] = cp < 0 ? 0xFFFD : cp == ' ' ? SpaceSymbol : cp;
        }

        scratch.EnsureAgendaCapacity(count);
        var symbols = scratch.WholeTextSymbols(count);
        var frozen = scratch.Frozen;
        var lengths = scratch.Lengths;
        var n = 0;
        for (var p = 0; p < count;)
        {
            var matched = 0;
            var matchedId = -1;
            if (_userDefinedByFirstChar.Count > 0 && _userDefinedByFirstChar.TryGetValue(chars[p], out var candidates))
            {
                foreach (var candidate in candidates)
                {
                    if (candidate.Length <= count - p && chars.AsSpan(p, candidate.Length).SequenceEqual(candidate))
                    {
                        matched = candidate.Length;
                        matchedId = SymbolOfCodePoints(candidate);
                        break;
                    }
                }
            }

            if (matched > 0)
            {
                symbols[n] = matchedId;
                lengths[n] = matched;
                frozen[n] = true;
                p += matched;
            }
            else
            {
                var symbol = (GetChar(chars[p]) & SymbolMask) - 1;
                symbols[n] = symbol >= 0 ? symbol : -chars[p] - 1;
                lengths[n] = 1;
                frozen[n] = false;
                p++;
            }

            n++;
        }

        MergeWithAgenda(symbols, n, frozen, ids, scratch);
    }

    private int SymbolOfCodePoints(int[] codePoints)
    {
        var builder = new StringBuilder();
        foreach (var cp in codePoints)
        {
            builder.Append(char.ConvertFromUtf32(cp));
        }

        return Array.IndexOf(_pieces, builder.ToString());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private void EmitSymbol(int symbol, List<int> ids)
    {
        if ((uint)symbol < (uint)VocabularySize)
        {
            ids.Add(symbol);
        }
        else
        {
            EmitChar(symbol >= 0 ? _pseudoCodePoints[symbol - VocabularySize] : -symbol - 1, ids);
        }
    }

    /// <summary>A character that is no mergeable piece: a reserved piece of that text, else byte fallback, else unk.</summary>
    private void EmitChar(int cp, List<int> ids)
    {
        if (_reservedSingleChars.Count > 0 && _reservedSingleChars.TryGetValue(cp, out var reserved)
            && _types[reserved] != PieceType.Unknown)
        {
            ids.Add(reserved);
            return;
        }

        if (!_byteFallback)
        {
            ids.Add(UnkId);
            return;
        }

        Span<byte> utf8 = stackalloc byte[4];
        var length = new Rune(cp).EncodeToUtf8(utf8);
        for (var i = 0; i < length; i++)
        {
            ids.Add(_byteIds[utf8[i]]);
        }
    }

    /// <summary>Where cutting stands: the text position and the chunk collected so far.</summary>
    private struct CutState
    {
        public int Position;
        public int Start;
        public int Chars;
        public bool AfterSpace;
        public bool Prefixed;
    }
}

/// <summary>
/// One record of a cut window: a chunk (Chars ≥ 1: the dummy prefix when Prefixed, then the bytes Start..End)
/// or a character that never merges (Chars 0, the code point in Char); with the cache key computed for its lookup.
/// </summary>
internal struct Chunk
{
    public int Start;
    public int End;
    public int Chars;
    public int Char;
    public bool Prefixed;
    public ulong Word;
    public ulong Tag;
    public ulong Hash;
}
