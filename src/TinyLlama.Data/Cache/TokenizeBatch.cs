using System.Buffers.Binary;
using System.Runtime.InteropServices;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tokenization;

namespace TinyLlama.Data.Cache;

/// <summary>One record of a batch: what the reader said about it and where its text sits in the batch.</summary>
internal struct BatchRecord
{
    public long Index;
    public RecordOutcome Outcome;
    public string? Reason;
    public int Replaced;
    public int TextStart;
    public int TextLength;
    public int Tokens;
}

/// <summary>
/// A run of consecutive records of one input file, copied out of the reader (whose buffers are reused) so
/// that a worker can tokenize them while the reader moves on. Reused through a pool: its buffers stay at
/// their working size, and shrink back after a huge document, so memory stays flat.
/// </summary>
internal sealed class TokenizeBatch
{
    /// <summary>A batch closes once it holds this much text (a larger document is a batch of its own).</summary>
    public const int TargetTextBytes = 1 << 20;

    /// <summary>... or this many records (many empty or filtered records).</summary>
    public const int MaxRecords = 8192;

    private const int KeepTextBytes = 4 << 20;
    private const int KeepIds = 1 << 20;

    private byte[] _text = new byte[TargetTextBytes];
    private BatchRecord[] _records = new BatchRecord[512];

    public FileBuild? File { get; set; }

    /// <summary>Position of the batch in its file: batches are written in this order.</summary>
    public long Sequence { get; set; }

    /// <summary>The reader reached the end of the file with this batch.</summary>
    public bool IsLast { get; set; }

    /// <summary>Compressed bytes of the file consumed once this batch was read (for progress).</summary>
    public long FileBytesConsumed { get; set; }

    public int TextLength { get; private set; }

    public int RecordCount { get; private set; }

    public List<int> Ids { get; private set; } = new(1 << 16);

    public int TokenByteCount { get; private set; }

    public bool IsFull => TextLength >= TargetTextBytes || RecordCount >= MaxRecords;

    public ReadOnlySpan<BatchRecord> Records => _records.AsSpan(0, RecordCount);

    /// <summary>The ids as the cache's little-endian token bytes, laid out in place over <see cref="Ids"/>' own memory.</summary>
    public ReadOnlySpan<byte> TokenBytes => MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(Ids))[..TokenByteCount];

    public void Add(SourceRecord record)
    {
        if (RecordCount == _records.Length)
        {
            Array.Resize(ref _records, _records.Length * 2);
        }

        var text = record.Utf8Text.Span;
        if (record.Outcome != RecordOutcome.Used)
        {
            text = default;
        }

        if (TextLength + text.Length > _text.Length)
        {
            var grown = new byte[Math.Max(TextLength + text.Length, _text.Length * 2)];
            _text.AsSpan(0, TextLength).CopyTo(grown);
            _text = grown;
        }

        text.CopyTo(_text.AsSpan(TextLength));
        _records[RecordCount++] = new BatchRecord
        {
            Index = record.Index,
            Outcome = record.Outcome,
            Reason = record.Reason,
            Replaced = record.ReplacedSequences,
            TextStart = TextLength,
            TextLength = text.Length,
        };
        TextLength += text.Length;
    }

    /// <summary>Tokenizes every used record, then lays the ids out as the cache's little-endian token bytes.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Tokenize(SentencePieceTokenizer tokenizer, EncoderScratch scratch, int width)
    {
        var ids = Ids;
        ids.Clear();
        for (var i = 0; i < RecordCount; i++)
        {
            ref var r = ref _records[i];
            if (r.Outcome != RecordOutcome.Used)
            {
                continue;
            }

            // A huge document: reserve about one id per 3 bytes of text at once, instead of doubling the list
            // (which holds the old and the new array at the same time).
            if (r.TextLength > TargetTextBytes && ids.Capacity - ids.Count < r.TextLength / 3)
            {
                ids.Capacity = ids.Count + (r.TextLength / 3) + 1024;
            }

            var before = ids.Count;
            tokenizer.Encode(_text.AsSpan(r.TextStart, r.TextLength), ids, scratch);
            r.Tokens = ids.Count - before;
        }

        // Narrow the ids to the cache's little-endian layout in place, front to back: element i's bytes land at
        // i × width ≤ i × 4, never ahead of an id not yet read. No second buffer, whatever the batch's size.
        var span = CollectionsMarshal.AsSpan(ids);
        var needed = span.Length * width;
        var dest = MemoryMarshal.AsBytes(span);
        if (width == 2)
        {
            var vocabulary = (uint)tokenizer.VocabularySize;
            for (var i = 0; i < span.Length; i++)
            {
                var id = span[i];
                if ((uint)id >= vocabulary || id > ushort.MaxValue)
                {
                    throw new InvalidOperationException("a token id outside the vocabulary");
                }

                BinaryPrimitives.WriteUInt16LittleEndian(dest[(2 * i)..], (ushort)id);
            }
        }
        else if (!BitConverter.IsLittleEndian)
        {
            for (var i = 0; i < span.Length; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(dest[(4 * i)..], span[i]);
            }
        }

        TokenByteCount = needed;
    }

    /// <summary>Empties the batch for reuse; buffers grown by a huge document are let go.</summary>
    public void Reset()
    {
        File = null;
        Sequence = 0;
        IsLast = false;
        FileBytesConsumed = 0;
        TextLength = 0;
        TokenByteCount = 0;
        Array.Clear(_records, 0, RecordCount); // drop the reason strings
        RecordCount = 0;
        long released = 0;
        if (_text.Length > KeepTextBytes)
        {
            released += _text.Length;
            _text = new byte[TargetTextBytes];
        }

        if (Ids.Capacity > KeepIds)
        {
            released += (long)Ids.Capacity * sizeof(int);
            Ids = new List<int>(1 << 16);
        }

        Util.LargeBuffers.Released(released);

        Ids.Clear();
    }
}
