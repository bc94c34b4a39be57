using FluentAssertions;
using TinyLlama.Data.Packing;
using Xunit;

namespace TinyLlama.Data.Tests.Packing;

public sealed class ShardListTests
{
    [Fact]
    public void Shards_added_in_any_order_from_several_threads_read_back_in_index_order_unchanged()
    {
        string[] sources = ["slimpajama", "starcoder", "a \"b\""];
        var rng = new Random(5);
        var expected = Enumerable.Range(0, 2000).Select(i => new ShardInfo(
            "train_" + i.ToString("D10", System.Globalization.CultureInfo.InvariantCulture) + ".bin",
            Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().Concat(Guid.NewGuid().ToByteArray()).ToArray()),
            new SortedDictionary<string, long>(sources.ToDictionary(s => s, _ => rng.NextInt64(0, 1L << 40)), StringComparer.Ordinal),
            rng.Next(), rng.Next(), rng.Next())).ToList();
        var list = new ShardList(sources, i => "train_" + i.ToString("D10", System.Globalization.CultureInfo.InvariantCulture) + ".bin");
        var order = Enumerable.Range(0, expected.Count).OrderBy(_ => rng.Next()).ToArray();
        Parallel.ForEach(order, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => list.Add(i, expected[i]));

        list.Should().HaveCount(expected.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var actual = list[i];
            actual.Name.Should().Be(expected[i].Name);
            actual.Sha256.Should().Be(expected[i].Sha256);
            actual.TokensBySource.Should().Equal(expected[i].TokensBySource);
            (actual.Bos, actual.Eos, actual.Pad).Should().Be((expected[i].Bos, expected[i].Eos, expected[i].Pad));
        }
    }
}
