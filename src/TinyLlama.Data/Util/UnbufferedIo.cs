using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace TinyLlama.Data.Util;

/// <summary>
/// Writes that bypass the page cache (Linux <c>O_DIRECT</c>), for big files written once and not read back
/// soon: the shards. The buffer's address, the length written and the file offset must be multiples of
/// <see cref="Alignment"/>; an <see cref="AlignedBuffer"/> is such a buffer.
/// </summary>
internal static partial class UnbufferedIo
{
    /// <summary>Alignment of buffers, lengths and offsets for unbuffered writes (a page: enough for any Linux file system).</summary>
    public const int Alignment = 4096;

    private const int GetFlags = 3;
    private const int SetFlags = 4;

    private static readonly AsyncLocal<bool> Off = new();

    /// <summary>
    /// Tests only: whether writes of the current async flow (and the threads it starts) are tried unbuffered;
    /// turned off to check that the ordinary path gives the same bytes.
    /// </summary>
    internal static bool Enabled
    {
        get => !Off.Value;
        set => Off.Value = !value;
    }

    /// <summary>Linux's O_DIRECT, which differs between architectures; 0 where it is not known.</summary>
    private static int DirectFlag => !OperatingSystem.IsLinux() ? 0 : RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };

    public static int RoundUp(int length) => checked((length + Alignment - 1) & ~(Alignment - 1));

    /// <summary>
    /// Writes <paramref name="buffer"/> (aligned, <paramref name="length"/> rounded up) at offset 0 past the page
    /// cache and cuts the file to <paramref name="length"/>; false, with nothing to rely on in the file, when
    /// the file system or the OS does not take unbuffered writes.
    /// </summary>
    public static bool TryWrite(SafeFileHandle handle, ReadOnlySpan<byte> buffer, int length)
    {
        var direct = DirectFlag;
        if (!Enabled || direct == 0 || buffer.Length % Alignment != 0)
        {
            return false;
        }

        var fd = (int)handle.DangerousGetHandle();
        var flags = Fcntl(fd, GetFlags, 0);
        if (flags < 0 || Fcntl(fd, SetFlags, flags | direct) < 0)
        {
            return false;
        }

        try
        {
            RandomAccess.Write(handle, buffer, 0);
        }
        catch (IOException)
        {
            // EINVAL from a file system that accepted the flag but not the write; a real error (disk full)
            // comes back from the ordinary write the caller makes next.
            _ = Fcntl(fd, SetFlags, flags);
            RandomAccess.SetLength(handle, 0);
            return false;
        }

        RandomAccess.SetLength(handle, length);
        return true;
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);
}
