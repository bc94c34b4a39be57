using System.Buffers;
using System.Runtime.InteropServices;

namespace TinyLlama.Data.Util;

/// <summary>
/// A buffer of native memory for unbuffered writes, zeroed unless the owner asks otherwise: it starts on a 2 MiB
/// boundary and its length is a multiple of <see cref="UnbufferedIo.Alignment"/>. On Linux it asks for
/// transparent huge pages (<c>madvise(MADV_HUGEPAGE)</c>) before its memory is first touched. Disposing it frees
/// the memory: the owner disposes it only once nothing uses it any more.
/// </summary>
/// <remarks>
/// Why huge pages: a shard buffer of 4 MiB is 1,024 pages of 4 KiB. Each unbuffered write pins every page of
/// it (the kernel's <c>get_user_pages</c>), and filling and hashing it walk them all. On 2 MiB pages that is 2
/// pages. In interleaved A/Bs the pack step ran about 9 % faster: 0.81 against 0.74 GB/s, median (docs/perf.md).
/// Where the kernel does not give huge pages (<c>transparent_hugepage</c> set to <c>never</c>, another OS),
/// the buffer is an ordinary aligned one; the bytes written are the same either way.
/// </remarks>
internal sealed unsafe partial class AlignedBuffer : MemoryManager<byte>
{
    /// <summary>The start's alignment: a huge page on x86-64 and most arm64 kernels.</summary>
    public const int StartAlignment = 2 << 20;

    private const int HugePageAdvice = 14;

    /// <summary>For tests: a byte that buffers made without zeroing are filled with, so that a byte an owner fails to write shows.</summary>
    internal static volatile int PoisonUnzeroedWith = -1;

    private readonly int _length;
    private byte* _memory;

    /// <param name="length">The bytes needed; the buffer is that rounded up to <see cref="UnbufferedIo.Alignment"/>.</param>
    /// <param name="zeroed">
    /// Whether to clear the memory. An owner that writes every byte before it reads or writes any (the shard
    /// packer: a reused buffer holds the last shard anyway) saves the pass: 0.6 % of the samples of a bench
    /// build process, whose 8-pass pack makes 37 new 4 MiB buffers (6 ABBA quadruples of that pack: 0.976 of
    /// the wall time, 0.982 of the CPU, inside the noise).
    /// </param>
    public AlignedBuffer(int length, bool zeroed = true)
    {
        _length = UnbufferedIo.RoundUp(length);
        _memory = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(_length, UnbufferedIo.Alignment), StartAlignment);
        if (OperatingSystem.IsLinux())
        {
            // Advice only: refused or ignored, the buffer is the same memory on small pages.
            _ = Madvise((nint)_memory, (nuint)_length, HugePageAdvice);
        }

        if (zeroed)
        {
            NativeMemory.Clear(_memory, (nuint)_length);
        }
        else if (PoisonUnzeroedWith >= 0)
        {
            NativeMemory.Fill(_memory, (nuint)_length, (byte)PoisonUnzeroedWith);
        }
    }

    public override Span<byte> GetSpan()
    {
        ObjectDisposedException.ThrowIf(_memory == null, this);
        return new Span<byte>(_memory, _length);
    }

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ObjectDisposedException.ThrowIf(_memory == null, this);
        ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _length);
        return new MemoryHandle(_memory + elementIndex);
    }

    public override void Unpin()
    {
        // Native memory does not move.
    }

    protected override void Dispose(bool disposing)
    {
        if (_memory != null)
        {
            NativeMemory.AlignedFree(_memory);
            _memory = null;
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);
}
