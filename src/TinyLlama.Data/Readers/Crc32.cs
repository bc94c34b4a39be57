namespace TinyLlama.Data.Readers;

/// <summary>CRC-32 (IEEE 802.3, reflected 0xEDB88320) as gzip uses it; slicing-by-4.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>Continues <paramref name="crc"/> (0 to start) over <paramref name="data"/>.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        var table = Table;
        var c = ~crc;
        var i = 0;
        for (; i + 4 <= data.Length; i += 4)
        {
            c ^= (uint)(data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
            c = table[768 + (int)(c & 0xFF)] ^ table[512 + (int)((c >> 8) & 0xFF)]
                ^ table[256 + (int)((c >> 16) & 0xFF)] ^ table[(int)(c >> 24)];
        }

        for (; i < data.Length; i++)
        {
            c = table[(int)((c ^ data[i]) & 0xFF)] ^ (c >> 8);
        }

        return ~c;
    }

    private static uint[] BuildTable()
    {
        var t = new uint[1024];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            t[n] = c;
        }

        for (var n = 0; n < 256; n++)
        {
            for (var s = 1; s < 4; s++)
            {
                var prev = t[((s - 1) * 256) + n];
                t[(s * 256) + n] = t[(int)(prev & 0xFF)] ^ (prev >> 8);
            }
        }

        return t;
    }
}
