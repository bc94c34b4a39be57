namespace TinyLlama.Data.Util;

/// <summary>
/// The boilerplate of a forward-only, read-only <see cref="Stream"/>: a subclass implements
/// <see cref="Read(Span{byte})"/> and nothing else (no seeking, no length, no writing).
/// </summary>
public abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public abstract override int Read(Span<byte> buffer);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>
/// A read-only <see cref="Stream"/> of a known length that can seek: a subclass gives <see cref="Length"/> and
/// implements <see cref="ReadOnlyStream.Read(Span{byte})"/> at <see cref="Position"/>, which it advances.
/// Positions past the end are allowed (reads there return 0); negative ones are not.
/// </summary>
public abstract class SeekableReadOnlyStream : ReadOnlyStream
{
    private long _position;

    public override bool CanSeek => true;

    public abstract override long Length { get; }

    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new IOException("a seek before the start of the stream");
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => Length + offset,
    };
}
