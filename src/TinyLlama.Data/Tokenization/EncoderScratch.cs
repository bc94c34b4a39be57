namespace TinyLlama.Data.Tokenization;

/// <summary>
/// One thread's working memory for one tokenizer: buffers reused across calls and the chunk cache.
/// Buffers grown past <see cref="KeepLimit"/> elements by a huge document are dropped after the call,
/// so a thread's footprint stays flat.
/// </summary>
internal sealed class EncoderScratch(SentencePieceTokenizer owner, ChunkCache? cache = null, ShortChunkTable? shortTable = null)
{
    private const int KeepLimit = 1 << 20;

    private ChunkCache? _cache = cache;
    private ShortChunkTable? _shortTable = shortTable;
    private int[] _codePoints = [];
    private int[] _symbols = [];
    private int[] _wholeTextSymbols = [];
    private byte[] _utf8 = [];

    public SentencePieceTokenizer Owner { get; } = owner;

    public ChunkCache Cache => _cache ??= new ChunkCache();

    /// <summary>The cache of short chunks; null when the vocabulary's ids do not fit in 16 bits.</summary>
    public ShortChunkTable? ShortTable => _shortTable ??= Owner.VocabularySize <= ShortChunkTable.MaxId ? new ShortChunkTable() : null;

    public int[] ScanSymbols { get; } = new int[SentencePieceTokenizer.MaxScanSymbols];
    public int[] ScanMerged { get; } = new int[SentencePieceTokenizer.MaxScanSymbols];
    public float[] ScanScores { get; } = new float[SentencePieceTokenizer.MaxScanSymbols];

    /// <summary>The window of chunks being cut and encoded.</summary>
    public Chunk[] Window { get; } = new Chunk[64];

    public int[] Lengths { get; private set; } = [];
    public int[] Prev { get; private set; } = [];
    public int[] Next { get; private set; } = [];
    public bool[] Frozen { get; private set; } = [];
    public Agenda Agenda { get; } = new();
    public Dictionary<int, (int Left, int Right)> RevMerge { get; } = [];
    public List<int> StringIds { get; } = [];

    /// <summary>Room for the symbols of a long chunk.</summary>
    public int[] SymbolBuffer(int n) => _symbols.Length >= n ? _symbols : _symbols = new int[Math.Max(n, _symbols.Length * 2)];

    public void EnsureAgendaCapacity(int n)
    {
        if (Lengths.Length < n)
        {
            var size = Math.Max(n, Lengths.Length * 2);
            Lengths = new int[size];
            Prev = new int[size];
            Next = new int[size];
            Frozen = new bool[size];
        }
    }

    public int[] CodePoints(int n) => _codePoints.Length >= n ? _codePoints : _codePoints = new int[Math.Max(n, _codePoints.Length * 2)];

    public int[] WholeTextSymbols(int n) =>
        _wholeTextSymbols.Length >= n ? _wholeTextSymbols : _wholeTextSymbols = new int[Math.Max(n, _wholeTextSymbols.Length * 2)];

    public byte[] Utf8Buffer(int n) => _utf8.Length >= n ? _utf8 : _utf8 = new byte[Math.Max(n, _utf8.Length * 2)];

    public void ReleaseStringBuffers()
    {
        if (_utf8.Length > KeepLimit)
        {
            _utf8 = [];
        }

        if (StringIds.Capacity > KeepLimit)
        {
            StringIds.Clear();
            StringIds.Capacity = 0;
        }
    }

    public void ReleaseLargeBuffers()
    {
        if (_symbols.Length > KeepLimit)
        {
            _symbols = [];
        }

        if (Lengths.Length > KeepLimit)
        {
            Lengths = Prev = Next = [];
            Frozen = [];
        }

        if (_codePoints.Length > KeepLimit)
        {
            _codePoints = [];
        }

        if (_wholeTextSymbols.Length > KeepLimit)
        {
            _wholeTextSymbols = [];
        }

        Agenda.Trim(KeepLimit);
    }
}

/// <summary>A candidate merge: the pair (Left, Right) of symbol positions, its piece and that piece's score.</summary>
internal readonly record struct AgendaEntry(float Score, int Left, int Right, int Size, int Merged);

/// <summary>A binary max-heap of candidate merges: higher score first, then the smaller left position.</summary>
internal sealed class Agenda
{
    private AgendaEntry[] _items = new AgendaEntry[256];

    public int Count { get; private set; }

    public void Clear() => Count = 0;

    public void Push(AgendaEntry entry)
    {
        if (Count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }

        var i = Count++;
        while (i > 0)
        {
            var parent = (i - 1) >> 1;
            if (!Before(entry, _items[parent]))
            {
                break;
            }

            _items[i] = _items[parent];
            i = parent;
        }

        _items[i] = entry;
    }

    public AgendaEntry Pop()
    {
        var top = _items[0];
        var last = _items[--Count];
        var i = 0;
        while (true)
        {
            var child = (2 * i) + 1;
            if (child >= Count)
            {
                break;
            }

            if (child + 1 < Count && Before(_items[child + 1], _items[child]))
            {
                child++;
            }

            if (!Before(_items[child], last))
            {
                break;
            }

            _items[i] = _items[child];
            i = child;
        }

        if (Count > 0)
        {
            _items[i] = last;
        }

        return top;
    }

    public void Trim(int limit)
    {
        if (_items.Length > limit)
        {
            _items = new AgendaEntry[256];
            Count = 0;
        }
    }

    private static bool Before(AgendaEntry a, AgendaEntry b) =>
        a.Score > b.Score || (a.Score == b.Score && a.Left < b.Left);
}
