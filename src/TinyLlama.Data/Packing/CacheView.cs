using System.IO.MemoryMappedFiles;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Packing;

/// <summary>
/// A token cache's <c>.bin</c> mapped read-only into memory, so a span's tokens are one copy from the page
/// cache into the shard buffer with no system call (a 4 MB shard has about 1,400 spans: one <c>pread</c>
/// each cost more than the copying).
/// </summary>
internal sealed unsafe class CacheView : IDisposable
{
    private readonly string _path;
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _start;
    private readonly long _length;

    public CacheView(string path)
    {
        _path = path;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            _length = stream.Length;
            if (_length == 0)
            {
                return;
            }

            _file = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
            _view = _file.CreateViewAccessor(0, _length, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _start = p + _view.PointerOffset;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Dispose();
            throw new IoFailureException(path, "cannot open the token cache: " + e.Message, e);
        }
    }

    /// <summary>Copies the bytes at <paramref name="offset"/> into <paramref name="destination"/> (all of it).</summary>
    public void CopyTo(Span<byte> destination, long offset)
    {
        if (offset < 0 || offset > _length - destination.Length)
        {
            throw new IoFailureException(_path, "token cache ends early; delete the cache entry to rebuild it");
        }

        new ReadOnlySpan<byte>(_start + offset, destination.Length).CopyTo(destination);
    }

    public void Dispose()
    {
        if (_view is not null && _start is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        }

        _view?.Dispose();
        _file?.Dispose();
    }
}
