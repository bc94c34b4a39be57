using Microsoft.Win32.SafeHandles;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Packing;

/// <summary>
/// A token cache's <c>.bin</c> open for reading: one <c>pread</c> per span, straight into the shard buffer.
/// </summary>
/// <remarks>
/// A read-only memory map was measured too: 0.45–0.58 CPU-seconds per GB of shards to gather the spans
/// against 0.79–0.84 with <c>pread</c> (1,400 spans per 4 MB shard; the map's page faults are amortised by the
/// kernel's fault-around). It is not used because every page a writer touched then counts in the process's
/// RSS until the map is closed: on the bench build the peak RSS went from 208 to 293 MiB at 1 thread and
/// from 237 to 446 MiB at 2, and it grows with the caches read, where the memory target is a peak independent
/// of the input size. Windows of maps within a budget were tried since: system time fell, user time rose by as
/// much (the copy is bound by memory either way), so <c>pread</c> stays; see docs/perf.md.
/// </remarks>
internal sealed class CacheView : IDisposable
{
    private readonly string _path;
    private readonly SafeFileHandle _handle;

    public CacheView(string path)
    {
        _path = path;
        try
        {
            _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IoFailureException(path, "cannot open the token cache: " + e.Message, e);
        }
    }

    /// <summary>Copies the bytes at <paramref name="offset"/> into <paramref name="destination"/> (all of it).</summary>
    public void CopyTo(Span<byte> destination, long offset)
    {
        if (!Util.FileIo.TryReadExactly(_handle, destination, offset))
        {
            throw new IoFailureException(_path, "token cache ends early; delete the cache entry to rebuild it");
        }
    }

    public void Dispose() => _handle.Dispose();
}
