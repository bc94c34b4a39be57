using System.Buffers.Binary;

namespace TinyLlama.Data.Readers;

/// <summary>
/// Decoder of the raw snappy block format (what parquet's SNAPPY codec stores: a varint of the uncompressed length,
/// then literal and copy elements). Malformed input is an <see cref="InvalidDataException"/>; nothing is read or
/// written outside the given spans.
/// </summary>
internal static class SnappyBlock
{
    /// <summary>Decompresses <paramref name="source"/> into exactly <paramref name="destination"/>.</summary>
    public static void Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var ip = 0;
        ulong declared = 0;
        for (var shift = 0; ; shift += 7)
        {
            if (ip >= source.Length || shift > 28)
            {
                throw new InvalidDataException("snappy: bad length preamble");
            }

            var b = source[ip++];
            declared |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                break;
            }
        }

        if (declared != (ulong)destination.Length)
        {
            throw new InvalidDataException(FormattableString.Invariant($"snappy: block declares {declared} bytes, the page header {destination.Length}"));
        }

        var op = 0;
        while (ip < source.Length)
        {
            var tag = source[ip++];
            long length;
            long offset;
            switch (tag & 3)
            {
                case 0:
                    length = tag >> 2;
                    if (length >= 60)
                    {
                        var n = (int)length - 59;
                        if (n > source.Length - ip)
                        {
                            throw new InvalidDataException("snappy: literal length runs past the input");
                        }

                        length = 0;
                        for (var k = 0; k < n; k++)
                        {
                            length |= (long)source[ip + k] << (8 * k);
                        }

                        ip += n;
                    }

                    length++;
                    if (length > source.Length - ip)
                    {
                        throw new InvalidDataException("snappy: literal runs past the input");
                    }

                    if (length > destination.Length - op)
                    {
                        throw new InvalidDataException("snappy: literal runs past the declared length");
                    }

                    source.Slice(ip, (int)length).CopyTo(destination[op..]);
                    ip += (int)length;
                    op += (int)length;
                    continue;
                case 1:
                    if (ip >= source.Length)
                    {
                        throw new InvalidDataException("snappy: copy runs past the input");
                    }

                    length = 4 + ((tag >> 2) & 7);
                    offset = ((tag >> 5) << 8) | source[ip++];
                    break;
                case 2:
                    if (source.Length - ip < 2)
                    {
                        throw new InvalidDataException("snappy: copy runs past the input");
                    }

                    length = 1 + (tag >> 2);
                    offset = BinaryPrimitives.ReadUInt16LittleEndian(source[ip..]);
                    ip += 2;
                    break;
                default:
                    if (source.Length - ip < 4)
                    {
                        throw new InvalidDataException("snappy: copy runs past the input");
                    }

                    length = 1 + (tag >> 2);
                    offset = BinaryPrimitives.ReadUInt32LittleEndian(source[ip..]);
                    ip += 4;
                    break;
            }

            CopyMatch(destination, ref op, offset, length, "snappy");
        }

        if (op != destination.Length)
        {
            throw new InvalidDataException(FormattableString.Invariant($"snappy: block ends after {op} of {destination.Length} bytes"));
        }
    }

    /// <summary>Copies <paramref name="length"/> bytes from <paramref name="offset"/> bytes back; the ranges may overlap.</summary>
    internal static void CopyMatch(Span<byte> destination, ref int op, long offset, long length, string codec)
    {
        if (offset <= 0 || offset > op)
        {
            throw new InvalidDataException(FormattableString.Invariant($"{codec}: copy offset {offset} at output position {op}"));
        }

        if (length > destination.Length - op)
        {
            throw new InvalidDataException($"{codec}: copy runs past the declared length");
        }

        var from = op - (int)offset;
        var remaining = (int)length;
        while (remaining > 0)
        {
            // Each piece is at most `offset` long, so source and target never overlap; together they repeat the pattern.
            var n = Math.Min(remaining, op - from);
            destination.Slice(from, n).CopyTo(destination[op..]);
            op += n;
            remaining -= n;
        }
    }
}

/// <summary>
/// Decoder of the LZ4 block format (parquet's LZ4_RAW codec: sequences of literals and matches, no frame). Malformed
/// input is an <see cref="InvalidDataException"/>; nothing is read or written outside the given spans.
/// </summary>
internal static class Lz4Block
{
    /// <summary>Decompresses <paramref name="source"/> into exactly <paramref name="destination"/>.</summary>
    public static void Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var ip = 0;
        var op = 0;
        while (true)
        {
            if (ip >= source.Length)
            {
                throw new InvalidDataException("lz4: block ends without its last literals");
            }

            var token = source[ip++];
            var literals = ReadLength(source, ref ip, token >> 4);
            if (literals > source.Length - ip)
            {
                throw new InvalidDataException("lz4: literals run past the input");
            }

            if (literals > destination.Length - op)
            {
                throw new InvalidDataException("lz4: literals run past the declared length");
            }

            source.Slice(ip, (int)literals).CopyTo(destination[op..]);
            ip += (int)literals;
            op += (int)literals;
            if (ip == source.Length)
            {
                break; // the last sequence has literals only
            }

            if (source.Length - ip < 2)
            {
                throw new InvalidDataException("lz4: match offset runs past the input");
            }

            var offset = BinaryPrimitives.ReadUInt16LittleEndian(source[ip..]);
            ip += 2;
            var match = ReadLength(source, ref ip, token & 0x0F) + 4;
            SnappyBlock.CopyMatch(destination, ref op, offset, match, "lz4");
        }

        if (op != destination.Length)
        {
            throw new InvalidDataException(FormattableString.Invariant($"lz4: block ends after {op} of {destination.Length} bytes"));
        }
    }

    /// <summary>
    /// Hadoop's LZ4 framing: blocks each preceded by big-endian 32-bit decompressed and compressed sizes. False when
    /// the input is not exactly such frames filling <paramref name="destination"/> (then it may be a bare block).
    /// </summary>
    public static bool TryDecompressHadoop(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var ip = 0;
        var op = 0;
        while (source.Length - ip >= 8)
        {
            var decompressed = BinaryPrimitives.ReadUInt32BigEndian(source[ip..]);
            var compressed = BinaryPrimitives.ReadUInt32BigEndian(source[(ip + 4)..]);
            ip += 8;
            if (compressed > (uint)(source.Length - ip) || decompressed > (uint)(destination.Length - op))
            {
                return false;
            }

            try
            {
                Decompress(source.Slice(ip, (int)compressed), destination.Slice(op, (int)decompressed));
            }
            catch (InvalidDataException)
            {
                return false;
            }

            ip += (int)compressed;
            op += (int)decompressed;
        }

        return ip == source.Length && op == destination.Length;
    }

    private static long ReadLength(ReadOnlySpan<byte> source, ref int ip, int nibble)
    {
        long length = nibble;
        if (nibble != 15)
        {
            return length;
        }

        while (true)
        {
            if (ip >= source.Length)
            {
                throw new InvalidDataException("lz4: length runs past the input");
            }

            var b = source[ip++];
            length += b;
            if (length > int.MaxValue)
            {
                throw new InvalidDataException("lz4: length overflow");
            }

            if (b != 255)
            {
                return length;
            }
        }
    }
}

/// <summary>
/// Parquet's RLE / bit-packed hybrid encoding (definition levels, dictionary indices): runs of
/// <c>varint(count &lt;&lt; 1) value</c> and <c>varint(groups &lt;&lt; 1 | 1)</c> followed by groups of 8 values
/// bit-packed least significant bit first.
/// </summary>
internal static class RleBitPackedHybrid
{
    /// <summary>Decodes <paramref name="values"/>.Length values, each below <paramref name="limit"/>; returns bytes used.</summary>
    public static int Decode(ReadOnlySpan<byte> data, int bitWidth, Span<int> values, long limit, string what)
    {
        if (bitWidth is < 0 or > 32)
        {
            throw new InvalidDataException(FormattableString.Invariant($"{what}: bit width {bitWidth}"));
        }

        var ip = 0;
        var filled = 0;
        var byteWidth = (bitWidth + 7) / 8;
        var mask = bitWidth == 32 ? uint.MaxValue : (1u << bitWidth) - 1;
        while (filled < values.Length)
        {
            ulong header = 0;
            for (var shift = 0; ; shift += 7)
            {
                if (ip >= data.Length || shift > 28)
                {
                    throw new InvalidDataException(FormattableString.Invariant($"{what}: run out after {filled} of {values.Length} values"));
                }

                var b = data[ip++];
                header |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    break;
                }
            }

            var remaining = values.Length - filled;
            if ((header & 1) == 0)
            {
                var count = header >> 1;
                if (count == 0 || byteWidth > data.Length - ip)
                {
                    throw new InvalidDataException(FormattableString.Invariant($"{what}: bad run after {filled} of {values.Length} values"));
                }

                uint value = 0;
                for (var k = 0; k < byteWidth; k++)
                {
                    value |= (uint)data[ip + k] << (8 * k);
                }

                ip += byteWidth;
                if (value >= limit)
                {
                    throw new InvalidDataException(FormattableString.Invariant($"{what}: value {value} out of range"));
                }

                var n = (int)Math.Min(count, (ulong)remaining);
                values.Slice(filled, n).Fill((int)value);
                filled += n;
            }
            else
            {
                var groups = header >> 1;
                if (groups == 0)
                {
                    throw new InvalidDataException(FormattableString.Invariant($"{what}: empty bit-packed run after {filled} of {values.Length} values"));
                }

                var n = (int)Math.Min(groups * 8, (ulong)remaining);
                var runBytes = groups * (ulong)bitWidth;
                var needed = ((long)n * bitWidth + 7) / 8;
                if (needed > data.Length - ip)
                {
                    throw new InvalidDataException(FormattableString.Invariant($"{what}: bit-packed run past the end after {filled} of {values.Length} values"));
                }

                ulong acc = 0;
                var bits = 0;
                var p = ip;
                for (var k = 0; k < n; k++)
                {
                    while (bits < bitWidth)
                    {
                        acc |= (ulong)data[p++] << bits;
                        bits += 8;
                    }

                    var value = (uint)(acc & mask);
                    acc = bitWidth == 0 ? acc : acc >> bitWidth;
                    bits -= bitWidth;
                    if (value >= limit)
                    {
                        throw new InvalidDataException(FormattableString.Invariant($"{what}: value {value} out of range"));
                    }

                    values[filled + k] = (int)value;
                }

                filled += n;
                // The last run may be padded with values beyond the count, and some writers drop the padding's bytes.
                ip += (int)Math.Min(runBytes, (ulong)(data.Length - ip));
            }
        }

        return ip;
    }
}
