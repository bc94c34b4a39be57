using Microsoft.Win32.SafeHandles;

namespace TinyLlama.Data.Util;

/// <summary>Positional reads and temp files the way this project needs them; callers turn failures into their own located errors.</summary>
internal static class FileIo
{
    /// <summary>
    /// Fills <paramref name="destination"/> from <paramref name="offset"/> on (<c>pread</c> until it is full); false when
    /// the file ends first, with an unknown part of the destination written.
    /// </summary>
    public static bool TryReadExactly(SafeFileHandle handle, Span<byte> destination, long offset)
    {
        var done = 0;
        while (done < destination.Length)
        {
            var n = RandomAccess.Read(handle, destination[done..], offset + done);
            if (n == 0)
            {
                return false;
            }

            done += n;
        }

        return true;
    }

    /// <summary>
    /// A new file at <paramref name="path"/> for reading and writing that nobody else can open and that is gone when
    /// the handle closes: on Unix its name is removed at once, so even a killed process leaves nothing behind
    /// (elsewhere it is deleted on close). Throws <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/>.
    /// </summary>
    public static SafeFileHandle CreateUnlinked(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
        if (!OperatingSystem.IsWindows())
        {
            try
            {
                File.Delete(path);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        return handle;
    }
}
