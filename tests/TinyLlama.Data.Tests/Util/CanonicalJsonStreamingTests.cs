using System.Globalization;
using System.Text.Json.Nodes;
using FluentAssertions;
using TinyLlama.Data.Util;
using Xunit;

namespace TinyLlama.Data.Tests.Util;

/// <summary>The streamed manifest writer gives the bytes of the tree serializer on the same data.</summary>
public sealed class CanonicalJsonStreamingTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(57)]
    public void Streaming_an_array_member_gives_the_bytes_of_the_whole_tree(int items)
    {
        var rng = new Random(items);
        JsonObject Item(int i) => new()
        {
            ["name"] = "train_" + i.ToString("D10", CultureInfo.InvariantCulture) + ".bin",
            ["sha256"] = Convert.ToHexStringLower(BitConverter.GetBytes(rng.NextInt64())),
            ["tokens_by_source"] = new JsonObject { ["b"] = rng.Next(), ["a \"quoted\" ü"] = rng.NextInt64() },
            ["ids"] = new JsonArray(1, 2, 3),
            ["nested"] = new JsonArray(new JsonObject { ["x"] = 1.5 }, new JsonObject()),
            ["pad"] = 0,
        };

        // Keys before and after "shards" in ordinal order, nested objects and arrays of both kinds.
        JsonObject Head() => new()
        {
            ["manifest_version"] = 1,
            ["output"] = new JsonObject { ["shard_count"] = items, ["list"] = new JsonArray() },
            ["sources"] = new JsonObject { ["s"] = new JsonObject { ["files"] = new JsonArray(new JsonObject { ["path"] = "a/b.jsonl" }) } },
            ["tool"] = "tinyllama-data",
            ["zzz"] = new JsonArray("x", null, true),
        };

        var seed = rng.Next();
        rng = new Random(seed);
        var whole = Head();
        whole["shards"] = new JsonArray([.. Enumerable.Range(0, items).Select(i => (JsonNode?)Item(i))]);
        var expected = CanonicalJson.Serialize(whole);

        rng = new Random(seed);
        using var w = new StringWriter(CultureInfo.InvariantCulture);
        CanonicalJson.WriteStreamingArray(w, Head(), "shards", Enumerable.Range(0, items).Select(Item));
        w.ToString().Should().Be(expected);
    }

    [Fact]
    public void A_streamed_key_that_is_already_a_member_is_refused()
    {
        using var w = new StringWriter(CultureInfo.InvariantCulture);
        var act = () => CanonicalJson.WriteStreamingArray(w, new JsonObject { ["shards"] = 1 }, "shards", []);
        act.Should().Throw<ArgumentException>();
    }
}
