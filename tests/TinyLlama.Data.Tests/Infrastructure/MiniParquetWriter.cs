using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>
/// A parquet writer written from the format's specification, for what Parquet.Net cannot write: v2 data pages, and
/// PLAIN pages of a chosen size. One optional UTF-8 column <c>content</c>, one row group, PLAIN values, definition
/// levels bit-packed. SNAPPY and LZ4_RAW pages are stored as literal runs only (valid, uncompressing, and enough to
/// exercise a decoder's framing); GZIP, ZSTD and BROTLI pages are really compressed.
/// </summary>
internal static class MiniParquetWriter
{
    public const int Uncompressed = 0;
    public const int Snappy = 1;
    public const int Gzip = 2;
    public const int Brotli = 4;
    public const int Zstd = 6;
    public const int Lz4Raw = 7;

    public static void Write(string path, IReadOnlyList<string?> values, int rowsPerPage, bool v2, int codec)
    {
        using var file = new MemoryStream();
        file.Write("PAR1"u8);
        var chunkStart = file.Position;
        long uncompressedTotal = 0;
        for (var first = 0; first < values.Count || (first == 0 && values.Count == 0); first += rowsPerPage)
        {
            var rows = values.Skip(first).Take(rowsPerPage).ToList();
            var levels = Levels(rows);
            var plain = new MemoryStream();
            foreach (var value in rows.OfType<string>())
            {
                var bytes = Encoding.UTF8.GetBytes(value);
                plain.Write(BitConverter.GetBytes(bytes.Length));
                plain.Write(bytes);
            }

            byte[] body;
            int uncompressedSize;
            var header = new Thrift();
            if (v2)
            {
                var compressed = Compress(plain.ToArray(), codec);
                body = [.. levels, .. compressed];
                uncompressedSize = levels.Length + (int)plain.Length;
                header.I32(1, 3).I32(2, uncompressedSize).I32(3, body.Length).Begin(8)
                    .I32(1, rows.Count).I32(2, rows.Count(r => r is null)).I32(3, rows.Count).I32(4, 0).I32(5, levels.Length).I32(6, 0)
                    .Bool(7, codec != Uncompressed).End().Stop();
            }
            else
            {
                byte[] raw = [.. BitConverter.GetBytes(levels.Length), .. levels, .. plain.ToArray()];
                body = Compress(raw, codec);
                uncompressedSize = raw.Length;
                header.I32(1, 0).I32(2, uncompressedSize).I32(3, body.Length).Begin(5)
                    .I32(1, rows.Count).I32(2, 0).I32(3, 3).I32(4, 3).End().Stop();
            }

            var headerBytes = header.ToArray();
            file.Write(headerBytes);
            file.Write(body);
            uncompressedTotal += headerBytes.Length + uncompressedSize;
            if (values.Count == 0)
            {
                break;
            }
        }

        var chunkLength = file.Position - chunkStart;
        var footer = new Thrift()
            .I32(1, 1)
            .List(2, 12, 2)
                .Begin().Binary(4, "schema").I32(5, 1).Stop()
                .Begin().I32(1, 6).I32(3, 1).Binary(4, "content").I32(6, 0).Stop()
            .I64(3, values.Count)
            .List(4, 12, 1)
                .Begin()
                    .List(1, 12, 1)
                        .Begin().I64(2, chunkStart).Begin(3)
                            .I32(1, 6).List(2, 5, 2).Varint(0).Varint(3).List(3, 8, 1).Bytes("content")
                            .I32(4, codec).I64(5, values.Count).I64(6, uncompressedTotal).I64(7, chunkLength).I64(9, chunkStart)
                        .End().Stop()
                    .I64(2, uncompressedTotal).I64(3, values.Count)
                .Stop()
            .Binary(6, "tinyllama-data MiniParquetWriter")
            .Stop()
            .ToArray();
        file.Write(footer);
        file.Write(BitConverter.GetBytes(footer.Length));
        file.Write("PAR1"u8);
        File.WriteAllBytes(path, file.ToArray());
    }

    /// <summary>Definition levels (1 = present), bit width 1, as one bit-packed run.</summary>
    private static byte[] Levels(List<string?> rows)
    {
        var groups = (rows.Count + 7) / 8;
        var bytes = new byte[groups];
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i] is not null)
            {
                bytes[i / 8] |= (byte)(1 << (i % 8));
            }
        }

        return rows.Count == 0 ? [] : [.. Varint((ulong)((groups << 1) | 1)), .. bytes];
    }

    private static byte[] Compress(byte[] data, int codec)
    {
        switch (codec)
        {
            case Uncompressed:
                return data;
            case Snappy:
                {
                    // Preamble, then literals of at most 65,536 bytes (tag 61: a 2-byte length - 1).
                    var output = new List<byte>(Varint((ulong)data.Length));
                    for (var i = 0; i < data.Length; i += 65536)
                    {
                        var n = Math.Min(65536, data.Length - i);
                        output.AddRange([61 << 2, (byte)(n - 1), (byte)((n - 1) >> 8)]);
                        output.AddRange(data.AsSpan(i, n).ToArray());
                    }

                    return [.. output];
                }

            case Lz4Raw:
                {
                    // One sequence of literals only: token 0xF0, the length - 15 in 255s and a remainder.
                    var output = new List<byte> { (byte)(Math.Min(data.Length, 15) << 4) };
                    if (data.Length >= 15)
                    {
                        var rest = data.Length - 15;
                        for (; rest >= 255; rest -= 255)
                        {
                            output.Add(255);
                        }

                        output.Add((byte)rest);
                    }

                    output.AddRange(data);
                    return [.. output];
                }

            case Gzip:
                {
                    using var ms = new MemoryStream();
                    using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
                    {
                        gz.Write(data);
                    }

                    return ms.ToArray();
                }

            case Brotli:
                {
                    using var ms = new MemoryStream();
                    using (var br = new BrotliStream(ms, CompressionLevel.Fastest, leaveOpen: true))
                    {
                        br.Write(data);
                    }

                    return ms.ToArray();
                }

            case Zstd:
                {
                    using var compressor = new ZstdSharp.Compressor(3);
                    return compressor.Wrap(data).ToArray();
                }

            default:
                throw new ArgumentOutOfRangeException(nameof(codec));
        }
    }

    /// <summary>An unsigned LEB128 varint (thrift's, snappy's preamble, parquet's run headers).</summary>
    public static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        while (value >= 0x80)
        {
            bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        bytes.Add((byte)value);
        return [.. bytes];
    }

    /// <summary>The thrift compact protocol, just what a footer and a page header need.</summary>
    private sealed class Thrift
    {
        private readonly List<byte> _bytes = [];
        private readonly Stack<short> _last = new();
        private short _lastId;

        public Thrift I32(short id, long value) => Header(id, 5).ZigZag(value);

        public Thrift I64(short id, long value) => Header(id, 6).ZigZag(value);

        public Thrift Bool(short id, bool value) => Header(id, value ? 1 : 2);

        public Thrift Binary(short id, string value) => Header(id, 8).Bytes(value);

        public Thrift Bytes(string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            _bytes.AddRange(MiniParquetWriter.Varint((ulong)bytes.Length));
            _bytes.AddRange(bytes);
            return this;
        }

        public Thrift Varint(long value) => ZigZag(value);

        /// <summary>A list field header; its elements follow (structs with <see cref="Begin()"/> … <see cref="Stop"/>).</summary>
        public Thrift List(short id, int elementType, int count)
        {
            Header(id, 9);
            _bytes.Add((byte)((count << 4) | elementType));
            return this;
        }

        /// <summary>A struct field; closed by <see cref="End"/>.</summary>
        public Thrift Begin(short id)
        {
            Header(id, 12);
            return Begin();
        }

        /// <summary>A struct (a list element, or the top level after the first); closed by <see cref="Stop"/>.</summary>
        public Thrift Begin()
        {
            _last.Push(_lastId);
            _lastId = 0;
            return this;
        }

        public Thrift End() => Stop();

        public Thrift Stop()
        {
            _bytes.Add(0);
            _lastId = _last.Count > 0 ? _last.Pop() : (short)0;
            return this;
        }

        public byte[] ToArray() => [.. _bytes];

        private Thrift Header(short id, int type)
        {
            var delta = id - _lastId;
            if (delta is > 0 and <= 15)
            {
                _bytes.Add((byte)((delta << 4) | type));
            }
            else
            {
                _bytes.Add((byte)type);
                ZigZag(id);
            }

            _lastId = id;
            return this;
        }

        private Thrift ZigZag(long value)
        {
            _bytes.AddRange(MiniParquetWriter.Varint((ulong)((value << 1) ^ (value >> 63))));
            return this;
        }
    }
}
