namespace TinyLlama.Data.Readers;

/// <summary>
/// The parts of a parquet <c>PageHeader</c> (with its <c>DataPageHeader</c>, <c>DataPageHeaderV2</c> or
/// <c>DictionaryPageHeader</c>) that the streaming column reader needs. Statistics, index page headers and fields
/// added by later format versions are skipped.
/// </summary>
internal sealed class ParquetPageHeader
{
    public const int DataPage = 0;
    public const int IndexPage = 1;
    public const int DictionaryPage = 2;
    public const int DataPageV2 = 3;

    public int Type { get; private set; } = -1;

    public int UncompressedSize { get; private set; } = -1;

    public int CompressedSize { get; private set; } = -1;

    public bool HasCrc { get; private set; }

    /// <summary>Values in the page (nulls included) or entries in the dictionary.</summary>
    public int NumValues { get; private set; } = -1;

    /// <summary>The values' encoding (parquet <c>Encoding</c> enum value).</summary>
    public int Encoding { get; private set; } = -1;

    /// <summary>v1 data pages: encoding of the definition levels (RLE = 3, BIT_PACKED = 4).</summary>
    public int DefinitionLevelEncoding { get; private set; } = -1;

    /// <summary>v2 data pages.</summary>
    public int NumNulls { get; private set; } = -1;

    public int NumRows { get; private set; } = -1;

    public int DefinitionLevelsByteLength { get; private set; } = -1;

    public int RepetitionLevelsByteLength { get; private set; } = -1;

    public bool IsCompressed { get; private set; } = true;

    /// <summary>Whether the sub-header matching <see cref="Type"/> was present.</summary>
    public bool HasTypeHeader { get; private set; }

    /// <summary>
    /// Decodes a page header from <paramref name="input"/>, which is left just after it. Malformed or truncated
    /// bytes are an <see cref="InvalidDataException"/>. Fields not needed (statistics: whole values, with some
    /// writers) are skipped, never buffered.
    /// </summary>
    public static ParquetPageHeader Read(IThriftInput input)
    {
        var reader = new ThriftCompactReader(input);
        var header = new ParquetPageHeader();
        var seen = 0;
        var subHeaders = 0;
        short last = 0;
        while (reader.ReadFieldHeader(ref last, out var type, out var id))
        {
            switch (id)
            {
                case 1:
                    header.Type = reader.ReadI32(type);
                    seen |= 1;
                    break;
                case 2:
                    header.UncompressedSize = reader.ReadI32(type);
                    seen |= 2;
                    break;
                case 3:
                    header.CompressedSize = reader.ReadI32(type);
                    seen |= 4;
                    break;
                case 4:
                    reader.ReadI32(type);
                    header.HasCrc = true;
                    break;
                case 5:
                    ThriftCompactReader.Expect(type, ThriftCompactReader.Struct, "data_page_header");
                    header.ReadDataPageHeader(reader);
                    subHeaders |= 1 << DataPage;
                    break;
                case 7:
                    ThriftCompactReader.Expect(type, ThriftCompactReader.Struct, "dictionary_page_header");
                    header.ReadDictionaryPageHeader(reader);
                    subHeaders |= 1 << DictionaryPage;
                    break;
                case 8:
                    ThriftCompactReader.Expect(type, ThriftCompactReader.Struct, "data_page_header_v2");
                    header.ReadDataPageHeaderV2(reader);
                    subHeaders |= 1 << DataPageV2;
                    break;
                default:
                    reader.Skip(type, 0);
                    break;
            }
        }

        if (seen != 7)
        {
            throw new InvalidDataException("page header lacks a required field (type, uncompressed_page_size or compressed_page_size)");
        }

        if (header.UncompressedSize < 0 || header.CompressedSize < 0)
        {
            throw new InvalidDataException(FormattableString.Invariant($"page header has a negative size ({header.CompressedSize} compressed, {header.UncompressedSize} uncompressed)"));
        }

        // The sub-header may come before the type field: decide once everything is read.
        header.HasTypeHeader = header.Type switch
        {
            DataPage or DictionaryPage => (subHeaders & (1 << header.Type)) != 0 && header.NumValues >= 0 && header.Encoding >= 0,
            DataPageV2 => (subHeaders & (1 << DataPageV2)) != 0 && header.NumValues >= 0 && header.Encoding >= 0 && header.NumNulls >= 0
                && header.NumRows >= 0 && header.DefinitionLevelsByteLength >= 0 && header.RepetitionLevelsByteLength >= 0,
            _ => true,
        };
        return header;
    }

    private void ReadDataPageHeader(ThriftCompactReader reader)
    {
        short last = 0;
        while (reader.ReadFieldHeader(ref last, out var type, out var id))
        {
            switch (id)
            {
                case 1:
                    NumValues = reader.ReadI32(type);
                    break;
                case 2:
                    Encoding = reader.ReadI32(type);
                    break;
                case 3:
                    DefinitionLevelEncoding = reader.ReadI32(type);
                    break;
                case 4:
                    reader.ReadI32(type); // repetition level encoding: no repetition levels in a flat column
                    break;
                default:
                    reader.Skip(type, 1);
                    break;
            }
        }
    }

    private void ReadDictionaryPageHeader(ThriftCompactReader reader)
    {
        short last = 0;
        while (reader.ReadFieldHeader(ref last, out var type, out var id))
        {
            switch (id)
            {
                case 1:
                    NumValues = reader.ReadI32(type);
                    break;
                case 2:
                    Encoding = reader.ReadI32(type);
                    break;
                default:
                    reader.Skip(type, 1);
                    break;
            }
        }
    }

    private void ReadDataPageHeaderV2(ThriftCompactReader reader)
    {
        short last = 0;
        while (reader.ReadFieldHeader(ref last, out var type, out var id))
        {
            switch (id)
            {
                case 1:
                    NumValues = reader.ReadI32(type);
                    break;
                case 2:
                    NumNulls = reader.ReadI32(type);
                    break;
                case 3:
                    NumRows = reader.ReadI32(type);
                    break;
                case 4:
                    Encoding = reader.ReadI32(type);
                    break;
                case 5:
                    DefinitionLevelsByteLength = reader.ReadI32(type);
                    break;
                case 6:
                    RepetitionLevelsByteLength = reader.ReadI32(type);
                    break;
                case 7:
                    IsCompressed = ThriftCompactReader.ReadBool(type);
                    break;
                default:
                    reader.Skip(type, 1);
                    break;
            }
        }
    }
}

/// <summary>Where a thrift reader takes its bytes from; reading or skipping past the end is an <see cref="InvalidDataException"/>.</summary>
internal interface IThriftInput
{
    byte ReadByte();

    void Skip(ulong count);
}

/// <summary>Thrift bytes in memory.</summary>
internal sealed class ThriftMemoryInput(ReadOnlyMemory<byte> data) : IThriftInput
{
    public int Position { get; private set; }

    public byte ReadByte()
    {
        if (Position >= data.Length)
        {
            throw new InvalidDataException("thrift data ends inside a structure");
        }

        return data.Span[Position++];
    }

    public void Skip(ulong count)
    {
        if (count > (ulong)(data.Length - Position))
        {
            throw new InvalidDataException("thrift data ends inside a structure");
        }

        Position += (int)count;
    }
}

/// <summary>
/// Thrift bytes in a range of a seekable stream, read through a 64 KiB window: skipped fields (statistics holding whole
/// 10 MB values, with some writers) are seeked over, so they cost no memory. The window is kept across
/// <see cref="Reset"/>, so reading the next structure right after the last one usually needs no read at all, and
/// <see cref="CopyBuffered"/> hands out what it already holds. Reading past the range, or past the end of the file, is
/// an <see cref="InvalidDataException"/>.
/// </summary>
/// <param name="file">The stream; it is sought before every read, so other readers of it are not disturbed.</param>
/// <param name="what">What is read, for messages ("the page header", "the footer").</param>
/// <param name="range">What the range is, for messages ("the column chunk").</param>
internal sealed class ThriftFileInput(Stream file, string what, string range) : IThriftInput, IDisposable
{
    private const int Size = 1 << 16;
    private byte[] _window = System.Buffers.ArrayPool<byte>.Shared.Rent(Size);
    private long _windowStart;
    private int _windowLength;
    private long _end;

    public long Position { get; private set; }

    /// <summary>Reads from <paramref name="position"/> on, up to <paramref name="end"/>.</summary>
    public void Reset(long position, long end)
    {
        Position = position;
        _end = end;
    }

    public byte ReadByte()
    {
        if (Position < _windowStart || Position >= _windowStart + _windowLength)
        {
            Load(Position);
        }

        return _window[(int)(Position++ - _windowStart)];
    }

    public void Skip(ulong count)
    {
        Position += (long)Checked(count);
    }

    /// <summary>Copies <paramref name="count"/> bytes from the range to <paramref name="output"/>.</summary>
    public void CopyTo(System.Buffers.IBufferWriter<byte> output, ulong count)
    {
        var left = (long)Checked(count);
        while (left > 0)
        {
            if (Position < _windowStart || Position >= _windowStart + _windowLength)
            {
                Load(Position);
            }

            var n = (int)Math.Min(left, _windowStart + _windowLength - Position);
            _window.AsSpan((int)(Position - _windowStart), n).CopyTo(output.GetSpan(n));
            output.Advance(n);
            Position += n;
            left -= n;
        }
    }

    /// <summary>Copies what the window holds from file offset <paramref name="from"/> on; returns the count.</summary>
    public int CopyBuffered(long from, Span<byte> destination)
    {
        if (from < _windowStart || from >= _windowStart + _windowLength)
        {
            return 0;
        }

        var n = (int)Math.Min(destination.Length, _windowStart + _windowLength - from);
        _window.AsSpan((int)(from - _windowStart), n).CopyTo(destination);
        return n;
    }

    public void Dispose()
    {
        _windowLength = 0;
        if (_window.Length > 0)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(_window);
            _window = [];
        }
    }

    private ulong Checked(ulong count) => count <= (ulong)(_end - Position)
        ? count
        : throw new InvalidDataException($"{what} runs past the end of {range}");

    private void Load(long position)
    {
        if (position >= _end)
        {
            throw new InvalidDataException($"{what} runs past the end of {range}");
        }

        var length = (int)Math.Min(Size, _end - position);
        _windowLength = 0;
        file.Seek(position, SeekOrigin.Begin);
        var read = file.ReadAtLeast(_window.AsSpan(0, length), length, throwOnEndOfStream: false);
        if (read < length)
        {
            throw new InvalidDataException(FormattableString.Invariant($"the file ends at byte {position + read}, inside {what} (truncated?)"));
        }

        _windowStart = position;
        _windowLength = length;
    }
}

/// <summary>
/// A strict reader of the Thrift compact protocol, enough for parquet page headers: field headers, zigzag varints,
/// booleans, and skipping any field of any type (nesting depth limited).
/// </summary>
internal sealed class ThriftCompactReader(IThriftInput input)
{
    public const int BoolTrue = 1;
    public const int BoolFalse = 2;
    public const int I32 = 5;
    public const int Struct = 12;
    /// <summary>How deep structures may nest.</summary>
    public const int MaxDepth = 32;

    public static void Expect(int type, int expected, string field)
    {
        if (type != expected)
        {
            throw new InvalidDataException(FormattableString.Invariant($"page header field {field} has thrift type {type}, expected {expected}"));
        }
    }

    public static bool ReadBool(int type) => type switch
    {
        BoolTrue => true,
        BoolFalse => false,
        _ => throw new InvalidDataException(FormattableString.Invariant($"page header boolean field has thrift type {type}")),
    };

    /// <summary>Reads a field header; false at the struct's STOP byte.</summary>
    public bool ReadFieldHeader(ref short lastId, out int type, out short id)
    {
        var b = ReadByte();
        type = b & 0x0F;
        if (b == 0)
        {
            id = 0;
            return false;
        }

        if (type == 0)
        {
            // STOP is the whole byte 0; a field delta with type 0 is no type at all (readers that test the byte and
            // readers that test the type nibble would part ways here).
            throw new InvalidDataException(FormattableString.Invariant($"a thrift field header 0x{b:X2} of type 0"));
        }

        var delta = b >> 4;
        var value = delta == 0 ? ZigZag32(ReadVarint(3)) : lastId + delta;
        if (value is < short.MinValue or > short.MaxValue)
        {
            throw new InvalidDataException("thrift field id out of range");
        }

        id = (short)value;
        lastId = id;
        return true;
    }

    public int ReadI32(int type)
    {
        Expect(type, I32, "i32");
        return ZigZag32(ReadVarint(5));
    }

    public void Skip(int type, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new InvalidDataException("thrift structure nested too deeply");
        }

        switch (type)
        {
            case BoolTrue or BoolFalse:
                return; // a field's boolean lives in its header
            case 3: // i8
                ReadByte();
                return;
            case 4 or 5 or 6: // i16, i32, i64
                ReadVarint(10);
                return;
            case 7: // double
                Advance(8);
                return;
            case 8: // binary
                Advance(ReadVarint(5));
                return;
            case 9 or 10: // list, set
                {
                    var h = ReadByte();
                    var size = (ulong)(h >> 4);
                    if (size == 15)
                    {
                        size = ReadVarint(5);
                    }

                    for (ulong i = 0; i < size; i++)
                    {
                        SkipElement(h & 0x0F, depth + 1);
                    }

                    return;
                }

            case 11: // map
                {
                    var size = ReadVarint(5);
                    if (size == 0)
                    {
                        return;
                    }

                    var kv = ReadByte();
                    for (ulong i = 0; i < size; i++)
                    {
                        SkipElement(kv >> 4, depth + 1);
                        SkipElement(kv & 0x0F, depth + 1);
                    }

                    return;
                }

            case Struct:
                {
                    short last = 0;
                    while (ReadFieldHeader(ref last, out var fieldType, out _))
                    {
                        Skip(fieldType, depth + 1);
                    }

                    return;
                }

            default:
                throw new InvalidDataException(FormattableString.Invariant($"unknown thrift type {type} in page header"));
        }
    }

    private void SkipElement(int type, int depth)
    {
        if (type is BoolTrue or BoolFalse)
        {
            ReadByte(); // inside collections a boolean is one byte
            return;
        }

        Skip(type, depth);
    }

    private byte ReadByte() => input.ReadByte();

    private void Advance(ulong count) => input.Skip(count);

    private ulong ReadVarint(int maxBytes)
    {
        ulong result = 0;
        for (var i = 0; i < maxBytes; i++)
        {
            var b = ReadByte();
            result |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                return result;
            }
        }

        throw new InvalidDataException("thrift varint too long");
    }

    private static int ZigZag32(ulong value)
    {
        if (value > uint.MaxValue)
        {
            throw new InvalidDataException("thrift i32 out of range");
        }

        var u = (uint)value;
        return (int)(u >> 1) ^ -(int)(u & 1);
    }
}
