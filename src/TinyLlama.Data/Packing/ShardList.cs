using System.Collections;
using System.Runtime.InteropServices;

namespace TinyLlama.Data.Packing;

/// <summary>
/// The shards a pack wrote or kept, in index order, stored compactly (the sha256 as 32 bytes, counts as
/// numbers: about 100 bytes a shard against about 400 as <see cref="ShardInfo"/> records with strings and
/// dictionaries; 954,000 shards, TinyLlama's 2T tokens, take under 100 MB). Each <see cref="ShardInfo"/> is
/// made when it is read. Adding is thread-safe; reading starts once adding is over.
/// </summary>
internal sealed class ShardList(IReadOnlyList<string> sourceNames, Func<long, string> nameOf) : IReadOnlyList<ShardInfo>
{
    private readonly List<Entry> _entries = [];
    private bool _sorted = true;

    public int Count => _entries.Count;

    public ShardInfo this[int index]
    {
        get
        {
            EnsureSorted();
            var e = _entries[index];
            var bySource = new SortedDictionary<string, long>(StringComparer.Ordinal);
            for (var i = 0; i < sourceNames.Count; i++)
            {
                bySource[sourceNames[i]] = e.TokensBySource[i];
            }

            Span<byte> sha = stackalloc byte[32];
            var (low, high) = (e.ShaLow, e.ShaHigh);
            MemoryMarshal.Write(sha, in low);
            MemoryMarshal.Write(sha[16..], in high);
            return new ShardInfo(nameOf(e.Index), Convert.ToHexStringLower(sha), bySource, e.Bos, e.Eos, e.Pad);
        }
    }

    public void Add(long index, ShardInfo shard)
    {
        ArgumentNullException.ThrowIfNull(shard);
        var tokens = new long[sourceNames.Count];
        for (var i = 0; i < tokens.Length; i++)
        {
            tokens[i] = shard.TokensBySource[sourceNames[i]];
        }

        var sha = Convert.FromHexString(shard.Sha256);
        if (sha.Length != 32)
        {
            throw new ArgumentException("a shard's sha256 is 32 bytes", nameof(shard));
        }

        var entry = new Entry(index, MemoryMarshal.Read<UInt128>(sha), MemoryMarshal.Read<UInt128>(sha.AsSpan(16)), shard.Bos, shard.Eos, shard.Pad, tokens);
        lock (_entries)
        {
            _sorted &= _entries.Count == 0 || _entries[^1].Index < index;
            _entries.Add(entry);
        }
    }

    public IEnumerator<ShardInfo> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private void EnsureSorted()
    {
        lock (_entries)
        {
            if (!_sorted)
            {
                _entries.Sort((a, b) => a.Index.CompareTo(b.Index));
                _sorted = true;
            }
        }
    }

    private readonly record struct Entry(long Index, UInt128 ShaLow, UInt128 ShaHigh, long Bos, long Eos, long Pad, long[] TokensBySource);
}
