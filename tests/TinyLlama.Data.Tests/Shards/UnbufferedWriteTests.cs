using TinyLlama.Data.Errors;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Tests.Shards;

/// <summary>Shards are written past the page cache where the file system allows it; the file must be the same bytes either way.</summary>
public sealed class UnbufferedWriteTests
{
    [Theory]
    [InlineData(0, true)]
    [InlineData(1, true)]
    [InlineData(4096, true)]
    [InlineData(8220, true)] // a LITPKDS shard of 4,098 uint16 tokens: 24 + 8,196 bytes
    [InlineData(4_196_376, true)] // the default chunk: 24 + 2 × 2,049 × 1,024 bytes
    [InlineData(8220, false)]
    [InlineData(4_196_376, false)]
    public void The_file_holds_exactly_the_first_length_bytes_and_no_temp_file_is_left(int length, bool unbuffered)
    {
        using var dir = new TempDir();
        using var owner = new AlignedBuffer(length);
        var buffer = owner.Memory;
        buffer.Length.Should().Be((length + 4095) / 4096 * 4096);
        buffer.Span.IndexOfAnyExcept((byte)0).Should().Be(-1); // zeroed
        new Random(length).NextBytes(buffer.Span);
        var path = dir.Combine("sub", "shard.bin");
        Directory.CreateDirectory(dir.Combine("sub"));
        File.WriteAllBytes(path, new byte[5 * 4096]); // an older, longer file: replaced
        UnbufferedIo.Enabled = unbuffered;
        try
        {
            AtomicFile.WriteAllBytesUnbuffered(path, buffer.Span, length);
        }
        finally
        {
            UnbufferedIo.Enabled = true;
        }

        File.ReadAllBytes(path).Should().Equal(buffer.Span[..length].ToArray());
        Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories).Should().Equal(path);
    }

    [Fact]
    public void The_aligned_buffer_starts_on_a_huge_page_boundary_and_is_refused_once_freed()
    {
        for (var i = 0; i < 8; i++)
        {
            var owner = new AlignedBuffer(100 + i);
            unsafe
            {
                fixed (byte* p = owner.Memory.Span)
                {
                    ((long)p % AlignedBuffer.StartAlignment).Should().Be(0);
                }
            }

            ((IDisposable)owner).Dispose();
            var use = () => { _ = owner.GetSpan(); };
            use.Should().Throw<ObjectDisposedException>();
        }
    }

    [Fact]
    public void A_buffer_of_the_wrong_size_is_refused_and_a_failed_write_leaves_nothing()
    {
        using var dir = new TempDir();
        var act = () => AtomicFile.WriteAllBytesUnbuffered(dir.Combine("a.bin"), new byte[100], 100);
        act.Should().Throw<ArgumentException>();

        AtomicFile.FaultInjector = (_, written) => written > 0 ? new IOException("No space left on device") : null;
        try
        {
            using var owner = new AlignedBuffer(5000);
            var full = () => AtomicFile.WriteAllBytesUnbuffered(dir.Combine("b.bin"), owner.Memory.Span, 5000);
            full.Should().Throw<IoFailureException>().Which.Message.Should().Contain("No space left on device").And.Contain("b.bin");
        }
        finally
        {
            AtomicFile.FaultInjector = null;
        }

        Directory.GetFiles(dir.Path).Should().BeEmpty();
    }
}
