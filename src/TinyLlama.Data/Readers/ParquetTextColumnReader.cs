using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Compression;
using Parquet.Meta;
using TinyLlama.Data.Errors;
using ZstdSharp;

namespace TinyLlama.Data.Readers;

/// <summary>
/// Streams the values of one flat BYTE_ARRAY column chunk page by page, as raw bytes (no strings): Parquet.Net is
/// used only for the footer metadata. A page up to <see cref="DefaultStreamAbove"/> decoded bytes is read whole: one
/// compressed and one decompressed copy. A larger PLAIN page (some writers put a whole 200 MB row group in one page) is
/// streamed through its codec twice: once to check it, once to hand out its values one at a time, so memory is the
/// largest value plus the codec's window, whatever the page's size. Dictionary pages are held whole. Either way each
/// page is checked whole (sizes, levels, value lengths, dictionary indices) before any of its values is handed out, so
/// a bad page fails at its first row.
/// Errors are <see cref="BadInputException"/>s naming the file, the row and the page's file offset; the reason code
/// (<see cref="ReasonCodes.CorruptRowGroup"/> or <see cref="ReasonCodes.UnsupportedEncoding"/>) is also left in
/// <see cref="FailureReason"/>. Page CRCs are not checked.
/// </summary>
internal sealed class ParquetTextColumnReader : IDisposable
{
    /// <summary>Encodings a chunk's metadata may list (RLE and BIT_PACKED are level encodings).</summary>
    private static readonly HashSet<Encoding> Readable =
        [Encoding.PLAIN, Encoding.PLAIN_DICTIONARY, Encoding.RLE_DICTIONARY, Encoding.RLE, Encoding.BIT_PACKED];

    /// <summary>Decoded pages larger than this are streamed rather than read whole.</summary>
    public const int DefaultStreamAbove = 4 << 20;

    private const int RleEncoding = 3;

    private readonly string _path;
    private readonly Stream _file;
    private readonly ThriftFileInput _input;
    private readonly ByteBuffer _compressed = new(1 << 16);
    private readonly ByteBuffer _page = new(1 << 16);
    private readonly ByteBuffer _dictionary = new(1 << 12);
    private readonly ByteBuffer _levelBytes = new(1 << 10);
    private readonly long _streamAbove;
    private int[] _levels = [];
    private int[] _indices = [];
    private int[] _dictionaryStarts = [];
    private Decompressor? _zstd;

    private string _column = "";
    private int _group;
    private CompressionCodec _codec;
    private int _maxDefinition;
    private int _levelBitWidth;
    private long _chunkEnd;
    private long _position;
    private long _chunkValues;
    private long _valuesRead;
    private long _firstRow;
    private int _dictionaryCount;
    private bool _sawDataPage;

    private long _pageOffset;
    private long _pageFirstRow;
    private int _pageValues;
    private int _pageIndex;
    private bool _pageUsesDictionary;
    private int _valuePosition;
    private int _nonNull;
    private Stream? _pageStream;
    private long _pageStreamLeft;

    /// <param name="path">The file's name, for messages.</param>
    /// <param name="file">The file (seekable).</param>
    /// <param name="streamAbove">Pages decoding to more bytes than this are streamed (tests set 0 to stream every page).</param>
    public ParquetTextColumnReader(string path, Stream file, long streamAbove = DefaultStreamAbove)
    {
        _path = path;
        _file = file;
        _streamAbove = streamAbove;
        _input = new ThriftFileInput(file, "the page header", "the column chunk");
    }

    /// <summary>Pages streamed rather than read whole since this reader was created.</summary>
    public int PagesStreamed { get; private set; }

    /// <summary>The file row of the current value (valid after <see cref="MoveNext"/>).</summary>
    public long Row => _pageFirstRow + _pageIndex - 1;

    /// <summary>File offset of the page the current value (or the failure) is in.</summary>
    public long PageOffset => _pageOffset;

    public bool IsNull { get; private set; }

    /// <summary>The current value's bytes, not validated as UTF-8; valid until the next <see cref="MoveNext"/>.</summary>
    public ReadOnlyMemory<byte> Value { get; private set; }

    /// <summary>Pages (of any type) read since this reader was created.</summary>
    public int PagesRead { get; private set; }

    /// <summary>The reason code of the last exception thrown.</summary>
    public string? FailureReason { get; private set; }

    /// <summary>Starts a column chunk; refuses what it cannot read exactly before reading any page.</summary>
    public void Open(ColumnChunk? chunk, int maxDefinitionLevel, int maxRepetitionLevel, long rowCount, long firstRow, int group, string column)
    {
        _column = column;
        _group = group;
        _firstRow = firstRow;
        _pageFirstRow = firstRow;
        _pageOffset = -1;
        _pageValues = 0;
        _pageIndex = 0;
        _valuesRead = 0;
        _dictionaryCount = -1;
        _sawDataPage = false;
        ClosePageStream();
        var meta = chunk?.MetaData;
        if (meta is null || chunk!.CryptoMetadata is not null || chunk.EncryptedColumnMetadata is not null)
        {
            Fail(ReasonCodes.UnsupportedEncoding, firstRow, -1, "no readable column chunk metadata (encrypted?)");
        }

        var start = meta.DictionaryPageOffset is { } d && d > 0 && d < meta.DataPageOffset ? d : meta.DataPageOffset;
        _pageOffset = start;
        if (maxRepetitionLevel != 0)
        {
            Fail(ReasonCodes.UnsupportedEncoding, firstRow, start, "a repeated (list) column is not a text column");
        }

        if (meta.Type != Parquet.Meta.Type.BYTE_ARRAY)
        {
            Fail(ReasonCodes.UnsupportedEncoding, firstRow, start, $"physical type {meta.Type}, not BYTE_ARRAY");
        }

        var used = new List<Encoding>(meta.Encodings ?? []);
        if (meta.EncodingStats is { Count: > 0 } stats)
        {
            used.AddRange(stats.Select(s => s.Encoding));
        }

        var bad = used.Where(e => !Readable.Contains(e)).Distinct().ToList();
        if (bad.Count > 0)
        {
            Fail(ReasonCodes.UnsupportedEncoding, firstRow, start,
                $"uses encoding {string.Join(", ", bad)}, which this reader does not decode; refusing rather than risking wrong text (rewrite the file with PLAIN or dictionary encoding, e.g. pyarrow's defaults)");
        }

        if (meta.Codec is not (CompressionCodec.UNCOMPRESSED or CompressionCodec.SNAPPY or CompressionCodec.GZIP
            or CompressionCodec.ZSTD or CompressionCodec.LZ4_RAW or CompressionCodec.LZ4 or CompressionCodec.BROTLI))
        {
            Fail(ReasonCodes.UnsupportedEncoding, firstRow, start,
                $"compression {meta.Codec} is not supported (UNCOMPRESSED, SNAPPY, GZIP, ZSTD, LZ4_RAW, LZ4 and BROTLI are)");
        }

        _codec = meta.Codec;
        _maxDefinition = maxDefinitionLevel;
        _levelBitWidth = 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)maxDefinitionLevel);
        _chunkValues = meta.NumValues;
        _position = start;
        _chunkEnd = start + meta.TotalCompressedSize;
        if (meta.NumValues != rowCount)
        {
            Fail(ReasonCodes.CorruptRowGroup, firstRow, start, FormattableString.Invariant($"the column chunk has {meta.NumValues} values for {rowCount} rows"));
        }

        if (start < 4 || meta.TotalCompressedSize < 0 || _chunkEnd > _file.Length)
        {
            Fail(ReasonCodes.CorruptRowGroup, firstRow, start, FormattableString.Invariant(
                $"the column chunk (byte offset {start}, {meta.TotalCompressedSize} bytes) lies outside the file of {_file.Length} bytes (truncated?)"));
        }
    }

    /// <summary>
    /// Moves to the next value of the chunk; false after the last one (the chunk's totals checked, the last value left
    /// as it was).
    /// </summary>
    public bool MoveNext()
    {
        while (_pageIndex >= _pageValues)
        {
            if (_valuesRead >= _chunkValues)
            {
                CheckTrailingPages();
                return false;
            }

            LoadPage();
        }

        var i = _pageIndex++;
        if (_maxDefinition > 0 && _levels[i] < _maxDefinition)
        {
            IsNull = true;
            Value = default;
            return true;
        }

        IsNull = false;
        if (_pageUsesDictionary)
        {
            var start = _dictionaryStarts[_indices[_nonNull++]];
            var length = BinaryPrimitives.ReadInt32LittleEndian(_dictionary.Array.AsSpan(start - 4));
            Value = new ReadOnlyMemory<byte>(_dictionary.Array, start, length);
        }
        else if (_pageStream is not null)
        {
            Value = ReadStreamedValue(_pageStream);
        }
        else
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(_page.Array.AsSpan(_valuePosition));
            Value = new ReadOnlyMemory<byte>(_page.Array, _valuePosition + 4, length);
            _valuePosition += 4 + length;
        }

        return true;
    }

    /// <summary>
    /// After the last value: what is left of the chunk may only be pages without values (writers emit an empty data
    /// page for a zero-row group). Only headers are read, so the current value's buffer stays valid.
    /// </summary>
    private void CheckTrailingPages()
    {
        while (_position < _chunkEnd)
        {
            _pageOffset = _position;
            _pageFirstRow = _firstRow + _valuesRead;
            var header = ReadHeader(out var headerLength);
            var next = _position + headerLength + header.CompressedSize;
            if (next > _chunkEnd)
            {
                Corrupt(FormattableString.Invariant($"a page of {header.CompressedSize} bytes runs past the end of the column chunk"));
            }

            var empty = header.Type switch
            {
                ParquetPageHeader.IndexPage => true,
                ParquetPageHeader.DataPage or ParquetPageHeader.DataPageV2 => header.HasTypeHeader && header.NumValues == 0,
                _ => false,
            };
            if (!empty)
            {
                Corrupt(FormattableString.Invariant($"a page of type {header.Type} after the column chunk's {_chunkValues} values"));
            }

            _position = next;
        }
    }

    public void Dispose()
    {
        _input.Dispose();
        _compressed.Dispose();
        _page.Dispose();
        _dictionary.Dispose();
        _levelBytes.Dispose();
        ClosePageStream();
        Return(ref _levels);
        Return(ref _indices);
        Return(ref _dictionaryStarts);
        _zstd?.Dispose();
    }

    private void LoadPage()
    {
        ClosePageStream();
        _pageOffset = _position;
        _pageFirstRow = _firstRow + _valuesRead;
        _pageValues = 0;
        _pageIndex = 0;
        if (_position >= _chunkEnd)
        {
            Corrupt(FormattableString.Invariant($"the column chunk ends after {_valuesRead} of its {_chunkValues} values"));
        }

        var header = ReadHeader(out var headerLength);
        PagesRead++;
        var dataStart = _position + headerLength;
        if (header.CompressedSize > _chunkEnd - dataStart)
        {
            Corrupt(FormattableString.Invariant($"a page of {header.CompressedSize} bytes runs past the end of the column chunk"));
        }

        if (!header.HasTypeHeader)
        {
            Corrupt(FormattableString.Invariant($"a page of type {header.Type} lacks its sub-header or a required field of it"));
        }

        try
        {
            switch (header.Type)
            {
                case ParquetPageHeader.IndexPage:
                    break;
                case ParquetPageHeader.DictionaryPage:
                    LoadDictionary(header, headerLength);
                    break;
                case ParquetPageHeader.DataPage or ParquetPageHeader.DataPageV2:
                    LoadDataPage(header, headerLength);
                    break;
                default:
                    Fail(ReasonCodes.UnsupportedEncoding, _pageFirstRow, _pageOffset, FormattableString.Invariant($"unknown page type {header.Type}"));
                    break;
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or ZstdException)
        {
            ClosePageStream();
            Corrupt(ex.Message, ex);
        }

        _position = dataStart + header.CompressedSize;
    }

    private ParquetPageHeader ReadHeader(out int length)
    {
        _input.Reset(_position, _chunkEnd);
        try
        {
            var header = ParquetPageHeader.Read(_input);
            length = (int)Math.Min(_input.Position - _position, int.MaxValue);
            return header;
        }
        catch (InvalidDataException ex)
        {
            Corrupt("bad page header: " + ex.Message, ex);
            throw; // not reached
        }
    }

    private void LoadDictionary(ParquetPageHeader header, int headerLength)
    {
        if (_sawDataPage || _dictionaryCount >= 0)
        {
            Corrupt(_sawDataPage ? "a dictionary page after data pages" : "a second dictionary page");
        }

        if (header.Encoding is not ((int)Encoding.PLAIN or (int)Encoding.PLAIN_DICTIONARY))
        {
            Fail(ReasonCodes.UnsupportedEncoding, _pageFirstRow, _pageOffset, FormattableString.Invariant($"a dictionary page in encoding {(Encoding)header.Encoding}"));
        }

        LoadPageBytes(header, headerLength, _dictionary, 0, compressed: true);
        var data = _dictionary.Array.AsSpan(0, header.UncompressedSize);
        Grow(ref _dictionaryStarts, header.NumValues);
        var position = 0;
        for (var k = 0; k < header.NumValues; k++)
        {
            var next = SkipPlainValue(data, position, k, header.NumValues);
            _dictionaryStarts[k] = position + 4;
            position = next;
        }

        if (position != data.Length)
        {
            throw new InvalidDataException(FormattableString.Invariant($"the dictionary page has {data.Length - position} bytes after its {header.NumValues} values"));
        }

        _dictionaryCount = header.NumValues;
    }

    private void LoadDataPage(ParquetPageHeader header, int headerLength)
    {
        var n = header.NumValues;
        if (n > _chunkValues - _valuesRead)
        {
            throw new InvalidDataException(FormattableString.Invariant($"the pages hold more than the column chunk's {_chunkValues} values"));
        }

        var v2 = header.Type == ParquetPageHeader.DataPageV2;
        var levelBytes = 0;
        if (v2)
        {
            if (header.RepetitionLevelsByteLength != 0)
            {
                throw new InvalidDataException("a v2 page with repetition levels in a flat column");
            }

            if (header.NumRows != n)
            {
                throw new InvalidDataException(FormattableString.Invariant($"a v2 page with {n} values in {header.NumRows} rows"));
            }

            levelBytes = header.DefinitionLevelsByteLength;
            if (levelBytes > header.CompressedSize || levelBytes > header.UncompressedSize)
            {
                throw new InvalidDataException("a v2 page's levels are longer than the page");
            }

            if (_maxDefinition == 0 && levelBytes != 0)
            {
                throw new InvalidDataException("a v2 page with definition levels in a required column");
            }
        }
        else if (_maxDefinition > 0 && header.DefinitionLevelEncoding != RleEncoding)
        {
            Fail(ReasonCodes.UnsupportedEncoding, _pageFirstRow, _pageOffset,
                FormattableString.Invariant($"definition levels in encoding {(Encoding)header.DefinitionLevelEncoding} (only RLE is read)"));
        }

        if (header.Encoding == (int)Encoding.PLAIN && header.UncompressedSize > _streamAbove && TryStreamPage(header, headerLength, levelBytes, v2))
        {
            _pageUsesDictionary = false;
            _sawDataPage = true;
            _pageValues = n;
            _valuesRead += n;
            PagesStreamed++;
            return;
        }

        LoadPageBytes(header, headerLength, _page, levelBytes, compressed: !v2 || header.IsCompressed);
        var data = _page.Array.AsSpan(0, header.UncompressedSize);
        var nonNull = n;
        if (_maxDefinition > 0)
        {
            ReadOnlySpan<byte> levels;
            if (v2)
            {
                levels = data[..levelBytes];
            }
            else
            {
                var length = V1LevelLength(data, data.Length);
                levels = data.Slice(4, length);
                levelBytes = 4 + length;
            }

            nonNull = DecodeLevels(levels, header, v2);
        }

        var values = data[levelBytes..];
        switch (header.Encoding)
        {
            case (int)Encoding.PLAIN:
                var position = 0;
                for (var k = 0; k < nonNull; k++)
                {
                    position = SkipPlainValue(values, position, k, nonNull);
                }

                if (position != values.Length)
                {
                    throw new InvalidDataException(FormattableString.Invariant($"the page has {values.Length - position} bytes after its {nonNull} values"));
                }

                _pageUsesDictionary = false;
                _valuePosition = levelBytes;
                break;
            case (int)Encoding.PLAIN_DICTIONARY or (int)Encoding.RLE_DICTIONARY:
                if (_dictionaryCount < 0)
                {
                    throw new InvalidDataException("a dictionary-encoded page without a dictionary page");
                }

                if (nonNull > 0)
                {
                    if (values.IsEmpty)
                    {
                        throw new InvalidDataException("a dictionary-encoded page without indices");
                    }

                    Grow(ref _indices, nonNull);
                    RleBitPackedHybrid.Decode(values[1..], values[0], _indices.AsSpan(0, nonNull), _dictionaryCount, "dictionary indices");
                }

                _pageUsesDictionary = true;
                _nonNull = 0;
                break;
            default:
                Fail(ReasonCodes.UnsupportedEncoding, _pageFirstRow, _pageOffset,
                    $"a data page in encoding {(Encoding)header.Encoding}, which this reader does not decode");
                break;
        }

        _sawDataPage = true;
        _pageValues = n;
        _valuesRead += n;
    }

    /// <summary>The length of a v1 page's definition levels, from the 4 bytes before them.</summary>
    private static int V1LevelLength(ReadOnlySpan<byte> prefix, long pageLength)
    {
        if (prefix.Length < 4)
        {
            throw new InvalidDataException("a data page too short for its definition levels");
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(prefix);
        if (length < 0 || length > pageLength - 4)
        {
            throw new InvalidDataException(FormattableString.Invariant($"definition levels of {length} bytes in a page of {pageLength}"));
        }

        return length;
    }

    /// <summary>Decodes a page's definition levels into <see cref="_levels"/>; returns how many values are not null.</summary>
    private int DecodeLevels(ReadOnlySpan<byte> levels, ParquetPageHeader header, bool v2)
    {
        var n = header.NumValues;
        Grow(ref _levels, n);
        RleBitPackedHybrid.Decode(levels, _levelBitWidth, _levels.AsSpan(0, n), _maxDefinition + 1, "definition levels");
        var nonNull = 0;
        foreach (var level in _levels.AsSpan(0, n))
        {
            nonNull += level == _maxDefinition ? 1 : 0;
        }

        if (v2 && header.NumNulls != n - nonNull)
        {
            throw new InvalidDataException(FormattableString.Invariant($"a v2 page declares {header.NumNulls} nulls, its levels {n - nonNull}"));
        }

        return nonNull;
    }

    /// <summary>
    /// Streams a large PLAIN page: a first pass through the codec checks the levels, every value's length and the
    /// page's totals; then the page is opened again for <see cref="MoveNext"/> to read one value at a time. False when
    /// the first pass finds anything wrong (or a snappy copy reaching past the window): the caller then reads the page
    /// whole, which either decodes it or names the problem as the whole-page reader always has.
    /// </summary>
    private bool TryStreamPage(ParquetPageHeader header, int headerLength, int v2LevelBytes, bool v2)
    {
        try
        {
            using (var check = OpenStreamedValues(header, headerLength, v2LevelBytes, v2, out var nonNull, out var valueBytes))
            {
                var left = valueBytes;
                Span<byte> prefix = stackalloc byte[4];
                Span<byte> scratch = stackalloc byte[4096];
                for (var k = 0; k < nonNull; k++)
                {
                    check.ReadExactly(prefix);
                    var length = BinaryPrimitives.ReadInt32LittleEndian(prefix);
                    if (length < 0 || length > left - 4)
                    {
                        return false;
                    }

                    left -= 4 + length;
                    for (var rest = length; rest > 0;)
                    {
                        var n = check.Read(scratch[..Math.Min(rest, scratch.Length)]);
                        if (n == 0)
                        {
                            return false;
                        }

                        rest -= n;
                    }
                }

                if (left != 0 || check.Read(prefix[..1]) != 0)
                {
                    return false;
                }
            }

            _pageStream = OpenStreamedValues(header, headerLength, v2LevelBytes, v2, out _, out _pageStreamLeft);
            return true;
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or ZstdException or IOException or InvalidOperationException)
        {
            ClosePageStream();
            return false;
        }
    }

    /// <summary>
    /// Opens a page's decoded bytes as a stream positioned at its first value, its definition levels decoded; gives the
    /// count of non-null values and of value bytes.
    /// </summary>
    private Stream OpenStreamedValues(ParquetPageHeader header, int headerLength, int v2LevelBytes, bool v2, out int nonNull, out long valueBytes)
    {
        var dataStart = _position + headerLength;
        long stored = header.CompressedSize;
        long decoded = header.UncompressedSize;
        var levels = ReadOnlySpan<byte>.Empty;
        if (v2 && v2LevelBytes > 0)
        {
            _levelBytes.Reserve(v2LevelBytes);
            levels = _levelBytes.Array.AsSpan(0, v2LevelBytes);
            using var raw = new FileRangeStream(_file, dataStart, v2LevelBytes);
            if (raw.ReadAtLeast(_levelBytes.Array.AsSpan(0, v2LevelBytes), v2LevelBytes, throwOnEndOfStream: false) < v2LevelBytes)
            {
                throw new InvalidDataException("the file ends inside the page (truncated?)");
            }

            dataStart += v2LevelBytes;
            stored -= v2LevelBytes;
            decoded -= v2LevelBytes;
        }

        var stream = OpenDecoded(dataStart, stored, decoded, compressed: !v2 || header.IsCompressed);
        try
        {
            if (!v2 && _maxDefinition > 0)
            {
                Span<byte> prefix = stackalloc byte[4];
                stream.ReadExactly(prefix);
                var length = V1LevelLength(prefix, decoded);
                _levelBytes.Reserve(length);
                levels = _levelBytes.Array.AsSpan(0, length);
                stream.ReadExactly(_levelBytes.Array, 0, length);
                decoded -= 4 + length;
            }

            nonNull = _maxDefinition > 0 ? DecodeLevels(levels, header, v2) : header.NumValues;
            valueBytes = decoded;
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>The decoded bytes of <paramref name="stored"/> bytes at <paramref name="offset"/>, as a stream.</summary>
    private Stream OpenDecoded(long offset, long stored, long decoded, bool compressed)
    {
        var range = new FileRangeStream(_file, offset, stored);
        if (!compressed || _codec == CompressionCodec.UNCOMPRESSED)
        {
            return stored == decoded ? range : throw new InvalidDataException(FormattableString.Invariant($"an uncompressed page of {stored} bytes declares {decoded}"));
        }

        switch (_codec)
        {
            case CompressionCodec.SNAPPY:
                return new SnappyDecoderStream(new BufferedInput(range), decoded);
            case CompressionCodec.LZ4_RAW:
                return new Lz4DecoderStream(new BufferedInput(range), stored, decoded, hadoop: false);
            case CompressionCodec.LZ4:
                var hadoop = Lz4DecoderStream.LooksLikeHadoopFrames(range, decoded);
                return new Lz4DecoderStream(new BufferedInput(range), stored, decoded, hadoop);
            case CompressionCodec.ZSTD:
                return new DecompressionStream(range, leaveOpen: false);
            case CompressionCodec.BROTLI:
                return new BrotliStream(range, CompressionMode.Decompress);
            case CompressionCodec.GZIP:
                Span<byte> magic = stackalloc byte[2];
                var gzip = range.ReadAtLeast(magic, 2, throwOnEndOfStream: false) == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
                range.Position = 0;
                return gzip ? new GZipStream(range, CompressionMode.Decompress) : new ZLibStream(range, CompressionMode.Decompress);
            default:
                throw new InvalidDataException($"compression {_codec} is not supported");
        }
    }

    private ReadOnlyMemory<byte> ReadStreamedValue(Stream stream)
    {
        try
        {
            Span<byte> prefix = stackalloc byte[4];
            stream.ReadExactly(prefix);
            var length = BinaryPrimitives.ReadInt32LittleEndian(prefix);
            if (length < 0 || length > _pageStreamLeft - 4)
            {
                throw new InvalidDataException(FormattableString.Invariant($"a value of length {length} with {_pageStreamLeft - 4} bytes left in the page"));
            }

            _page.Reserve(length);
            stream.ReadExactly(_page.Array, 0, length);
            _pageStreamLeft -= 4 + length;
            return new ReadOnlyMemory<byte>(_page.Array, 0, length);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or ZstdException or IOException or InvalidOperationException)
        {
            ClosePageStream();
            Corrupt("the page reads differently the second time (the file changed while it was read?): " + ex.Message, ex);
            throw; // not reached
        }
    }

    private void ClosePageStream()
    {
        _pageStream?.Dispose();
        _pageStream = null;
    }

    /// <summary>Checks the PLAIN value at <paramref name="position"/> (4-byte length, bytes) and returns where the next one starts.</summary>
    private static int SkipPlainValue(ReadOnlySpan<byte> data, int position, int k, int count)
    {
        if (data.Length - position < 4)
        {
            throw new InvalidDataException(FormattableString.Invariant($"value {k} of {count} runs past the end of the page"));
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(data[position..]);
        if (length < 0 || length > data.Length - position - 4)
        {
            throw new InvalidDataException(FormattableString.Invariant($"value {k} of {count} has length {length}, past the end of the page"));
        }

        return position + 4 + length;
    }

    /// <summary>
    /// Puts the page's uncompressed bytes in <paramref name="target"/>: the first <paramref name="rawPrefix"/> bytes
    /// as stored (v2 levels), the rest decompressed when <paramref name="compressed"/>.
    /// </summary>
    private void LoadPageBytes(ParquetPageHeader header, int headerLength, ByteBuffer target, int rawPrefix, bool compressed)
    {
        var c = header.CompressedSize;
        var u = header.UncompressedSize;
        if (!compressed || _codec == CompressionCodec.UNCOMPRESSED)
        {
            if (c != u)
            {
                throw new InvalidDataException(FormattableString.Invariant($"an uncompressed page of {c} bytes declares {u}"));
            }

            target.Reserve(u);
            Fetch(headerLength, target.Array.AsSpan(0, c));
            return;
        }

        _compressed.Reserve(c);
        Fetch(headerLength, _compressed.Array.AsSpan(0, c));
        target.Reserve(u);
        _compressed.Array.AsSpan(0, rawPrefix).CopyTo(target.Array);
        Decompress(_compressed.Array, rawPrefix, c - rawPrefix, target.Array.AsSpan(rawPrefix, u - rawPrefix));
    }

    private void Decompress(byte[] source, int offset, int count, Span<byte> destination)
    {
        var src = source.AsSpan(offset, count);
        switch (_codec)
        {
            case CompressionCodec.SNAPPY:
                SnappyBlock.Decompress(src, destination);
                break;
            case CompressionCodec.LZ4_RAW:
                Lz4Block.Decompress(src, destination);
                break;
            case CompressionCodec.LZ4:
                // The deprecated LZ4 codec: Hadoop's framing (sizes before each block) or, from some writers
                // (Parquet.Net among them), a bare block. Try the framing first, as Arrow does.
                if (!Lz4Block.TryDecompressHadoop(src, destination))
                {
                    Lz4Block.Decompress(src, destination);
                }

                break;
            case CompressionCodec.ZSTD:
                _zstd ??= new Decompressor();
                int written;
                try
                {
                    written = _zstd.Unwrap(src, destination);
                }
                catch (ZstdException ex)
                {
                    throw new InvalidDataException("zstd: " + ex.Message, ex);
                }

                Expect(written, destination.Length, "zstd");
                break;
            case CompressionCodec.BROTLI:
                if (!BrotliDecoder.TryDecompress(src, destination, out var brotli))
                {
                    throw new InvalidDataException("brotli: corrupt data or more than the declared length");
                }

                Expect(brotli, destination.Length, "brotli");
                break;
            case CompressionCodec.GZIP:
                using (var input = new MemoryStream(source, offset, count, writable: false))
                using (Stream inflater = count >= 2 && source[offset] == 0x1F && source[offset + 1] == 0x8B
                    ? new GZipStream(input, CompressionMode.Decompress)
                    : new ZLibStream(input, CompressionMode.Decompress))
                {
                    Expect(inflater.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false), destination.Length, "gzip");
                    Span<byte> extra = stackalloc byte[1];
                    if (inflater.Read(extra) != 0)
                    {
                        throw new InvalidDataException("gzip: more than the declared length");
                    }
                }

                break;
            default:
                throw new InvalidDataException($"compression {_codec} is not supported");
        }
    }

    private static void Expect(int written, int declared, string codec)
    {
        if (written != declared)
        {
            throw new InvalidDataException(FormattableString.Invariant($"{codec}: {written} bytes decompressed, the page header declares {declared}"));
        }
    }

    /// <summary>Reads the page's stored bytes: first what the header reader already holds, then the file.</summary>
    private void Fetch(int headerLength, Span<byte> destination)
    {
        var start = _position + headerLength;
        var have = _input.CopyBuffered(start, destination);
        if (have < destination.Length)
        {
            ReadAt(start + have, destination[have..]);
        }
    }

    private void ReadAt(long offset, Span<byte> destination)
    {
        _file.Seek(offset, SeekOrigin.Begin);
        var read = _file.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false);
        if (read < destination.Length)
        {
            Corrupt(FormattableString.Invariant($"the file ends at byte {offset + read}, inside the page (truncated?)"));
        }
    }

    [DoesNotReturn]
    private void Corrupt(string detail, Exception? inner = null) =>
        Fail(ReasonCodes.CorruptRowGroup, _pageFirstRow, _pageOffset, detail, inner);

    [DoesNotReturn]
    private void Fail(string reason, long row, long offset, string detail, Exception? inner = null)
    {
        FailureReason = reason;
        throw new BadInputException(_path, row, offset, $"{reason}: row group {_group}, column '{_column}': {detail}", inner);
    }

    private static void Grow(ref int[] array, int size)
    {
        if (array.Length >= size)
        {
            return;
        }

        Return(ref array);
        array = ArrayPool<int>.Shared.Rent(size);
    }

    private static void Return(ref int[] array)
    {
        if (array.Length > 0)
        {
            ArrayPool<int>.Shared.Return(array);
        }

        array = [];
    }
}
