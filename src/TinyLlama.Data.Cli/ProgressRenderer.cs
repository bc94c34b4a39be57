using System.Diagnostics;
using System.Globalization;
using TinyLlama.Data.Pipeline;

namespace TinyLlama.Data.Cli;

/// <summary>
/// Renders build progress on stderr: one updating line on a terminal, a line every few seconds otherwise.
/// Shows documents, tokens/s, MB/s of text and, where input sizes are known, percent and ETA.
/// </summary>
internal sealed class ProgressRenderer : IDisposable
{
    private readonly BuildProgress _progress;
    private readonly TextWriter _writer;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Timer _timer;
    private readonly bool _interactive;
    private readonly Lock _lock = new();
    private bool _wrote;
    private int _warned;

    public ProgressRenderer(BuildProgress progress, TextWriter writer)
    {
        _progress = progress;
        _writer = writer;
        _interactive = !Console.IsErrorRedirected;
        var period = _interactive ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromSeconds(5);
        _timer = new Timer(_ => Render(), null, period, period);
    }

    private void Render()
    {
        lock (_lock)
        {
            Warnings();
            var seconds = Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
            var p = _progress;
            var line = string.Create(CultureInfo.InvariantCulture,
                $"[{p.Phase}] {p.Documents:N0} docs, {p.Tokens:N0} tokens, {p.Tokens / seconds / 1e6:N2}M tok/s, {p.TextBytes / seconds / 1e6:N1} MB/s text");
            if (p.Phase == "tokenize" && p.InputBytesTotal > 0)
            {
                var fraction = Math.Clamp((double)p.InputBytesDone / p.InputBytesTotal, 0, 1);
                var eta = fraction > 0.001 ? TimeSpan.FromSeconds(seconds * (1 - fraction) / fraction) : (TimeSpan?)null;
                line += string.Create(CultureInfo.InvariantCulture, $", {fraction * 100:N1}% of input") + (eta is { } e ? $", ETA {e:hh\\:mm\\:ss}" : "");
            }
            else if (p.Phase == "pack")
            {
                line += string.Create(CultureInfo.InvariantCulture, $", shard {p.ShardsWritten:N0}/{p.ShardsTotal:N0}");
            }

            if (_interactive)
            {
                _writer.Write("\r" + line.PadRight(110));
            }
            else
            {
                _writer.WriteLine(line);
            }

            _wrote = true;
        }
    }

    /// <summary>Each warning not shown yet, on a line of its own.</summary>
    private void Warnings()
    {
        var warnings = _progress.Warnings;
        for (; _warned < warnings.Count; _warned++)
        {
            _writer.WriteLine((_wrote && _interactive ? "\n" : "") + "warning: " + warnings[_warned]);
            _wrote = false;
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        lock (_lock)
        {
            if (_wrote && _interactive)
            {
                _writer.WriteLine();
                _wrote = false;
            }

            Warnings();
        }
    }
}
