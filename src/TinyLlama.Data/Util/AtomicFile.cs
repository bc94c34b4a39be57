using System.Globalization;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Util;

/// <summary>
/// A file written to a temp name beside its destination and renamed over it only on <see cref="Commit"/>.
/// Disposing without Commit deletes the temp file, so a crash or an error never leaves a partial file
/// under the final name (a SIGKILL can leave a <c>*.tmp-*</c> file, which the build removes on resume).
/// </summary>
public sealed class AtomicFile : IDisposable
{
    public const string TempMarker = ".tmp-";
    private readonly FileStream _stream;
    private bool _committed;

    public AtomicFile(string path)
    {
        FinalPath = path;
        TempPath = path + TempMarker + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            _stream = new FileStream(TempPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(TempPath, "cannot create: " + e.Message, e);
        }
    }

    public string FinalPath { get; }

    public string TempPath { get; }

    public Stream Stream => _stream;

    /// <summary>Flushes to disk and renames the temp file to the final path.</summary>
    public void Commit()
    {
        try
        {
            _stream.Flush(flushToDisk: true);
            _stream.Dispose();
            File.Move(TempPath, FinalPath, overwrite: true);
            _committed = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(FinalPath, "cannot write: " + e.Message, e);
        }
    }

    public void Dispose()
    {
        if (_committed)
        {
            return;
        }

        _stream.Dispose();
        try
        {
            File.Delete(TempPath);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp file is removed by the next build's cleanup.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Writes all bytes atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        using var file = new AtomicFile(path);
        try
        {
            file.Stream.Write(bytes);
        }
        catch (IOException e)
        {
            throw new IoFailureException(path, "cannot write: " + e.Message, e);
        }

        file.Commit();
    }

    /// <summary>Deletes temp files left in a folder by a killed run.</summary>
    public static void RemoveStaleTempFiles(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }

        foreach (var f in Directory.EnumerateFiles(directory, "*" + TempMarker + "*", SearchOption.AllDirectories))
        {
            File.Delete(f);
        }
    }
}
