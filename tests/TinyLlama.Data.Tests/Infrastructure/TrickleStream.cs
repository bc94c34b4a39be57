using TinyLlama.Data.Util;

namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>An adversarial stream: returns at most <c>maxPerRead</c> bytes per Read (1 = trickle one byte at a time).</summary>
internal sealed class TrickleStream(byte[] data, int maxPerRead = 1) : ReadOnlyStream
{
    private int _position;

    public override int Read(Span<byte> buffer)
    {
        var n = Math.Min(Math.Min(buffer.Length, maxPerRead), data.Length - _position);
        data.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }
}
