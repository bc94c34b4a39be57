using System.Buffers;
using System.Buffers.Binary;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Readers;

/// <summary>
/// A read-only view of <c>[start, start + length)</c> of a seekable stream. Every read seeks first, so other readers of
/// the same stream (Parquet.Net reading a filter column) do not disturb it. A file shorter than the range reads short.
/// </summary>
internal sealed class FileRangeStream(Stream file, long start, long length) : SeekableReadOnlyStream
{
    public override long Length => length;

    public override int Read(Span<byte> buffer)
    {
        var n = (int)Math.Min(buffer.Length, length - Position);
        if (n <= 0)
        {
            return 0;
        }

        file.Seek(start + Position, SeekOrigin.Begin);
        var read = file.Read(buffer[..n]);
        Position += read;
        return read;
    }
}

/// <summary>A pooled 64 KiB read buffer over a stream, for decoders that read a byte at a time.</summary>
internal sealed class BufferedInput(Stream source) : IDisposable
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
    private int _position;
    private int _length;

    /// <summary>Bytes handed out so far.</summary>
    public long Consumed { get; private set; }

    /// <summary>The next byte, or -1 at the end of the source.</summary>
    public int ReadByte()
    {
        if (_position == _length && !Refill())
        {
            return -1;
        }

        Consumed++;
        return _buffer[_position++];
    }

    /// <summary>Fills <paramref name="destination"/>; false when the source ends first.</summary>
    public bool TryReadExactly(Span<byte> destination)
    {
        var n = Math.Min(destination.Length, _length - _position);
        _buffer.AsSpan(_position, n).CopyTo(destination);
        _position += n;
        Consumed += n;
        if (n == destination.Length)
        {
            return true;
        }

        var read = source.ReadAtLeast(destination[n..], destination.Length - n, throwOnEndOfStream: false);
        Consumed += read;
        return n + read == destination.Length;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    private bool Refill()
    {
        _position = 0;
        _length = source.Read(_buffer);
        return _length > 0;
    }
}

/// <summary>
/// Streams the output of an LZ77-style block codec (snappy, LZ4) with bounded memory: the decoded bytes pass through a
/// 1 MiB window that keeps at least the last 512 KiB for back-references. Subclasses parse elements (literal runs and
/// copies); this class carries them out, checks every copy, and checks the total against the declared length.
/// A copy reaching further back than the window (legal for snappy, never produced by its reference encoder, which
/// works in 64 KiB fragments) is an <see cref="InvalidDataException"/> like any other: callers that stream a page fall
/// back to decoding it whole, which either reads it or names what is wrong.
/// </summary>
internal abstract class Lz77DecoderStream : ReadOnlyStream
{
    private const int Capacity = 1 << 20;
    private const int Keep = Capacity / 2;

    private readonly string _codec;
    private byte[] _window = ArrayPool<byte>.Shared.Rent(Capacity);
    private int _length;
    private int _read;
    private long _literalLeft;
    private long _copyLeft;
    private long _copyOffset;
    private bool _ended;

    protected Lz77DecoderStream(BufferedInput input, long expected, string codec)
    {
        Input = input;
        Expected = expected;
        _codec = codec;
    }

    protected BufferedInput Input { get; }

    /// <summary>The decoded length the page header declares.</summary>
    protected long Expected { get; }

    /// <summary>Bytes decoded so far (every element returned before the current call carried out).</summary>
    protected long Produced { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        if (_read == _length && !Fill())
        {
            return 0;
        }

        var n = Math.Min(buffer.Length, _length - _read);
        _window.AsSpan(_read, n).CopyTo(buffer);
        _read += n;
        return n;
    }

    /// <summary>
    /// The next element: <paramref name="literal"/> bytes copied from the input, then <paramref name="copyLength"/>
    /// bytes from <paramref name="copyOffset"/> back (either may be 0). False at the end of the compressed data.
    /// </summary>
    protected abstract bool NextElement(out long literal, out long copyLength, out long copyOffset);

    protected InvalidDataException Bad(string problem) => new($"{_codec}: {problem}");

    protected override void Dispose(bool disposing)
    {
        if (disposing && _window.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_window);
            _window = [];
            Input.Dispose();
        }

        base.Dispose(disposing);
    }

    private bool Fill()
    {
        if (_length == Capacity)
        {
            _window.AsSpan(Capacity - Keep, Keep).CopyTo(_window);
            _length = Keep;
            _read = Keep;
        }

        var start = _length;
        while (_length < Capacity)
        {
            var room = Capacity - _length;
            if (_literalLeft > 0)
            {
                var n = (int)Math.Min(_literalLeft, room);
                if (!Input.TryReadExactly(_window.AsSpan(_length, n)))
                {
                    throw Bad("a literal runs past the end of the input");
                }

                Advance(n);
                _literalLeft -= n;
            }
            else if (_copyLeft > 0)
            {
                if (_copyOffset > _length)
                {
                    throw Bad(_copyOffset > Produced
                        ? FormattableString.Invariant($"copy offset {_copyOffset} at output position {Produced}")
                        : FormattableString.Invariant($"copy offset {_copyOffset} reaches before the {_length}-byte streaming window"));
                }

                // Pieces at most `offset` long never overlap their source; together they repeat the pattern.
                var from = _length - (int)_copyOffset;
                var n = (int)Math.Min(Math.Min(_copyLeft, _length - from), room);
                _window.AsSpan(from, n).CopyTo(_window.AsSpan(_length));
                Advance(n);
                _copyLeft -= n;
            }
            else if (_ended || !NextElement(out _literalLeft, out _copyLeft, out _copyOffset))
            {
                _ended = true;
                if (Produced != Expected)
                {
                    throw Bad(FormattableString.Invariant($"the data ends after {Produced} of {Expected} bytes"));
                }

                break;
            }
            else if (_literalLeft < 0 || _copyLeft < 0 || _literalLeft + _copyLeft > Expected - Produced)
            {
                throw Bad(FormattableString.Invariant($"an element runs past the declared length of {Expected} bytes"));
            }
            else if (_copyLeft > 0 && _copyOffset <= 0)
            {
                throw Bad(FormattableString.Invariant($"copy offset {_copyOffset}"));
            }
        }

        return _length > start;
    }

    private void Advance(int n)
    {
        _length += n;
        Produced += n;
    }
}

/// <summary>The raw snappy block format (parquet's SNAPPY), streamed; see <see cref="SnappyBlock"/> for the whole-block decoder.</summary>
internal sealed class SnappyDecoderStream : Lz77DecoderStream
{
    private readonly byte[] _scratch = new byte[4];

    public SnappyDecoderStream(BufferedInput input, long expected)
        : base(input, expected, "snappy")
    {
        ulong declared = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = input.ReadByte();
            if (b < 0 || shift > 28)
            {
                throw Bad("bad length preamble");
            }

            declared |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                break;
            }
        }

        if (declared != (ulong)expected)
        {
            throw Bad(FormattableString.Invariant($"block declares {declared} bytes, the page header {expected}"));
        }
    }

    protected override bool NextElement(out long literal, out long copyLength, out long copyOffset)
    {
        literal = copyLength = copyOffset = 0;
        var tag = Input.ReadByte();
        if (tag < 0)
        {
            return false;
        }

        switch (tag & 3)
        {
            case 0:
                literal = tag >> 2;
                if (literal >= 60)
                {
                    var n = (int)literal - 59;
                    literal = ReadLittleEndian(n);
                }

                literal++;
                return true;
            case 1:
                copyLength = 4 + ((tag >> 2) & 7);
                copyOffset = ((long)(tag >> 5) << 8) | ReadLittleEndian(1);
                return true;
            case 2:
                copyLength = 1 + (tag >> 2);
                copyOffset = ReadLittleEndian(2);
                return true;
            default:
                copyLength = 1 + (tag >> 2);
                copyOffset = ReadLittleEndian(4);
                return true;
        }
    }

    private long ReadLittleEndian(int bytes)
    {
        var span = _scratch.AsSpan(0, bytes);
        if (!Input.TryReadExactly(span))
        {
            throw Bad("an element runs past the end of the input");
        }

        long value = 0;
        for (var k = 0; k < bytes; k++)
        {
            value |= (long)span[k] << (8 * k);
        }

        return value;
    }
}

/// <summary>
/// LZ4 blocks streamed: a bare block (parquet's LZ4_RAW) or Hadoop's framing of blocks, each preceded by big-endian
/// 32-bit decompressed and compressed sizes (parquet's deprecated LZ4 from most writers). See <see cref="Lz4Block"/>.
/// </summary>
internal sealed class Lz4DecoderStream : Lz77DecoderStream
{
    private readonly long _inputLength;
    private readonly bool _hadoop;
    private readonly byte[] _scratch = new byte[8];
    private long _blockEnd;
    private long _blockOutputStart;
    private long _blockOutputEnd;
    private bool _afterLiterals;
    private int _matchNibble;

    public Lz4DecoderStream(BufferedInput input, long inputLength, long expected, bool hadoop)
        : base(input, expected, "lz4")
    {
        _inputLength = inputLength;
        _hadoop = hadoop;
        _blockEnd = hadoop ? 0 : inputLength;
        _blockOutputEnd = hadoop ? 0 : expected;
        if (hadoop)
        {
            StartHadoopBlock();
        }
    }

    /// <summary>
    /// Whether <paramref name="range"/> is exactly a chain of Hadoop frames whose sizes add up to
    /// <paramref name="expected"/> decoded bytes (checked from the frame headers alone; the stream is left at 0).
    /// </summary>
    public static bool LooksLikeHadoopFrames(Stream range, long expected)
    {
        Span<byte> header = stackalloc byte[8];
        long position = 0;
        long output = 0;
        try
        {
            while (range.Length - position >= 8)
            {
                range.Position = position;
                if (range.ReadAtLeast(header, 8, throwOnEndOfStream: false) < 8)
                {
                    return false;
                }

                var decompressed = BinaryPrimitives.ReadUInt32BigEndian(header);
                var compressed = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
                position += 8 + compressed;
                output += decompressed;
                if (position > range.Length || output > expected)
                {
                    return false;
                }
            }

            return position == range.Length && output == expected;
        }
        finally
        {
            range.Position = 0;
        }
    }

    protected override bool NextElement(out long literal, out long copyLength, out long copyOffset)
    {
        literal = copyLength = copyOffset = 0;
        if (_afterLiterals)
        {
            _afterLiterals = false;
            if (Input.Consumed == _blockEnd)
            {
                // The block's last sequence has literals only.
                if (Produced != _blockOutputEnd)
                {
                    throw Bad(FormattableString.Invariant($"a block decodes to {Produced} bytes where {_blockOutputEnd} are declared"));
                }

                if (!_hadoop || Input.Consumed == _inputLength)
                {
                    return false;
                }

                StartHadoopBlock();
            }
            else
            {
                if (_blockEnd - Input.Consumed < 2)
                {
                    throw Bad("a match offset runs past the end of the block");
                }

                copyOffset = ReadByteOrFail() | (ReadByteOrFail() << 8);
                copyLength = ReadLength(_matchNibble) + 4;
                if (copyLength > _blockOutputEnd - Produced)
                {
                    throw Bad("a match runs past the block's declared length");
                }

                if (copyOffset > Produced - _blockOutputStart)
                {
                    throw Bad(FormattableString.Invariant($"match offset {copyOffset} at block position {Produced - _blockOutputStart}"));
                }

                return true;
            }
        }

        if (Input.Consumed >= _blockEnd)
        {
            throw Bad("a block ends without its last literals");
        }

        var token = ReadByteOrFail();
        _matchNibble = token & 0x0F;
        literal = ReadLength(token >> 4);
        if (literal > _blockEnd - Input.Consumed || literal > _blockOutputEnd - Produced)
        {
            throw Bad("literals run past the end of the block");
        }

        _afterLiterals = true;
        return true;
    }

    private void StartHadoopBlock()
    {
        if (!Input.TryReadExactly(_scratch))
        {
            throw Bad("a Hadoop frame header runs past the end of the input");
        }

        var decompressed = BinaryPrimitives.ReadUInt32BigEndian(_scratch);
        var compressed = BinaryPrimitives.ReadUInt32BigEndian(_scratch.AsSpan(4));
        _blockEnd = Input.Consumed + compressed;
        _blockOutputStart = Produced;
        _blockOutputEnd = Produced + decompressed;
        if (_blockEnd > _inputLength || _blockOutputEnd > Expected)
        {
            throw Bad("a Hadoop frame runs past the page");
        }
    }

    private int ReadByteOrFail()
    {
        var b = Input.ReadByte();
        return b >= 0 ? b : throw Bad("a sequence runs past the end of the input");
    }

    private long ReadLength(int nibble)
    {
        long length = nibble;
        if (nibble != 15)
        {
            return length;
        }

        while (true)
        {
            var b = ReadByteOrFail();
            length += b;
            if (length > int.MaxValue)
            {
                throw Bad("length overflow");
            }

            if (b != 255)
            {
                return length;
            }
        }
    }
}
