using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Tests.Util;

public sealed unsafe class Sha256LanesTests
{
    [Fact]
    public void Messages_of_every_padding_shape_joining_at_any_time_get_the_standard_digests()
    {
        if (!Sha256Lanes.IsSupported)
        {
            return; // no AVX-512 here: the packer hashes with SHA256.HashData, which this test uses as its oracle
        }

        // Lengths around every padding edge (55/56 bytes left: one or two tail blocks; 0 full blocks) and long
        // ones, started while other lanes are mid-message, more messages than lanes, lanes freed and reused.
        var random = new Random(11);
        int[] lengths = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 4096, 70_001, 262_144 + 37];
        var messages = Enumerable.Range(0, 61).Select(k =>
        {
            var m = new byte[lengths[random.Next(lengths.Length)] + (k % 3 == 0 ? random.Next(200) : 0)];
            random.NextBytes(m);
            return m;
        }).ToList();

        var handles = messages.Select(m => GCHandle.Alloc(m, GCHandleType.Pinned)).ToList();
        try
        {
            using var lanes = new Sha256Lanes();
            var done = new List<(object Token, byte[] Digest)>();
            var next = 0;
            while (done.Count < messages.Count)
            {
                // Start one or a few at a time, between runs of varying length: lanes at every phase at once.
                var starts = random.Next(1, 4);
                while (starts-- > 0 && next < messages.Count && lanes.Busy < Sha256Lanes.Lanes)
                {
                    lanes.Start((byte*)handles[next].AddrOfPinnedObject(), messages[next].Length, next);
                    next++;
                }

                lanes.Run(random.Next(1, 300), done);
            }

            done.Select(d => (int)d.Token).Should().BeEquivalentTo(Enumerable.Range(0, messages.Count));
            foreach (var (token, digest) in done)
            {
                digest.Should().Equal(SHA256.HashData(messages[(int)token]), $"message {token} of {messages[(int)token].Length} bytes");
            }

            lanes.Busy.Should().Be(0);
        }
        finally
        {
            handles.ForEach(h => h.Free());
        }
    }

    [Fact]
    public void A_seventeenth_message_is_refused_while_sixteen_are_in()
    {
        if (!Sha256Lanes.IsSupported)
        {
            return;
        }

        using var lanes = new Sha256Lanes();
        var block = new byte[64];
        fixed (byte* p = block)
        {
            for (var i = 0; i < Sha256Lanes.Lanes; i++)
            {
                lanes.Start(p, block.Length, i);
            }

            var refused = false;
            try
            {
                lanes.Start(p, block.Length, 16);
            }
            catch (InvalidOperationException)
            {
                refused = true;
            }

            refused.Should().BeTrue();
            lanes.Busy.Should().Be(Sha256Lanes.Lanes);
        }
    }
}
