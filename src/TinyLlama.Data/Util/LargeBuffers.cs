namespace TinyLlama.Data.Util;

/// <summary>
/// The one policy for huge buffers (a 50 MB document's line, text and ids; a parquet footer full of statistics):
/// such an array lives on the large object heap until a full collection, and the runtime may not run one before
/// the next huge allocation, so peak memory would hold the old and the new at once. Whoever lets go of one calls
/// <see cref="Released"/>; one blocking collection per huge buffer is cheap next to what it held.
/// </summary>
internal static class LargeBuffers
{
    /// <summary>Buffers at least this big are collected as soon as they are let go.</summary>
    public const long Threshold = 16L << 20;

    /// <summary>Call after dropping the last reference to <paramref name="bytes"/> bytes of buffers.</summary>
    public static void Released(long bytes)
    {
        if (bytes >= Threshold)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
        }
    }
}
