using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace TinyLlama.Data.Readers;

/// <summary>What <see cref="JsonStringDecoder.Decode"/> found while decoding.</summary>
internal readonly record struct DecodeResult(int Length, int InvalidUtf8, int LoneSurrogates)
{
    public int Replaced => InvalidUtf8 + LoneSurrogates;
}

/// <summary>
/// Unescapes the raw bytes of a JSON string (between the quotes, as <see cref="System.Text.Json.Utf8JsonReader"/>
/// validated them) into UTF-8. Unlike System.Text.Json it never throws on bad text: every maximal invalid UTF-8
/// subsequence and every lone surrogate escape becomes U+FFFD and is counted, so the caller applies the policy.
/// </summary>
internal static class JsonStringDecoder
{
    private static ReadOnlySpan<byte> Replacement => [0xEF, 0xBF, 0xBD];

    /// <summary>True when the raw string can be used as it is: no escapes and valid UTF-8.</summary>
    public static bool IsVerbatim(ReadOnlySpan<byte> raw, bool escaped) => !escaped && Utf8.IsValid(raw);

    public static DecodeResult Decode(ReadOnlySpan<byte> raw, ByteBuffer output)
    {
        // Unescaping never grows valid text; replacements (3 bytes for 1 bad byte) may, so grow on demand.
        output.EnsureCapacity(Math.Max(raw.Length, 16), 0);
        var length = 0;
        var invalid = 0;
        var lone = 0;
        var i = 0;
        while (i < raw.Length)
        {
            var backslash = raw[i..].IndexOf((byte)'\\');
            var segmentEnd = backslash < 0 ? raw.Length : i + backslash;
            AppendValidated(raw[i..segmentEnd], output, ref length, ref invalid);
            if (backslash < 0)
            {
                break;
            }

            i = segmentEnd + 1;
            var c = raw[i++];
            switch (c)
            {
                case (byte)'"' or (byte)'\\' or (byte)'/':
                    AppendByte(c, output, ref length);
                    break;
                case (byte)'b':
                    AppendByte(0x08, output, ref length);
                    break;
                case (byte)'f':
                    AppendByte(0x0C, output, ref length);
                    break;
                case (byte)'n':
                    AppendByte(0x0A, output, ref length);
                    break;
                case (byte)'r':
                    AppendByte(0x0D, output, ref length);
                    break;
                case (byte)'t':
                    AppendByte(0x09, output, ref length);
                    break;
                case (byte)'u':
                    var unit = Hex4(raw.Slice(i, 4));
                    i += 4;
                    if (char.IsHighSurrogate((char)unit) && i + 6 <= raw.Length && raw[i] == '\\' && raw[i + 1] == 'u'
                        && char.IsLowSurrogate((char)Hex4(raw.Slice(i + 2, 4))))
                    {
                        var low = Hex4(raw.Slice(i + 2, 4));
                        i += 6;
                        AppendScalar(char.ConvertToUtf32((char)unit, (char)low), output, ref length);
                    }
                    else if (char.IsSurrogate((char)unit))
                    {
                        Append(Replacement, output, ref length);
                        lone++;
                    }
                    else
                    {
                        AppendScalar(unit, output, ref length);
                    }

                    break;
                default:
                    // Utf8JsonReader rejects any other escape before we get here.
                    throw new InvalidOperationException("unexpected JSON escape");
            }
        }

        return new DecodeResult(length, invalid, lone);
    }

    /// <summary>
    /// Copies raw text (no escapes: a parquet string) into <paramref name="output"/>, each maximal invalid UTF-8
    /// subsequence replaced by U+FFFD and counted.
    /// </summary>
    public static DecodeResult ReplaceInvalidUtf8(ReadOnlySpan<byte> raw, ByteBuffer output)
    {
        output.EnsureCapacity(Math.Max(raw.Length, 16), 0);
        var length = 0;
        var invalid = 0;
        AppendValidated(raw, output, ref length, ref invalid);
        return new DecodeResult(length, invalid, 0);
    }

    private static void AppendValidated(ReadOnlySpan<byte> chunk, ByteBuffer output, ref int length, ref int invalid)
    {
        if (Utf8.IsValid(chunk))
        {
            Append(chunk, output, ref length);
            return;
        }

        while (!chunk.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(chunk, out _, out var consumed);
            if (status == OperationStatus.Done)
            {
                Append(chunk[..consumed], output, ref length);
            }
            else
            {
                Append(Replacement, output, ref length);
                invalid++;
            }

            chunk = chunk[consumed..];
        }
    }

    private static int Hex4(ReadOnlySpan<byte> hex)
    {
        var value = 0;
        foreach (var h in hex)
        {
            value = (value << 4) | (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }

        return value;
    }

    private static void AppendScalar(int scalar, ByteBuffer output, ref int length)
    {
        Span<byte> utf8 = stackalloc byte[4];
        var n = new Rune(scalar).EncodeToUtf8(utf8);
        Append(utf8[..n], output, ref length);
    }

    private static void AppendByte(byte b, ByteBuffer output, ref int length)
    {
        output.EnsureCapacity(length + 1, length);
        output.Array[length++] = b;
    }

    private static void Append(ReadOnlySpan<byte> bytes, ByteBuffer output, ref int length)
    {
        output.EnsureCapacity(length + bytes.Length, length);
        bytes.CopyTo(output.Array.AsSpan(length));
        length += bytes.Length;
    }
}
