using System.Security.Cryptography;
using System.Text;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Tokenization;

/// <summary>
/// A SentencePiece BPE tokenizer read from a <c>tokenizer.model</c> file, giving the ids sentencepiece's
/// <c>encode</c> gives (no BOS/EOS added). Immutable and safe to use from many threads at once.
/// </summary>
/// <remarks>
/// The algorithm is sentencepiece's (bpe_model.cc, normalizer.cc): the text gets the dummy prefix
/// <c>▁</c> and every space becomes <c>▁</c> (identity normalizer); it is split into characters; the adjacent
/// pair whose concatenation is a vocabulary piece with the highest score is merged, ties going to the leftmost
/// pair, until no pair merges; each final symbol becomes its id, or its UTF-8 bytes as <c>&lt;0xNN&gt;</c>
/// pieces (byte fallback), or unk. See <c>SentencePieceTokenizer.Encode.cs</c> for how that is made fast.
/// </remarks>
public sealed partial class SentencePieceTokenizer
{
    internal const int SpaceSymbol = 0x2581; // ▁

    private const int JoinableFlag = 1 << 30;
    private const int SymbolMask = JoinableFlag - 1;

    // How the chunk split sees a character.
    private const byte CharJoinable = 0; // may merge with its neighbours
    private const byte CharSpace = 1; // '▁' (or ' '), joinable: a chunk may start before it
    private const byte CharAlone = 2; // occurs in no multi-character mergeable piece: never merges

    private readonly string[] _pieces;
    private readonly float[] _scores;
    private readonly PieceType[] _types;

    // Symbols: ids 0..V-1 are vocabulary pieces; V.. are "pseudo" symbols for characters that occur inside
    // multi-character pieces without being pieces themselves. Per code point: (symbol + 1) | JoinableFlag, where
    // joinable means the character occurs in some multi-character mergeable piece (so it may merge at all).
    private readonly int[] _bmpChars;
    private readonly Dictionary<int, int> _astralChars;
    private readonly int[] _pseudoCodePoints;
    private readonly Dictionary<int, int> _reservedSingleChars;
    private readonly PairTable _pairs;
    private readonly int[] _byteIds;
    private readonly bool _byteFallback;
    private readonly bool _addDummyPrefix;
    private readonly byte[] _unkSurface;

    // Fast path: split into chunks that provably encode independently, and cache chunk → ids.
    // Off (whole-text, sentencepiece-literal path) for models with user-defined or unused pieces.
    private readonly bool _fastPath;
    private readonly bool _splitBeforeSpace;
    private readonly bool _spaceJoinable;
    private readonly byte[] _asciiClasses = new byte[0x80];
    private readonly System.Buffers.SearchValues<byte> _joinableAscii;
    private readonly bool _hasUnused;
    private readonly Dictionary<int, int[][]> _userDefinedByFirstChar;

    private SentencePieceTokenizer(string modelPath, byte[] bytes, SentencePieceModelProto model)
    {
        ModelSha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var pieces = model.Pieces;
        var v = pieces.Count;
        VocabularySize = v;
        _pieces = new string[v];
        _scores = new float[v];
        _types = new PieceType[v];
        _byteFallback = model.ByteFallback;
        _addDummyPrefix = model.AddDummyPrefix;
        _unkSurface = Encoding.UTF8.GetBytes(model.UnkSurface);

        var index = new Dictionary<string, int>(v, StringComparer.Ordinal);
        var unkId = -1;
        for (var id = 0; id < v; id++)
        {
            var (piece, score, type) = pieces[id];
            if (piece.Length == 0)
            {
                throw Refuse(modelPath, FormattableString.Invariant($"piece {id} is empty"));
            }

            if (float.IsNaN(score))
            {
                throw Refuse(modelPath, FormattableString.Invariant($"piece {id} has a NaN score"));
            }

            if (!index.TryAdd(piece, id))
            {
                throw Refuse(modelPath, FormattableString.Invariant($"piece {id} \"{piece}\" is defined twice"));
            }

            if (type == PieceType.Unknown)
            {
                if (unkId >= 0)
                {
                    throw Refuse(modelPath, "the model has more than one unknown piece");
                }

                unkId = id;
            }

            if (type == PieceType.Byte && !model.ByteFallback)
            {
                throw Refuse(modelPath, FormattableString.Invariant($"byte piece {id} \"{piece}\" is present although byte_fallback is off"));
            }

            _pieces[id] = piece;
            _scores[id] = score;
            _types[id] = type;
        }

        if (unkId < 0)
        {
            throw Refuse(modelPath, "the model has no unknown piece");
        }

        UnkId = unkId;
        BosId = CheckSpecialId(modelPath, "bos_id", model.BosId, v);
        EosId = CheckSpecialId(modelPath, "eos_id", model.EosId, v);

        _byteIds = new int[256];
        if (_byteFallback)
        {
            for (var b = 0; b < 256; b++)
            {
                var name = FormattableString.Invariant($"<0x{b:X2}>");
                if (!index.TryGetValue(name, out var id) || _types[id] != PieceType.Byte)
                {
                    throw Refuse(modelPath, $"byte_fallback is on but the byte piece {name} is missing");
                }

                _byteIds[b] = id;
            }
        }

        // Characters, pseudo symbols, and which characters can take part in a merge at all.
        _bmpChars = new int[0x10000];
        _astralChars = [];
        _reservedSingleChars = [];
        _userDefinedByFirstChar = [];
        var pseudo = new List<int>();
        var splitBeforeSpace = true;
        var hasUserDefined = false;
        var codePoints = new List<int>();
        for (var id = 0; id < v; id++)
        {
            CodePoints(_pieces[id], codePoints);
            if (!IsMergeable(_types[id]))
            {
                if (codePoints.Count == 1)
                {
                    _reservedSingleChars[codePoints[0]] = id;
                }

                continue;
            }

            _hasUnused |= _types[id] == PieceType.Unused;
            if (_types[id] == PieceType.UserDefined)
            {
                hasUserDefined = true;
                AddUserDefined(codePoints);
            }

            if (codePoints.Count == 1)
            {
                SetChar(codePoints[0], (GetChar(codePoints[0]) & JoinableFlag) | (id + 1));
                continue;
            }

            for (var k = 0; k < codePoints.Count; k++)
            {
                SetChar(codePoints[k], GetChar(codePoints[k]) | JoinableFlag);
                if (k > 0 && codePoints[k] == SpaceSymbol && codePoints[k - 1] != SpaceSymbol)
                {
                    splitBeforeSpace = false;
                }
            }
        }

        // Joinable characters that are not pieces get pseudo symbols, so every split of a piece is a pair of symbols.
        for (var id = 0; id < v; id++)
        {
            if (!IsMergeable(_types[id]))
            {
                continue;
            }

            CodePoints(_pieces[id], codePoints);
            if (codePoints.Count < 2)
            {
                continue;
            }

            foreach (var cp in codePoints)
            {
                var entry = GetChar(cp);
                if ((entry & SymbolMask) == 0)
                {
                    SetChar(cp, entry | (v + pseudo.Count + 1));
                    pseudo.Add(cp);
                }
            }
        }

        _pseudoCodePoints = [.. pseudo];
        if (v + pseudo.Count >= PairTable.MaxSymbols)
        {
            throw Refuse(modelPath, FormattableString.Invariant($"the vocabulary is too large ({v} pieces)"));
        }

        // Merge rules: every split of every multi-character mergeable piece into two symbols.
        var pairs = new Dictionary<(int Left, int Right), int>();
        for (var id = 0; id < v; id++)
        {
            if (!IsMergeable(_types[id]))
            {
                continue;
            }

            var piece = _pieces[id];
            CodePoints(piece, codePoints);
            var offset = 0;
            for (var k = 1; k < codePoints.Count; k++)
            {
                offset += codePoints[k - 1] > 0xFFFF ? 2 : 1;
                var left = SymbolOf(piece[..offset], index);
                var right = SymbolOf(piece[offset..], index);
                if (left >= 0 && right >= 0)
                {
                    pairs[(left, right)] = id;
                }
            }
        }

        _pairs = new PairTable(pairs);
        _splitBeforeSpace = splitBeforeSpace;
        _spaceJoinable = (GetChar(SpaceSymbol) & JoinableFlag) != 0;
        for (var c = 0; c < 0x80; c++)
        {
            _asciiClasses[c] = c == ' '
                ? (_spaceJoinable ? CharSpace : CharAlone)
                : (GetChar(c) & JoinableFlag) != 0 ? CharJoinable : CharAlone;
        }

        _joinableAscii = System.Buffers.SearchValues.Create([.. Enumerable.Range(0, 0x80).Where(c => _asciiClasses[c] == CharJoinable).Select(c => (byte)c)]);
        _fastPath = !hasUserDefined && !_hasUnused;
        foreach (var list in _userDefinedByFirstChar.Values)
        {
            Array.Sort(list, static (a, b) => b.Length.CompareTo(a.Length)); // longest match first
        }
    }

    /// <summary>Number of pieces (ids are 0 .. VocabularySize - 1).</summary>
    public int VocabularySize { get; }

    /// <summary>The BOS id of the model's trainer spec, or -1 when the model has none.</summary>
    public int BosId { get; }

    /// <summary>The EOS id of the model's trainer spec, or -1 when the model has none.</summary>
    public int EosId { get; }

    /// <summary>The id of the unknown piece.</summary>
    public int UnkId { get; }

    /// <summary>Lower-case hex sha256 of the model file's bytes.</summary>
    public string ModelSha256 { get; }

    /// <summary>Whether the chunk split and cache are in use (false for models with user-defined or unused pieces).</summary>
    internal bool UsesFastPath => _fastPath;

    /// <summary>Whether a <c>▁</c> after another character is a legal chunk boundary for this vocabulary.</summary>
    internal bool SplitsBeforeSpace => _splitBeforeSpace;

    /// <summary>Loads and validates a model; throws <see cref="SpecException"/> for one we cannot encode exactly.</summary>
    public static SentencePieceTokenizer Load(string modelPath)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(modelPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new SpecException(modelPath, 0, 0, $"cannot read the tokenizer model: {e.Message}", e);
        }

        SentencePieceModelProto model;
        try
        {
            model = SentencePieceModelProto.Parse(bytes);
        }
        catch (FormatException e)
        {
            throw Refuse(modelPath, $"not a sentencepiece model file ({e.Message})", e);
        }

        if (model.Pieces.Count == 0)
        {
            throw Refuse(modelPath, "not a sentencepiece model file (it has no pieces)");
        }

        if (model.ModelType != SentencePieceModelProto.ModelTypeBpe)
        {
            var name = model.ModelType switch
            {
                1 => "UNIGRAM",
                3 => "WORD",
                4 => "CHAR",
                _ => model.ModelType.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            throw Refuse(modelPath, $"model type {name} is not supported; only BPE models can be encoded exactly");
        }

        if (model.PrecompiledCharsmapLength > 0)
        {
            throw Refuse(modelPath, $"the normalizer \"{model.NormalizerName}\" has a precompiled charsmap; only the identity normalizer is supported");
        }

        if (model.RemoveExtraWhitespaces)
        {
            throw Refuse(modelPath, "normalizer_spec.remove_extra_whitespaces is on; only models that keep whitespace are supported");
        }

        if (!model.EscapeWhitespaces)
        {
            throw Refuse(modelPath, "normalizer_spec.escape_whitespaces is off; only models that escape spaces as U+2581 are supported");
        }

        if (model.TreatWhitespaceAsSuffix)
        {
            throw Refuse(modelPath, "trainer_spec.treat_whitespace_as_suffix is on; it is not supported");
        }

        return new SentencePieceTokenizer(modelPath, bytes, model);
    }

    /// <summary>Encodes a string; lone surrogates become U+FFFD first.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return [];
        }

        var scratch = Scratch();
        var bytes = scratch.Utf8Buffer(Encoding.UTF8.GetMaxByteCount(text.Length));
        var length = Encoding.UTF8.GetBytes(text, bytes); // replaces lone surrogates with EF BF BD
        var ids = scratch.StringIds;
        ids.Clear();
        Encode(bytes.AsSpan(0, length), ids);
        var result = ids.ToArray();
        scratch.ReleaseStringBuffers();
        return result;
    }

    /// <summary>The text of the ids (byte pieces joined back into UTF-8, the dummy prefix removed).</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        var atStart = true;
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)VocabularySize)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, "id outside the vocabulary");
            }

            switch (_types[id])
            {
                case PieceType.Control:
                    continue;
                case PieceType.Unknown:
                    bytes.AddRange(_unkSurface);
                    break;
                case PieceType.Byte:
                    bytes.Add((byte)Array.IndexOf(_byteIds, id));
                    break;
                default:
                    var piece = _pieces[id].AsSpan();
                    if (atStart && _addDummyPrefix && piece[0] == (char)SpaceSymbol)
                    {
                        piece = piece[1..];
                    }

                    foreach (var rune in piece.EnumerateRunes())
                    {
                        var r = rune.Value == SpaceSymbol ? new Rune(' ') : rune;
                        bytes.AddRange(utf8[..r.EncodeToUtf8(utf8)]);
                    }

                    break;
            }

            atStart = false;
        }

        return DecodeUtf8PerByte(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>UTF-8 to string the way sentencepiece reads UTF-8: each byte of an invalid sequence becomes one U+FFFD.</summary>
    internal static string DecodeUtf8PerByte(ReadOnlySpan<byte> utf8)
    {
        var builder = new StringBuilder(utf8.Length);
        var i = 0;
        while (i < utf8.Length)
        {
            var cp = DecodeUtf8(utf8[i..], out var length);
            builder.Append(Rune.IsValid(cp) ? new Rune(cp).ToString() : "\uFFFD");
            i += length;
        }

        return builder.ToString();
    }

    private static bool IsMergeable(PieceType type) =>
        type is PieceType.Normal or PieceType.UserDefined or PieceType.Unused;

    private static void CodePoints(string text, List<int> codePoints)
    {
        codePoints.Clear();
        foreach (var rune in text.EnumerateRunes())
        {
            codePoints.Add(rune.Value);
        }
    }

    private static SpecException Refuse(string modelPath, string problem, Exception? inner = null) =>
        new(modelPath, 0, 0, problem, inner);

    private static int CheckSpecialId(string modelPath, string name, int id, int vocabularySize)
    {
        if (id >= vocabularySize)
        {
            throw Refuse(modelPath, FormattableString.Invariant($"trainer_spec.{name} {id} is outside the vocabulary of {vocabularySize} pieces"));
        }

        return id < 0 ? -1 : id;
    }

    private void AddUserDefined(List<int> codePoints)
    {
        var first = codePoints[0];
        var list = _userDefinedByFirstChar.TryGetValue(first, out var existing) ? existing : [];
        _userDefinedByFirstChar[first] = [.. list, codePoints.ToArray()];
    }

    private int SymbolOf(string text, Dictionary<string, int> index)
    {
        var first = char.ConvertToUtf32(text, 0);
        if (text.Length == (first > 0xFFFF ? 2 : 1))
        {
            return (GetChar(first) & SymbolMask) - 1;
        }

        return index.TryGetValue(text, out var id) && IsMergeable(_types[id]) ? id : -1;
    }

    private int GetChar(int cp) =>
        cp < 0x10000 ? _bmpChars[cp] : _astralChars.GetValueOrDefault(cp);

    private void SetChar(int cp, int value)
    {
        if (cp < 0x10000)
        {
            _bmpChars[cp] = value;
        }
        else
        {
            _astralChars[cp] = value;
        }
    }
}
