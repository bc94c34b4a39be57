using System.Buffers.Binary;
using System.IO.Compression;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Readers;

/// <summary>A gzip or zstd stream that is truncated or corrupt; <see cref="CompressedOffset"/> is where it was found.</summary>
internal sealed class CorruptStreamException : IOException
{
    public CorruptStreamException(string message, long compressedOffset, Exception? inner = null)
        : base(message, inner) => CompressedOffset = compressedOffset;

    public long CompressedOffset { get; }
}

/// <summary>
/// Decompresses a gzip file of one or more members (RFC 1952), checking every member's CRC-32 and size trailer.
/// <see cref="GZipStream"/> alone takes a truncated file for a short one and ignores trailing garbage, so members
/// are walked here: header parsed by hand, body inflated by <see cref="DeflateStream"/>, and the trailer found right
/// after the deflate data (it lies inside the last chunk the inflater was handed: a CRC-32 plus size match is
/// unambiguous). A missing or wrong trailer, a bad header or bytes after the last member are errors.
/// </summary>
internal sealed class GzipMemberStream : ReadOnlyStream
{
    private const int ChunkSize = 64 * 1024;

    private readonly Stream _file;
    private readonly long _fileLength;
    private readonly ChunkSource _source;
    private DeflateStream? _inflater;
    private uint _crc;
    private long _memberLength;
    private long _memberStart;
    private bool _finished;

    public GzipMemberStream(Stream file)
    {
        _file = file;
        _fileLength = file.Length;
        _source = new ChunkSource(file);
    }

    /// <summary>Compressed bytes consumed so far.</summary>
    public long CompressedPosition => _file.Position;

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (!_finished)
        {
            if (_inflater is null)
            {
                if (_file.Position >= _fileLength)
                {
                    _finished = true;
                    break;
                }

                _memberStart = _file.Position;
                ReadHeader();
                _inflater = new DeflateStream(_source, CompressionMode.Decompress, leaveOpen: true);
                _crc = 0;
                _memberLength = 0;
            }

            int read;
            try
            {
                read = _inflater.Read(buffer);
            }
            catch (InvalidDataException ex)
            {
                throw new CorruptStreamException(
                    FormattableString.Invariant($"corrupt deflate data in the gzip member at byte {_memberStart}: {ex.Message}"),
                    _file.Position, ex);
            }

            if (read > 0)
            {
                _crc = Crc32.Update(_crc, buffer[..read]);
                _memberLength += read;
                return read;
            }

            FinishMember();
        }

        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inflater?.Dispose();
            _file.Dispose();
        }

        base.Dispose(disposing);
    }

    private void FinishMember()
    {
        _inflater!.Dispose();
        _inflater = null;

        // The deflate data ended somewhere in the last chunk handed to the inflater (or exactly at its end).
        var windowStart = _source.LastChunkStart;
        var windowEnd = Math.Min(_source.HandedEnd + 8, _fileLength);
        var window = new byte[Math.Max(0, windowEnd - windowStart)];
        _file.Position = windowStart;
        _file.ReadExactly(window);
        Span<byte> trailer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, _crc);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], unchecked((uint)_memberLength));
        var at = window.AsSpan().IndexOf(trailer);
        if (at < 0)
        {
            throw new CorruptStreamException(
                FormattableString.Invariant(
                    $"the gzip member at byte {_memberStart} ends without its CRC-32/size trailer after {_memberLength} decompressed bytes: the file is truncated or corrupt"),
                _source.HandedEnd);
        }

        _file.Position = windowStart + at + 8;
        _source.Reset();
    }

    private void ReadHeader()
    {
        Span<byte> fixedPart = stackalloc byte[10];
        ReadHeaderBytes(fixedPart);
        if (fixedPart[0] != 0x1F || fixedPart[1] != 0x8B)
        {
            throw Corrupt(_memberStart == 0
                ? "not a gzip file (bad magic bytes)"
                : "unexpected bytes after the last gzip member (trailing garbage)");
        }

        if (fixedPart[2] != 8 || (fixedPart[3] & 0xE0) != 0)
        {
            throw Corrupt("unsupported gzip header (compression method or reserved flags)");
        }

        var flags = fixedPart[3];
        if ((flags & 0x04) != 0)
        {
            Span<byte> xlen = stackalloc byte[2];
            ReadHeaderBytes(xlen);
            SkipHeaderBytes(BinaryPrimitives.ReadUInt16LittleEndian(xlen));
        }

        if ((flags & 0x08) != 0)
        {
            SkipZeroTerminated();
        }

        if ((flags & 0x10) != 0)
        {
            SkipZeroTerminated();
        }

        if ((flags & 0x02) != 0)
        {
            SkipHeaderBytes(2);
        }
    }

    private void ReadHeaderBytes(Span<byte> destination)
    {
        if (_file.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false) < destination.Length)
        {
            throw Corrupt("truncated gzip header");
        }
    }

    private void SkipHeaderBytes(int count)
    {
        if (_file.Position + count > _fileLength)
        {
            throw Corrupt("truncated gzip header");
        }

        _file.Position += count;
    }

    private void SkipZeroTerminated()
    {
        int b;
        while ((b = _file.ReadByte()) > 0)
        {
        }

        if (b < 0)
        {
            throw Corrupt("truncated gzip header");
        }
    }

    private CorruptStreamException Corrupt(string problem) =>
        new(FormattableString.Invariant($"{problem} at byte {_memberStart}"), _file.Position);

    /// <summary>Hands the file to the inflater in chunks and remembers where the last chunk began.</summary>
    private sealed class ChunkSource(Stream file) : ReadOnlyStream
    {
        public long LastChunkStart { get; private set; } = -1;

        public long HandedEnd { get; private set; }

        public void Reset() => LastChunkStart = -1;

        public override int Read(Span<byte> buffer)
        {
            var start = file.Position;
            var read = file.Read(buffer[..Math.Min(buffer.Length, ChunkSize)]);
            if (read > 0 || LastChunkStart < 0)
            {
                LastChunkStart = start;
            }

            HandedEnd = start + read;
            return read;
        }
    }
}
