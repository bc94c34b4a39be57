using System.Buffers;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Readers;

/// <summary>
/// A growable byte buffer: pooled up to <see cref="PoolLimit"/>, plain (GC-owned, uninitialized) arrays above it so
/// that a 50 MB line does not stay cached in the shared pool after it is gone. <see cref="ShrinkTo"/> hands a big
/// array back once it is no longer needed.
/// </summary>
internal sealed class ByteBuffer : IDisposable
{
    public const int PoolLimit = 1 << 20;

    private byte[] _array;

    public ByteBuffer(int initialSize) => _array = Rent(initialSize);

    public byte[] Array => _array;

    public int Capacity => _array.Length;

    /// <summary>Grows to at least <paramref name="size"/> bytes, keeping the first <paramref name="keep"/> bytes.</summary>
    public void EnsureCapacity(int size, int keep)
    {
        if (size <= _array.Length)
        {
            return;
        }

        var newSize = (int)Math.Min(Math.Max((long)_array.Length * 2, size), System.Array.MaxLength);
        if (newSize < size)
        {
            throw new InsufficientMemoryException("a record is larger than the largest array .NET can allocate");
        }

        var next = Rent(newSize);
        _array.AsSpan(0, keep).CopyTo(next);
        Return(_array);
        _array = next;
    }

    /// <summary>
    /// Makes room for <paramref name="size"/> bytes, discarding the contents; grows by at most an eighth beyond the
    /// request (not doubling), for buffers sized by one large block at a time such as a parquet page.
    /// </summary>
    public void Reserve(int size)
    {
        if (size <= _array.Length)
        {
            return;
        }

        var newSize = (int)Math.Min(Math.Max(size, _array.Length + ((long)_array.Length / 8)), System.Array.MaxLength);
        var dropped = _array.Length;
        Return(_array);
        _array = [];
        LargeBuffers.Released(dropped); // else the old block is still resident when the new one is allocated

        _array = Rent(newSize);
    }

    /// <summary>Replaces a buffer bigger than <paramref name="size"/> by one of that size, keeping <paramref name="keep"/> bytes.</summary>
    public void ShrinkTo(int size, int keep)
    {
        if (_array.Length <= size || keep > size)
        {
            return;
        }

        var next = Rent(size);
        _array.AsSpan(0, keep).CopyTo(next);
        var dropped = _array.Length;
        Return(_array);
        _array = next;
        LargeBuffers.Released(dropped);
    }


    public void Dispose()
    {
        Return(_array);
        _array = [];
    }

    private static byte[] Rent(int size) =>
        size <= PoolLimit ? ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);

    private static void Return(byte[] array)
    {
        if (array.Length is > 0 and <= PoolLimit)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
