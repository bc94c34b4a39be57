using System.Text;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tests.Infrastructure;

namespace TinyLlama.Data.Tests.Readers;

/// <summary>
/// Hand-made snappy and LZ4 blocks, hybrid runs and thrift page headers: exact output or InvalidDataException. Every
/// block goes through both the whole-block decoder and the streaming one, which must agree on it.
/// </summary>
public sealed class ParquetBlockDecoderTests
{
    private static string Snappy(byte[] block, int length)
    {
        var output = new byte[length];
        var whole = Record(() => SnappyBlock.Decompress(block, output));
        var streamed = Record(() => StreamSnappy(block, length));
        (streamed.Error is null).Should().Be(whole is null, "both decoders accept or refuse the block ({0} / {1})", whole?.Message, streamed.Error?.Message);
        if (whole is not null)
        {
            throw whole;
        }

        streamed.Output.Should().Equal(output);
        return Encoding.Latin1.GetString(output);
    }

    private static string Lz4(byte[] block, int length)
    {
        var output = new byte[length];
        var whole = Record(() => Lz4Block.Decompress(block, output));
        var streamed = Record(() => Drain(new Lz4DecoderStream(new BufferedInput(new MemoryStream(block)), block.Length, length, hadoop: false)));
        (streamed.Error is null).Should().Be(whole is null, "both decoders accept or refuse the block ({0} / {1})", whole?.Message, streamed.Error?.Message);
        if (whole is not null)
        {
            throw whole;
        }

        streamed.Output.Should().Equal(output);
        return Encoding.Latin1.GetString(output);
    }

    private static byte[] StreamSnappy(byte[] block, long length) => Drain(new SnappyDecoderStream(new BufferedInput(new MemoryStream(block)), length));

    /// <summary>Reads a stream to its end in reads of varying sizes, so window and element boundaries fall anywhere.</summary>
    private static byte[] Drain(Stream stream)
    {
        using (stream)
        {
            var output = new MemoryStream();
            var buffer = new byte[70_001];
            var sizes = new[] { 1, 7, 4096, 70_001, 3 };
            for (var i = 0; ; i++)
            {
                var n = stream.Read(buffer, 0, sizes[i % sizes.Length]);
                if (n == 0)
                {
                    return output.ToArray();
                }

                output.Write(buffer, 0, n);
            }
        }
    }

    private static InvalidDataException? Record(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (InvalidDataException ex)
        {
            return ex;
        }
    }

    private static (byte[]? Output, InvalidDataException? Error) Record(Func<byte[]> action)
    {
        try
        {
            return (action(), null);
        }
        catch (InvalidDataException ex)
        {
            return (null, ex);
        }
    }

    [Fact]
    public void Streamed_snappy_and_lz4_agree_with_the_block_decoders_on_megabytes_of_long_runs_and_matches()
    {
        // Elements that straddle the streaming window's 1 MiB edge: long literals, long overlapping runs, far copies.
        var random = new Random(7);
        var snappy = new List<byte>();
        var expected = new List<byte>();
        while (expected.Count < 3_000_000)
        {
            if (expected.Count == 0 || random.Next(3) == 0)
            {
                var literal = Enumerable.Range(0, random.Next(1, random.Next(2) == 0 ? 100 : 200_000)).Select(_ => (byte)random.Next(256)).ToArray();
                var n = literal.Length - 1;
                snappy.AddRange([0xFC, (byte)n, (byte)(n >> 8), (byte)(n >> 16), (byte)(n >> 24)]);
                snappy.AddRange(literal);
                expected.AddRange(literal);
            }
            else
            {
                var offset = random.Next(1, Math.Min(expected.Count, random.Next(2) == 0 ? 8 : 65_535) + 1);
                var length = random.Next(1, 65);
                snappy.AddRange([(byte)(((length - 1) << 2) | 3), (byte)offset, (byte)(offset >> 8), 0, 0]);
                for (var k = 0; k < length; k++)
                {
                    expected.Add(expected[^offset]);
                }
            }
        }

        var block = MiniParquetWriter.Varint((ulong)expected.Count).Concat(snappy).ToArray();
        var whole = new byte[expected.Count];
        SnappyBlock.Decompress(block, whole);
        whole.Should().Equal(expected);
        StreamSnappy(block, expected.Count).Should().Equal(expected);
    }

    [Fact]
    public void A_snappy_copy_reaching_before_the_streaming_window_is_refused_by_the_stream_only()
    {
        // A 1.2 MB literal, then a copy from 700,000 bytes back: legal snappy, beyond what the stream keeps.
        var literal = Enumerable.Range(0, 1_200_000).Select(i => (byte)(i * 7)).ToArray();
        var n = literal.Length - 1;
        const int Offset = 700_000;
        byte[] block = [.. MiniParquetWriter.Varint((ulong)literal.Length + 4), 0xFC, (byte)n, (byte)(n >> 8), (byte)(n >> 16), (byte)(n >> 24), .. literal,
            0x0F, Offset & 0xFF, (Offset >> 8) & 0xFF, (Offset >> 16) & 0xFF, 0];
        var whole = new byte[literal.Length + 4];
        SnappyBlock.Decompress(block, whole);
        whole.AsSpan(literal.Length).ToArray().Should().Equal(literal.AsSpan(literal.Length - Offset, 4).ToArray());

        var act = () => StreamSnappy(block, literal.Length + 4);

        act.Should().Throw<InvalidDataException>().WithMessage("*streaming window*");
    }

    [Fact]
    public void Hadoop_framed_lz4_streams_block_after_block()
    {
        byte[] first = [0x30, (byte)'a', (byte)'b', (byte)'c'];
        byte[] second = [0x22, (byte)'x', (byte)'y', 0x02, 0x00, 0x00];
        byte[] framed = [0, 0, 0, 3, 0, 0, 0, 4, .. first, 0, 0, 0, 8, 0, 0, 0, 6, .. second];

        Lz4DecoderStream.LooksLikeHadoopFrames(new MemoryStream(framed), 11).Should().BeTrue();
        Lz4DecoderStream.LooksLikeHadoopFrames(new MemoryStream(framed), 12).Should().BeFalse();
        Lz4DecoderStream.LooksLikeHadoopFrames(new MemoryStream(first), 3).Should().BeFalse();
        Encoding.Latin1.GetString(Drain(new Lz4DecoderStream(new BufferedInput(new MemoryStream(framed)), framed.Length, 11, hadoop: true)))
            .Should().Be("abcxyxyxyxy");

        // A match may not reach into the previous frame: each frame is its own block.
        byte[] reaching = [0, 0, 0, 3, 0, 0, 0, 4, .. first, 0, 0, 0, 6, 0, 0, 0, 4, 0x02, 0x03, 0x00, 0x00];
        var act = () => Drain(new Lz4DecoderStream(new BufferedInput(new MemoryStream(reaching)), reaching.Length, 9, hadoop: true));
        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Snappy_literals_and_copies_including_overlapping_ones()
    {
        Snappy([3, 0x08, (byte)'a', (byte)'b', (byte)'c'], 3).Should().Be("abc");
        // "ab", then a 1-byte-offset copy of 6 from offset 2 (overlapping: offset < length).
        Snappy([8, 0x04, (byte)'a', (byte)'b', 0x09, 0x02], 8).Should().Be("abababab");
        // "a", then a copy of 7 from offset 1 (a run).
        Snappy([8, 0x00, (byte)'a', 0x0D, 0x01], 8).Should().Be("aaaaaaaa");
        // 2-byte offset copy (tag 2): length 3 from offset 3; 4-byte offset copy (tag 3): length 2 from offset 6.
        Snappy([9, 0x0C, (byte)'x', (byte)'y', (byte)'z', (byte)'w', 0x0A, 0x03, 0x00, 0x07, 0x07, 0x00, 0x00, 0x00], 9).Should().Be("xyzwyzwxy");
        Snappy([0], 0).Should().Be("");
    }

    [Fact]
    public void Snappy_literal_lengths_in_extra_bytes()
    {
        var hundred = Enumerable.Range(0, 100).Select(i => (byte)('a' + (i % 26))).ToArray();
        Snappy([100, 0xF0, 99, .. hundred], 100).Should().Be(Encoding.Latin1.GetString(hundred));
        var many = Enumerable.Range(0, 300).Select(i => (byte)('a' + (i % 26))).ToArray();
        Snappy([0xAC, 0x02, 0xF4, 0x2B, 0x01, .. many], 300).Should().Be(Encoding.Latin1.GetString(many)); // 299 = 0x012B
    }

    public static TheoryData<byte[], int> BadSnappy() => new()
    {
        { [2, 0x04, (byte)'a', (byte)'b', 0x09, 0x00], 2 + 6 }, // offset 0 (and a declared length that disagrees)
        { [8, 0x04, (byte)'a', (byte)'b', 0x09, 0x00], 8 }, // offset 0
        { [8, 0x04, (byte)'a', (byte)'b', 0x09, 0x05], 8 }, // offset beyond the output so far
        { [4, 0x04, (byte)'a', (byte)'b', 0x09, 0x02], 4 }, // copy longer than the declared length
        { [8, 0x04, (byte)'a', (byte)'b', 0x0A, 0x02], 8 }, // 2-byte offset cut short
        { [8, 0x04, (byte)'a', (byte)'b', 0x0B, 0x02, 0x00], 8 }, // 4-byte offset cut short
        { [5, 0x10, (byte)'a'], 5 }, // literal runs past the input
        { [3, 0x08, (byte)'a', (byte)'b', (byte)'c'], 4 }, // preamble disagrees with the page header
        { [9, 0x08, (byte)'a', (byte)'b', (byte)'c'], 9 }, // ends early
        { [8, 0xFC, 0xFF, 0xFF, 0xFF, 0xFF, (byte)'a'], 8 }, // 4-byte literal length: overflow
        { [8, 0xFC, 0xFF], 8 }, // literal length bytes cut short
        { [0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 1 }, // preamble varint too long
        { [], 0 }, // no preamble
    };

    [Theory]
    [MemberData(nameof(BadSnappy))]
    public void Malformed_snappy_is_invalid_data(byte[] block, int length)
    {
        var act = () => Snappy(block, length);

        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Lz4_literals_matches_and_extra_length_bytes()
    {
        Lz4([0x30, (byte)'a', (byte)'b', (byte)'c'], 3).Should().Be("abc");
        // "ab", match of 6 from offset 2 (overlapping), then the closing empty literal run.
        Lz4([0x22, (byte)'a', (byte)'b', 0x02, 0x00, 0x00], 8).Should().Be("abababab");
        // 20 literals (15 + 5), then a match of 4 + 15 + 1 = 20 from offset 1, then "z".
        var twenty = Enumerable.Range(0, 20).Select(i => (byte)('a' + i)).ToArray();
        Lz4([0xFF, 5, .. twenty, 0x01, 0x00, 1, 0x10, (byte)'z'], 41).Should().Be(Encoding.Latin1.GetString(twenty) + new string('t', 20) + "z");
        // A literal length of 15 + 255 + 0.
        var long270 = Enumerable.Repeat((byte)'q', 270).ToArray();
        Lz4([0xF0, 255, 0, .. long270], 270).Should().Be(new string('q', 270));
        Lz4([0x00], 0).Should().Be("");
    }

    public static TheoryData<byte[], int> BadLz4() => new()
    {
        { [0x22, (byte)'a', (byte)'b', 0x00, 0x00, 0x00], 8 }, // offset 0
        { [0x22, (byte)'a', (byte)'b', 0x03, 0x00, 0x00], 8 }, // offset beyond the output so far
        { [0x2F, (byte)'a', (byte)'b', 0x02, 0x00, 0xFF, 0xFF, 0x10, 0x00], 8 }, // match longer than the declared length
        { [0x22, (byte)'a', (byte)'b', 0x02], 8 }, // offset cut short
        { [0x22, (byte)'a', (byte)'b', 0x02, 0x00], 8 }, // no closing literals
        { [0x50, (byte)'a'], 5 }, // literals past the input
        { [0x30, (byte)'a', (byte)'b', (byte)'c'], 2 }, // literals past the declared length
        { [0x30, (byte)'a', (byte)'b', (byte)'c'], 4 }, // ends early
        { [0xF0, 0xFF, 0xFF], 8 }, // length bytes cut short
        { [], 0 },
    };

    [Theory]
    [MemberData(nameof(BadLz4))]
    public void Malformed_lz4_is_invalid_data(byte[] block, int length)
    {
        var act = () => Lz4(block, length);

        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Lz4_length_overflow_is_invalid_data_not_an_overflow()
    {
        var block = new byte[1 + (int.MaxValue / 255) + 2];
        block[0] = 0xF0;
        block.AsSpan(1).Fill(0xFF);

        var act = () => Lz4(block, 16);

        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Hybrid_runs_decode_rle_and_bit_packed_values()
    {
        var values = new int[13];
        // RLE run of 5 threes (bit width 2: one value byte), then one bit-packed group of 8: 0..7 at width 3.
        byte[] data = [0x0A, 0x03, 0x03, 0b10_001_000, 0b1_100_011_0, 0b111_110_10];
        var used = RleBitPackedHybrid.Decode(data, 3, values, 8, "test");

        values.Should().Equal(3, 3, 3, 3, 3, 0, 1, 2, 3, 4, 5, 6, 7);
        used.Should().Be(data.Length);
        var zeroWidth = new int[4];
        RleBitPackedHybrid.Decode([0x08], 0, zeroWidth, 1, "test");
        zeroWidth.Should().Equal(0, 0, 0, 0);
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0x03 }, 1, 2)] // value 3 not below the limit 2
    [InlineData(new byte[] { 0x0A }, 1, 4)] // run value missing
    [InlineData(new byte[] { 0x03, 0xFF }, 3, 8)] // bit-packed group needs 3 bytes
    [InlineData(new byte[] { 0x00, 0x01 }, 1, 4)] // empty RLE run
    [InlineData(new byte[] { }, 1, 4)] // nothing
    public void Bad_hybrid_runs_are_invalid_data(byte[] data, int bitWidth, int limit)
    {
        var act = () => RleBitPackedHybrid.Decode(data, bitWidth, new int[5], limit, "test");

        act.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void A_page_header_skips_unknown_fields_of_every_type()
    {
        byte[] header =
        [
            0x15, 0x00, // 1: type = DATA_PAGE (0)
            0x15, 0x14, // 2: uncompressed = 10
            0x15, 0x0C, // 3: compressed = 6
            0x2C, // 5: data_page_header
            0x15, 0x06, 0x15, 0x00, 0x15, 0x06, 0x15, 0x06, // num_values 3, PLAIN, RLE, RLE
            0x1C, 0x18, 0x02, 0x68, 0x69, 0x00, // 5: statistics { 1: binary "hi" }
            0x00,
            0x49, 0x2C, 0x15, 0x00, 0x00, 0x11, 0x00, // field 9 (unknown): list of 2 structs { 1: i32 0 } { 1: true }
            0x1B, 0x01, 0x55, 0x02, 0x04, // field 10 (unknown): map<i32, i32> { 1: 2 }
            0x17, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F, // field 11 (unknown): double 1.0
            0x16, 0xFE, 0x03, // field 12 (unknown): i64
            0x03, 0x42, 0x09, // field 33 given as a zigzag id (66), i8
            0x00,
        ];

        var input = new ThriftMemoryInput(header);
        var parsed = ParquetPageHeader.Read(input);

        (parsed.Type, parsed.UncompressedSize, parsed.CompressedSize, parsed.NumValues, parsed.Encoding, parsed.DefinitionLevelEncoding)
            .Should().Be((0, 10, 6, 3, 0, 3));
        parsed.HasTypeHeader.Should().BeTrue();
        input.Position.Should().Be(header.Length);

        var cut = () => ParquetPageHeader.Read(new ThriftMemoryInput(header.AsMemory(0, 20)));
        cut.Should().Throw<InvalidDataException>();
        var missing = () => ParquetPageHeader.Read(new ThriftMemoryInput(new byte[] { 0x15, 0x00, 0x00 }));
        missing.Should().Throw<InvalidDataException>().WithMessage("*required field*");
        var deep = () => ParquetPageHeader.Read(new ThriftMemoryInput(Enumerable.Repeat((byte)0x9C, 100).ToArray()));
        deep.Should().Throw<InvalidDataException>().WithMessage("*nested too deeply*");
    }
}
