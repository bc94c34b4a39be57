using System.Globalization;
using System.Text;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Tokenization;

namespace TinyLlama.Data.Tests.Tokenization;

/// <summary>The Llama 2 tokenizer, loaded once, and the adversarial texts the tokenizer tests share.</summary>
internal static class TokenizerTestTexts
{
    private static readonly Lazy<SentencePieceTokenizer> Llama2Lazy = new(() => SentencePieceTokenizer.Load(RepoPaths.Llama2Model));

    public static SentencePieceTokenizer Llama2 => Llama2Lazy.Value;

    /// <summary>Strings chosen to break a BPE encoder: whitespace runs, equal-score ties, byte fallback, specials.</summary>
    public static IReadOnlyList<string> Adversarial { get; } =
    [
        "", " ", "  ", "   ", "\t", "\t\t", " \t ", "\n", "\r\n", "a\r\nb\r\n", "\r", "\n\n\n", " \n ", "\f\v",
        "aaaa", "aaa", "aaaaa", "aaaaaa", new string('a', 7), new string('a', 64), new string('a', 65), new string('a', 1000),
        "----", "-----", new string('-', 100), "=====", "))))", "((((", "....", "____", "****", "####", "////",
        "~~~~~~~~", "........................................", "ababababab", "abcabcabcabc",
        "    if x:\n        return y\n", "\t\tindent\ttabs\t", new string(' ', 100) + "x", "x" + new string(' ', 100),
        new string(' ', 63), new string(' ', 64), new string(' ', 65), new string(' ', 1000),
        " leading", "trailing ", "  both  ", "a  b   c    d", "a \t b", "a\u3000b",
        "\u2581", "\u2581\u2581a", "a\u2581b", "\u2581 \u2581", "x\u2581\u2581\u2581y",
        "<s>", "</s>", "<unk>", "<s>hello</s>", "<0x41>", "<pad>", "\u2047",
        "\0", "a\0b", "\0\0\0", "\u0001\u0002\u001f\u007f", "\u0085", "\u00a0", "\u200b\u200d\u200c", "\uFEFF", "\u00ad",
        "\U0001F600", "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466", "\U0001F3F3\uFE0F\u200D\U0001F308",
        "\U0001F44D\U0001F3FD", "\U0001F1FA\U0001F1F8\U0001F1EB\U0001F1F7", "I \u2764\uFE0F NY",
        "\U00020000\U00020001", "\U0002A6A5", "\u9F98", "\u9FFF", "\uE000\uF8FF", "\U000F0000\U0010FFFD",
        "\uFFFD", "\uFFFD\uFFFD", "a\uFFFDb", "\uFFFE\uFFFF", "e\u0301", "\uFB01", "\uFF21\uFF22", "\u212B",
        "\u0627\u0644\u0639\u0631\u0628\u064A\u0629", "\u05E2\u05D1\u05E8\u05D9\u05EA", "\u0E44\u0E17\u0E22",
        "\u0939\u093F\u0928\u094D\u0926\u0940", "\uD55C\uAD6D\uC5B4", "\u65E5\u672C\u8A9E\u306E\u30C6\u30AD\u30B9\u30C8",
        "\u4E2D\u6587\u6D4B\u8BD5\uFF0C\u6807\u70B9\u3002", "\u4E2D\u6587 \u548C English \u6DF7\u5408",
        "Hello, World!", "don't stop", "1234567890", "3.14159", "0x1F", "http://example.com/a?b=c&d=e#f", "user@example.com",
        "\\frac{a}{b} + \\sqrt{x^2}", "$x^2$", "for (int i = 0; i < n; i++) { a[i] = b[i]; }",
        "def f(x):\r\n\treturn x  # comment\r\n", "SGVsbG8gV29ybGQhIFRoaXMgaXMgYmFzZTY0IGVuY29kZWQgdGV4dCB3aXRob3V0IGFueSBzcGFjZXMuLi4=",
        string.Concat(Enumerable.Repeat("ab ", 50)), string.Concat(Enumerable.Repeat("\u2581a", 40)),
    ];

    /// <summary>Seeded random strings from many Unicode blocks, mixed with ASCII letters and whitespace.</summary>
    public static IReadOnlyList<string> RandomFromBlocks(int count, int seed)
    {
        (int From, int To)[] blocks =
        [
            (0x0020, 0x007E), (0x00A0, 0x00FF), (0x0100, 0x017F), (0x0180, 0x024F), (0x0250, 0x02AF), (0x0370, 0x03FF),
            (0x0400, 0x04FF), (0x0530, 0x058F), (0x0590, 0x05FF), (0x0600, 0x06FF), (0x0900, 0x097F), (0x0980, 0x09FF),
            (0x0E00, 0x0E7F), (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1200, 0x137F), (0x13A0, 0x13FF), (0x16A0, 0x16FF),
            (0x1780, 0x17FF), (0x1800, 0x18AF), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x214F), (0x2190, 0x21FF),
            (0x2200, 0x22FF), (0x2500, 0x257F), (0x2580, 0x259F), (0x25A0, 0x25FF), (0x2600, 0x26FF), (0x2700, 0x27BF),
            (0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xE000, 0xF8FF),
            (0xFB00, 0xFB4F), (0xFE70, 0xFEFF), (0xFF00, 0xFFEF), (0xFFF0, 0xFFFF), (0x10000, 0x1007F), (0x10330, 0x1034F),
            (0x1D400, 0x1D7FF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F900, 0x1F9FF), (0x20000, 0x2A6DF),
            (0xE0000, 0xE007F), (0xF0000, 0xFFFFD),
        ];
        var random = new Random(seed);
        var texts = new List<string>(count);
        var builder = new StringBuilder();
        for (var t = 0; t < count; t++)
        {
            builder.Clear();
            var mine = Enumerable.Range(0, random.Next(1, 4)).Select(_ => blocks[random.Next(blocks.Length)]).ToArray();
            var length = random.Next(1, 80);
            for (var i = 0; i < length; i++)
            {
                var roll = random.NextDouble();
                if (roll < 0.12)
                {
                    builder.Append(random.Next(8) == 0 ? "  " : " ");
                }
                else if (roll < 0.2)
                {
                    builder.Append((char)('a' + random.Next(26)));
                }
                else if (roll < 0.22)
                {
                    builder.Append(random.Next(3) switch { 0 => "\n", 1 => "\t", _ => "\r\n" });
                }
                else
                {
                    var (from, to) = mine[random.Next(mine.Length)];
                    builder.Append(char.ConvertFromUtf32(random.Next(from, to + 1)));
                }
            }

            texts.Add(builder.ToString());
        }

        return texts;
    }

    /// <summary>Asserts that each text's ids are the expected ones, reporting the first mismatches readably.</summary>
    public static void ShouldAllMatch(IReadOnlyList<string> texts, IReadOnlyList<int[]> actual, IReadOnlyList<int[]> expected)
    {
        actual.Should().HaveSameCount(expected);
        var failures = new List<string>();
        for (var i = 0; i < expected.Count; i++)
        {
            if (!actual[i].AsSpan().SequenceEqual(expected[i]))
            {
                var at = 0;
                while (at < actual[i].Length && at < expected[i].Length && actual[i][at] == expected[i][at])
                {
                    at++;
                }

                failures.Add(string.Create(CultureInfo.InvariantCulture,
                    $"text {i} {Describe(texts[i])}: first difference at token {at}: ours [{Window(actual[i], at)}], sentencepiece [{Window(expected[i], at)}]"));
            }
        }

        failures.Should().BeEmpty($"{failures.Count} of {expected.Count} texts differ from sentencepiece");
    }

    public static string Describe(string text)
    {
        var shown = text.Length > 60 ? text[..60] + "..." : text;
        var escaped = new StringBuilder("\"");
        foreach (var c in shown)
        {
            escaped.Append(c is < ' ' or > '~' ? string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}") : c.ToString());
        }

        return string.Create(CultureInfo.InvariantCulture, $"{escaped}\" ({text.Length} chars)");
    }

    private static string Window(int[] ids, int at) => string.Join(' ', ids.Skip(Math.Max(0, at - 2)).Take(6));
}
