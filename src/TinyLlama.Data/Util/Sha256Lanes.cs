using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TinyLlama.Data.Util;

/// <summary>
/// SHA-256 (FIPS 180-4) of a stream of messages, 16 at a time, one message per 32-bit lane of the AVX-512
/// registers. A message takes a free lane whenever one is free and leaves it when its digest is done, so
/// messages need not arrive together nor have the same length. The digests are the standard ones, byte for
/// byte; only the speed differs. One thread uses an instance.
/// </summary>
/// <remarks>
/// <para>
/// Why: the packer hashes every shard it writes, and one SHA-256 stream runs at about 1.1–1.2 GB/s per core even
/// with the CPU's SHA extensions (OpenSSL; <c>openssl speed -evp sha256</c> on the bench machine). That was
/// 40 % of the pack's CPU. With the rounds of 16 messages in one set of instructions (AVX-512's rotate,
/// <c>vprord</c>, and 3-input logic, <c>vpternlogd</c>: 17 vector instructions a round for 16 lanes), one core
/// hashes about 1.8 GB/s when every lane is busy, against OpenSSL's 1.1–1.2 (docs/perf.md). A lane without a
/// message still costs its share, so the packer keeps the lanes fed.
/// </para>
/// <para>
/// Each 64-byte block of the 16 lanes is loaded as 16 rows of 16 words and transposed in registers (4
/// butterfly stages of <c>vpermt2d</c>), so that register t holds word t of every lane. A message's last
/// <c>length % 64</c> bytes and its padding go through the same rounds from a small buffer of the lane's own.
/// Callers check <see cref="IsSupported"/> and use <see cref="System.Security.Cryptography.SHA256"/> otherwise.
/// </para>
/// </remarks>
internal sealed unsafe class Sha256Lanes : IDisposable
{
    public const int Lanes = 16;

    /// <summary>The round constants (FIPS 180-4, 4.2.2).</summary>
    private static readonly uint[] K =
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    /// <summary>The initial hash value (FIPS 180-4, 5.3.3).</summary>
    private static readonly uint[] Initial = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

    // Native, 64-byte aligned: the state (8 vectors), the message schedule (16), the lanes' row pointers and
    // steps, their tail blocks (128 bytes each) and an idle lane's block of zeros.
    private readonly byte* _memory;
    private readonly Vector512<uint>* _state;
    private readonly Vector512<uint>* _w;
    private readonly byte** _rows;
    private readonly long* _steps;
    private readonly byte* _tails;
    private readonly byte* _idle;
    private readonly Lane?[] _lanes = new Lane?[Lanes];
    private bool _disposed;

    public Sha256Lanes()
    {
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException("Sha256Lanes needs AVX-512 F and BW; use SHA256.HashData");
        }

        const int size = (8 * 64) + (16 * 64) + (Lanes * 8) + (Lanes * 8) + (Lanes * 128) + 64;
        _memory = (byte*)NativeMemory.AlignedAlloc(size, 64);
        NativeMemory.Clear(_memory, size);
        _state = (Vector512<uint>*)_memory;
        _w = _state + 8;
        _rows = (byte**)(_w + 16);
        _steps = (long*)(_rows + Lanes);
        _tails = (byte*)(_steps + Lanes);
        _idle = _tails + (Lanes * 128);
        for (var i = 0; i < Lanes; i++)
        {
            _rows[i] = _idle;
        }

    }

    /// <summary>Whether this machine runs it: AVX-512 F and BW in hardware.</summary>
    public static bool IsSupported => Avx512F.IsSupported && Avx512BW.IsSupported;

    /// <summary>Lanes with a message in them.</summary>
    public int Busy { get; private set; }

    /// <summary>
    /// Puts a message into a free lane (there must be one: <see cref="Busy"/> &lt; <see cref="Lanes"/>). Its
    /// <paramref name="length"/> bytes at <paramref name="message"/> must stay there, unchanged, until its digest
    /// comes out of <see cref="Run"/> with <paramref name="token"/>.
    /// </summary>
    public void Start(byte* message, long length, object token)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var i = Array.IndexOf(_lanes, null);
        if (i < 0)
        {
            throw new InvalidOperationException("every lane is busy");
        }

        // The padding: the last length % 64 bytes, 0x80, zeros, then the length in bits, big-endian; one or two blocks.
        var full = length / 64;
        var rest = (int)(length % 64);
        var tailBlocks = rest + 9 <= 64 ? 1 : 2;
        var tail = new Span<byte>(_tails + (i * 128), 128);
        tail.Clear();
        new ReadOnlySpan<byte>(message + (full * 64), rest).CopyTo(tail);
        tail[rest] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(tail[((tailBlocks * 64) - 8)..], (ulong)length * 8);

        // An idle lane has been hashing the idle block: its state starts over.
        var mask = Vector512.Equals(Vector512<uint>.Indices, Vector512.Create((uint)i));
        for (var j = 0; j < 8; j++)
        {
            _state[j] = Vector512.ConditionalSelect(mask, Vector512.Create(Initial[j]), _state[j]);
        }

        _lanes[i] = full > 0 ? new Lane(token, full, tailBlocks) : new Lane(token, tailBlocks, 0);
        _rows[i] = full > 0 ? message : _tails + (i * 128);
        _steps[i] = 64;
        Busy++;
    }

    /// <summary>
    /// Hashes up to <paramref name="maxBlocks"/> blocks in every lane (fewer when a lane's message, or its tail,
    /// ends sooner), and adds the messages whose digests are done to <paramref name="done"/>, with their tokens.
    /// </summary>
    public void Run(int maxBlocks, List<(object Token, byte[] Digest)> done)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(done);
        if (Busy == 0)
        {
            return;
        }

        long n = maxBlocks;
        foreach (var lane in _lanes)
        {
            if (lane is not null)
            {
                n = Math.Min(n, lane.Left);
            }
        }

        for (long b = 0; b < n; b++)
        {
            LoadBlock(_rows, _w);
            Compress(_state, _w);
            for (var i = 0; i < Lanes; i++)
            {
                _rows[i] += _steps[i];
            }
        }

        for (var i = 0; i < Lanes; i++)
        {
            if (_lanes[i] is not { } lane)
            {
                continue;
            }

            lane.Left -= n;
            if (lane.Left > 0)
            {
                continue;
            }

            if (lane.TailBlocks > 0)
            {
                // The message's full blocks are done: its tail from the lane's own buffer.
                lane.Left = lane.TailBlocks;
                lane.TailBlocks = 0;
                _rows[i] = _tails + (i * 128);
                continue;
            }

            var digest = new byte[32];
            for (var j = 0; j < 8; j++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(digest.AsSpan(j * 4), _state[j].GetElement(i));
            }

            done.Add((lane.Token, digest));
            Free(i);
        }
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            NativeMemory.AlignedFree(_memory);
        }
    }

    /// <summary>Lane i back to idle: it reads the idle block (its state is garbage until a message starts in it).</summary>
    private void Free(int i)
    {
        _lanes[i] = null;
        _rows[i] = _idle;
        _steps[i] = 0;
        Busy--;
    }

    /// <summary>
    /// A lane's message: blocks left in what it reads now (the message's full blocks, then its tail), and the tail
    /// blocks still to come after them (0 once it reads its tail).
    /// </summary>
    private sealed class Lane(object token, long left, int tailBlocks)
    {
        public object Token { get; } = token;

        public long Left { get; set; } = left;

        public int TailBlocks { get; set; } = tailBlocks;
    }

    /// <summary>The block at each lane's row pointer, transposed and byte-swapped: w[t] holds word t of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadBlock(byte** rows, Vector512<uint>* w)
    {
        for (var i = 0; i < Lanes; i++)
        {
            w[i] = Vector512.Load((uint*)rows[i]);
        }

        // At stage k (8, 4, 2, 1), rows r and r + k (r without bit k) swap the k-wide off-diagonal blocks of their
        // 2k-wide column groups; after the four stages the 16 × 16 words are transposed.
        Stage(w, 8, Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), Vector512.Create(8u, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
        Stage(w, 4, Vector512.Create(0u, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27), Vector512.Create(4u, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31));
        Stage(w, 2, Vector512.Create(0u, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29), Vector512.Create(2u, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31));
        Stage(w, 1, Vector512.Create(0u, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30), Vector512.Create(1u, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31));
        var bigEndian = Vector512.Create(
            (byte)3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
        for (var t = 0; t < 16; t++)
        {
            w[t] = Avx512BW.Shuffle(w[t].AsByte(), bigEndian).AsUInt32();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stage(Vector512<uint>* m, int k, Vector512<uint> low, Vector512<uint> high)
    {
        for (var r = 0; r < 16; r++)
        {
            if ((r & k) == 0)
            {
                var a = m[r];
                var b = m[r + k];
                m[r] = Avx512F.PermuteVar16x32x2(a, low, b);
                m[r + k] = Avx512F.PermuteVar16x32x2(a, high, b);
            }
        }
    }

    /// <summary>The 64 rounds over one block of every lane, added into the state.</summary>
    /// <remarks>
    /// Sixteen rounds a step, with the names rotated instead of the values moved: every index into the message
    /// schedule is a constant. Computed indices cost scalar instructions on the ports the vector ones need.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Compress(Vector512<uint>* state, Vector512<uint>* w)
    {
        var a = state[0];
        var b = state[1];
        var c = state[2];
        var d = state[3];
        var e = state[4];
        var f = state[5];
        var g = state[6];
        var h = state[7];
        fixed (uint* k = K)
        {
            for (var t = 0; t < 64; t += 16)
            {
                if (t > 0)
                {
                    Schedule(w, 0, 1, 14, 9);
                    Schedule(w, 1, 2, 15, 10);
                    Schedule(w, 2, 3, 0, 11);
                    Schedule(w, 3, 4, 1, 12);
                    Schedule(w, 4, 5, 2, 13);
                    Schedule(w, 5, 6, 3, 14);
                    Schedule(w, 6, 7, 4, 15);
                    Schedule(w, 7, 8, 5, 0);
                    Schedule(w, 8, 9, 6, 1);
                    Schedule(w, 9, 10, 7, 2);
                    Schedule(w, 10, 11, 8, 3);
                    Schedule(w, 11, 12, 9, 4);
                    Schedule(w, 12, 13, 10, 5);
                    Schedule(w, 13, 14, 11, 6);
                    Schedule(w, 14, 15, 12, 7);
                    Schedule(w, 15, 0, 13, 8);
                }

                Round(a, b, c, ref d, e, f, g, ref h, k[t + 0], w[0]);
                Round(h, a, b, ref c, d, e, f, ref g, k[t + 1], w[1]);
                Round(g, h, a, ref b, c, d, e, ref f, k[t + 2], w[2]);
                Round(f, g, h, ref a, b, c, d, ref e, k[t + 3], w[3]);
                Round(e, f, g, ref h, a, b, c, ref d, k[t + 4], w[4]);
                Round(d, e, f, ref g, h, a, b, ref c, k[t + 5], w[5]);
                Round(c, d, e, ref f, g, h, a, ref b, k[t + 6], w[6]);
                Round(b, c, d, ref e, f, g, h, ref a, k[t + 7], w[7]);
                Round(a, b, c, ref d, e, f, g, ref h, k[t + 8], w[8]);
                Round(h, a, b, ref c, d, e, f, ref g, k[t + 9], w[9]);
                Round(g, h, a, ref b, c, d, e, ref f, k[t + 10], w[10]);
                Round(f, g, h, ref a, b, c, d, ref e, k[t + 11], w[11]);
                Round(e, f, g, ref h, a, b, c, ref d, k[t + 12], w[12]);
                Round(d, e, f, ref g, h, a, b, ref c, k[t + 13], w[13]);
                Round(c, d, e, ref f, g, h, a, ref b, k[t + 14], w[14]);
                Round(b, c, d, ref e, f, g, h, ref a, k[t + 15], w[15]);
            }
        }

        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        state[5] += f;
        state[6] += g;
        state[7] += h;
    }

    /// <summary>w[t] = σ1(w[t−2]) + w[t−7] + σ0(w[t−15]) + w[t−16], in the ring of 16 words (the indices mod 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Schedule(Vector512<uint>* w, int t, int t15, int t2, int t7)
    {
        var w15 = w[t15];
        var w2 = w[t2];
        var s0 = Avx512F.TernaryLogic(Avx512F.RotateRight(w15, 7), Avx512F.RotateRight(w15, 18), Avx512F.ShiftRightLogical(w15, 3), 0x96);
        var s1 = Avx512F.TernaryLogic(Avx512F.RotateRight(w2, 17), Avx512F.RotateRight(w2, 19), Avx512F.ShiftRightLogical(w2, 10), 0x96);
        w[t] += s0 + w[t7] + s1;
    }

    /// <summary>
    /// One round: d += T1 and h = T1 + Σ0(a) + Maj(a, b, c), where T1 = h + Σ1(e) + Ch(e, f, g) + k + w (the caller
    /// rotates the names). 0x96 is a three-way xor, 0xCA "e ? f : g", 0xE8 the majority.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(
        Vector512<uint> a, Vector512<uint> b, Vector512<uint> c, ref Vector512<uint> d,
        Vector512<uint> e, Vector512<uint> f, Vector512<uint> g, ref Vector512<uint> h, uint k, Vector512<uint> wt)
    {
        var hkw = h + Vector512.Create(k) + wt;
        var sigma1 = Avx512F.TernaryLogic(Avx512F.RotateRight(e, 6), Avx512F.RotateRight(e, 11), Avx512F.RotateRight(e, 25), 0x96);
        var ch = Avx512F.TernaryLogic(e, f, g, 0xCA);
        var t1 = hkw + (sigma1 + ch);
        var sigma0 = Avx512F.TernaryLogic(Avx512F.RotateRight(a, 2), Avx512F.RotateRight(a, 13), Avx512F.RotateRight(a, 22), 0x96);
        var maj = Avx512F.TernaryLogic(a, b, c, 0xE8);
        d += t1;
        h = t1 + (sigma0 + maj);
    }
}
