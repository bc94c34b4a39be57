namespace TinyLlama.Data.Demo;

/// <summary>
/// The text the demo corpora are made of, written for this project (no third-party text): prose, code,
/// mathematics and Chinese. <see cref="DemoCorpora"/> combines it with a seeded generator into documents.
/// </summary>
internal static class DemoText
{
    public static readonly string[] Prose =
    [
        "A pretraining corpus is only as good as the accounting behind it.",
        "Every document that enters the pipeline is either in the shards or counted with a reason.",
        "The tokenizer turns text into integers, and those integers are all the model will ever see.",
        "Shards are written in training order, so the first file is the first thing the model reads.",
        "When the schedule ramps a new domain in, its share grows by a little with every block of tokens.",
        "Nobody wants to discover, three weeks into a run, that a fifth of the data was silently skipped.",
        "The river was high that spring, and the ferry ran only in the mornings.",
        "She kept a notebook of every experiment, including the ones that failed in interesting ways.",
        "A good benchmark states the machine, the command and the input, so that anyone can run it again.",
        "The library holds the behaviour; the command line only parses arguments and shows progress.",
        "Compression saves disk, but a truncated stream must never look like a shorter file.",
        "In the old station the clock had stopped at a quarter past four, and nobody had wound it since.",
        "Reproducibility means the same inputs and the same seed give the same bytes, every time.",
        "The cooldown stage raises the batch size while the mixture stays the same.",
        "He walked along the harbour, counting the boats that had come back before the storm.",
        "Large documents are split into bounded units so that one book cannot tip the proportions.",
        "A manifest without timestamps can be compared byte for byte between two builds.",
        "The garden behind the library had three apple trees and a bench that faced the west.",
        "Testing against an independent reference catches mistakes that a test of our own output cannot.",
        "Each worker takes its own slice of the files, and nothing is shared but the file system.",
        "Weather stations along the coast reported light winds and a slow rise in temperature.",
        "If a build is killed halfway, running the same command again should finish the job exactly.",
        "The committee met on Tuesday to discuss the budget for the new observatory.",
        "Sidecar files describe which documents fill each shard, down to the token offsets.",
        "Data loaders that shuffle the file list would destroy a carefully planned schedule.",
        "Tabs\tand  double  spaces   survive tokenization unchanged, as do trailing spaces.   ",
        "Prices rose by 3.5% in March, 2.25% in April and 0.75% in May.",
        "Ports 8080, 8443 and 9000 were open; everything else was closed.",
        "The recipe asked for 250 g of flour, 2 eggs and a pinch of salt.",
        "Emoji such as 🚂, 📦 and 👩‍🔬 take several bytes in UTF-8 and sometimes several tokens.",
    ];

    public static readonly string[] Code =
    [
        "def pack(tokens, chunk):\n    out = []\n    for i in range(0, len(tokens), chunk):\n        out.append(tokens[i:i + chunk])\n    return out\n",
        "public static int Clamp(int value, int min, int max)\n{\n    if (value < min) return min;\n    if (value > max) return max;\n    return value;\n}\n",
        "#include <stdint.h>\n\nuint64_t fnv1a(const uint8_t *data, size_t n) {\n\tuint64_t h = 1469598103934665603ULL;\n\tfor (size_t i = 0; i < n; i++) {\n\t\th ^= data[i];\n\t\th *= 1099511628211ULL;\n\t}\n\treturn h;\n}\n",
        "class Counter:\n    def __init__(self):\n        self.counts = {}\n\n    def add(self, key):\n        self.counts[key] = self.counts.get(key, 0) + 1\n",
        "for (var i = 0; i < shards.Count; i++)\n{\n    Console.WriteLine($\"{i,5}: {shards[i].Name}\");\n}\n",
        "static void swap(int *a, int *b) {\n    int t = *a;\n    *a = *b;\n    *b = t;\n}\n",
        "import json\n\nwith open('data.jsonl') as f:\n    for line in f:\n        record = json.loads(line)\n        print(len(record['text']))\n",
        "// ----------------------------------------------------------------\n// ================================================================\n",
        "if __name__ == '__main__':\n    main()\n",
        "public sealed record Shard(string Name, long Tokens);\r\n",
        "while (left > 0) {\n        size_t n = fread(buf, 1, sizeof buf, fp);\n        if (n == 0) break;\n        left -= n;\n    }\n",
        "    return ((((a + b) * c) - d) / e);\n",
    ];

    public static readonly string[] Math =
    [
        "\\begin{theorem} For every integer $n \\geq 1$, $\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$. \\end{theorem}",
        "\\begin{proof} By induction on $n$. The case $n = 1$ is clear. Assume the claim for $n$; then $\\sum_{k=1}^{n+1} k = \\frac{n(n+1)}{2} + (n+1) = \\frac{(n+1)(n+2)}{2}$. \\end{proof}",
        "Let $G$ be a finite group and $H \\leq G$ a subgroup. Then $|H|$ divides $|G|$.",
        "We have $e^{i\\pi} + 1 = 0$, and more generally $e^{i\\theta} = \\cos\\theta + i\\sin\\theta$.",
        "Suppose $f$ is continuous on $[a, b]$ and differentiable on $(a, b)$. Then there is $c \\in (a, b)$ with $f'(c) = \\frac{f(b) - f(a)}{b - a}$.",
        "theorem add_comm' (a b : ℕ) : a + b = b + a := by\n  induction a with\n  | zero => simp\n  | succ n ih => omega",
        "The integral $\\int_0^1 x^2 \\, dx = \\frac{1}{3}$ follows from the power rule.",
        "A prime $p > 2$ is odd, hence $p^2 \\equiv 1 \\pmod 8$.",
        "Lemma 2. If $x_n \\to x$ and $y_n \\to y$ then $x_n y_n \\to x y$.",
    ];

    public static readonly string[] Chinese =
    [
        "数据的质量决定了模型的上限。",
        "每一个文档要么进入分片，要么被计数并说明原因。",
        "分词器把文本变成整数，模型看到的只有这些整数。",
        "春天来了，河边的柳树发出了新芽。",
        "训练的顺序很重要，第一批数据最先被模型读到。",
        "我们在每个阶段的开始逐步提高新领域数据的比例。",
        "图书馆后面有三棵苹果树和一张朝西的长椅。",
        "同样的输入和同样的种子，应当得到完全相同的字节。",
        "天气预报说明天有小雨，气温略有下降。",
        "压缩可以节省磁盘，但截断的数据流绝不能被当成较短的文件。",
        "她把每一次实验都记在笔记本上，包括失败的那些。",
        "中文文本通常每个汉字占三个字节。",
        "火车在清晨六点准时出发，穿过山谷和田野。",
        "如果构建在中途被中断，再次运行同样的命令应当完成剩下的工作。",
    ];
}
