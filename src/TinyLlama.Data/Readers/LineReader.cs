namespace TinyLlama.Data.Readers;

/// <summary>
/// Splits a (decompressed) byte stream into <c>\n</c>-terminated lines without a string per line. The buffer grows to
/// hold the longest line and shrinks back once the big line is consumed, so memory is a small multiple of the
/// longest line, whatever the file size. A last line without a trailing newline is a line. Stream exceptions
/// (corrupt or truncated compressed data) propagate to the caller, which knows the file and record.
/// </summary>
internal sealed class LineReader : IDisposable
{
    internal const int InitialSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly ByteBuffer _buffer = new(InitialSize);
    private int _start;
    private int _end;
    private int _scan;
    private bool _eof;
    private int _lineStart;
    private long _bufferOffset;

    public LineReader(Stream stream) => _stream = stream;

    /// <summary>Offset, in the decompressed stream, of the first byte of the line last returned.</summary>
    public long LineOffset { get; private set; }

    /// <summary>Decompressed bytes read from the stream so far (the offset reached).</summary>
    public long BytesRead => _bufferOffset + _end;

    /// <summary>Returns the next line without its <c>\n</c>; false at the end of the stream.</summary>
    public bool TryReadLine(out ReadOnlySpan<byte> line)
    {
        MaybeShrink();
        while (true)
        {
            var array = _buffer.Array;
            var found = array.AsSpan(_scan, _end - _scan).IndexOf((byte)'\n');
            if (found >= 0)
            {
                var newline = _scan + found;
                line = array.AsSpan(_start, newline - _start);
                _lineStart = _start;
                LineOffset = _bufferOffset + _start;
                _start = newline + 1;
                _scan = _start;
                return true;
            }

            _scan = _end;
            if (_eof)
            {
                LineOffset = _bufferOffset + _start;
                if (_start < _end)
                {
                    line = array.AsSpan(_start, _end - _start);
                    _lineStart = _start;
                    _start = _end;
                    _scan = _end;
                    return true;
                }

                line = default;
                return false;
            }

            Fill();
        }
    }

    /// <summary>A slice of the line last returned, as memory; valid until the next <see cref="TryReadLine"/>.</summary>
    public ReadOnlyMemory<byte> CurrentLine(int start, int length) =>
        new(_buffer.Array, _lineStart + start, length);

    public void Dispose() => _buffer.Dispose();

    private void Fill()
    {
        if (_end == _buffer.Capacity)
        {
            if (_start > 0)
            {
                Compact();
            }
            else
            {
                _buffer.EnsureCapacity(_buffer.Capacity * 2, _end);
            }
        }

        var read = _stream.Read(_buffer.Array, _end, _buffer.Capacity - _end);
        if (read == 0)
        {
            _eof = true;
        }
        else
        {
            _end += read;
        }
    }

    private void Compact()
    {
        var pending = _end - _start;
        _buffer.Array.AsSpan(_start, pending).CopyTo(_buffer.Array);
        _bufferOffset += _start;
        _scan -= _start;
        _end = pending;
        _start = 0;
    }

    private void MaybeShrink()
    {
        // After a very long line the buffer is big; once what is left fits the normal size, give the big array back.
        if (_buffer.Capacity > ByteBuffer.PoolLimit && _end - _start <= InitialSize / 2)
        {
            Compact();
            _buffer.ShrinkTo(InitialSize, _end);
        }
    }
}
