using System.Globalization;

namespace TinyLlama.Data.Mixtures;

/// <summary>
/// The target share of each source as a function of the token position t, and its integral, in closed form.
/// </summary>
/// <remarks>
/// <para>
/// The stages are cut into segments: a ramp segment (shares linear from the ramp's start weights to the stage's
/// weights) and a hold segment (shares constant). Within a segment that starts at P with length L, share a at the
/// start and b at the end, the share of a source is <c>a + (b - a)·x/L</c> with <c>x = t - P</c>, so its integral is
/// <c>C + a·x + (b - a)·x²/(2L)</c> where C is the integral up to P. Past the last stage the last stage's weights
/// hold (an extension used only so that "when would the target reach y" always has an answer).
/// </para>
/// <para>
/// All weight vectors are normalised, so at every t the shares sum to 1 and the integrals sum to t (up to
/// floating-point rounding: with doubles and t ≤ 1e13 the error of one integral is below 0.01 token).
/// </para>
/// </remarks>
public sealed class MixtureTarget
{
    private readonly int _n;

    // Segment k covers [_segStart[k], _segStart[k + 1]); the last segment (index _segments) is the extension
    // [TotalTokens, ∞). Per-source values are stored at [k * _n + i].
    private readonly long[] _segStart;
    private readonly double[] _shareStart;
    private readonly double[] _shareEnd;
    private readonly double[] _integralStart;
    private readonly long[] _stageStart;
    private readonly int _segments;

    private MixtureTarget(int sourceCount, IReadOnlyList<MixtureStage> stages)
    {
        _n = sourceCount;
        var starts = new List<long>();
        var a = new List<double>();
        var b = new List<double>();
        _stageStart = new long[stages.Count + 1];
        double[]? previous = null;
        long position = 0;
        for (var k = 0; k < stages.Count; k++)
        {
            var stage = stages[k];
            var label = StageLabel(stage, k);
            if (stage.Tokens <= 0)
            {
                throw new ArgumentException(FormattableString.Invariant($"{label}: tokens must be positive (got {stage.Tokens})."), nameof(stages));
            }

            if (stage.RampTokens < 0 || stage.RampTokens > stage.Tokens)
            {
                throw new ArgumentException(FormattableString.Invariant(
                    $"{label}: ramp tokens must be between 0 and the stage's tokens ({stage.Tokens}), got {stage.RampTokens}."), nameof(stages));
            }

            var weights = Normalise(stage.Weights, sourceCount, label, "weights");
            _stageStart[k] = position;
            if (stage.RampTokens > 0)
            {
                double[] from;
                if (stage.RampFrom is not null)
                {
                    from = Normalise(stage.RampFrom, sourceCount, label, "ramp start weights");
                }
                else if (previous is not null)
                {
                    from = previous;
                }
                else
                {
                    throw new ArgumentException($"{label}: the first stage has a ramp, so it needs ramp start weights.", nameof(stages));
                }

                starts.Add(position);
                a.AddRange(from);
                b.AddRange(weights);
                position = checked(position + stage.RampTokens);
            }
            else if (stage.RampFrom is not null)
            {
                throw new ArgumentException($"{label}: ramp start weights are given but the ramp is 0 tokens.", nameof(stages));
            }

            if (stage.Tokens > stage.RampTokens)
            {
                starts.Add(position);
                a.AddRange(weights);
                b.AddRange(weights);
                position = checked(position + (stage.Tokens - stage.RampTokens));
            }

            previous = weights;
        }

        TotalTokens = position;
        _stageStart[stages.Count] = position;
        _segments = starts.Count;

        // The extension segment.
        starts.Add(position);
        a.AddRange(previous!);
        b.AddRange(previous!);
        starts.Add(long.MaxValue);

        _segStart = [.. starts];
        _shareStart = [.. a];
        _shareEnd = [.. b];
        _integralStart = new double[(_segments + 1) * _n];
        for (var k = 0; k < _segments; k++)
        {
            var length = (double)(_segStart[k + 1] - _segStart[k]);
            for (var i = 0; i < _n; i++)
            {
                var j = (k * _n) + i;
                _integralStart[j + _n] = _integralStart[j] + (length * (_shareStart[j] + _shareEnd[j]) / 2);
            }
        }
    }

    /// <summary>Number of sources.</summary>
    public int SourceCount => _n;

    /// <summary>Number of stages.</summary>
    public int StageCount => _stageStart.Length - 1;

    /// <summary>The sum of the stages' tokens: the length of the stream.</summary>
    public long TotalTokens { get; }

    /// <summary>
    /// Validates the stages against <paramref name="sourceCount"/> sources (throws <see cref="ArgumentException"/>
    /// naming the stage and the problem) and builds the target.
    /// </summary>
    public static MixtureTarget Create(int sourceCount, IReadOnlyList<MixtureStage> stages)
    {
        ArgumentNullException.ThrowIfNull(stages);
        ArgumentOutOfRangeException.ThrowIfLessThan(sourceCount, 1);
        if (stages.Count == 0)
        {
            throw new ArgumentException("A mixture needs at least one stage.", nameof(stages));
        }

        return new MixtureTarget(sourceCount, stages);
    }

    /// <summary>The token position where stage <paramref name="stage"/> starts (stage == StageCount: the end).</summary>
    public long StageStart(int stage) => _stageStart[stage];

    /// <summary>The stage containing token position <paramref name="t"/> (the last stage for t ≥ TotalTokens).</summary>
    public int StageAt(long t)
    {
        var k = Array.BinarySearch(_stageStart, 0, StageCount, t);
        return k >= 0 ? k : Math.Max(0, ~k - 1);
    }

    /// <summary>The target share of source <paramref name="source"/> at token position <paramref name="t"/>.</summary>
    public double Share(int source, long t)
    {
        var k = SegmentAt(t);
        var j = (k * _n) + source;
        if (k == _segments)
        {
            return _shareStart[j];
        }

        var x = (double)(t - _segStart[k]);
        var length = (double)(_segStart[k + 1] - _segStart[k]);
        return _shareStart[j] + ((_shareEnd[j] - _shareStart[j]) * x / length);
    }

    /// <summary>The planned tokens of source <paramref name="source"/> in <c>[0, t)</c>: the integral of its share.</summary>
    public double Integral(int source, long t)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(t);
        var k = SegmentAt(t);
        var j = (k * _n) + source;
        var x = (double)(t - _segStart[k]);
        if (k == _segments || _shareStart[j] == _shareEnd[j])
        {
            return _integralStart[j] + (_shareStart[j] * x);
        }

        var length = (double)(_segStart[k + 1] - _segStart[k]);
        return _integralStart[j] + (_shareStart[j] * x) + ((_shareEnd[j] - _shareStart[j]) * x * x / (2 * length));
    }

    /// <summary>
    /// The earliest position t (possibly fractional) at which <see cref="Integral"/> of the source reaches
    /// <paramref name="tokens"/>: the time an ideal fluid mixture would have produced that many tokens of it.
    /// <see cref="double.PositiveInfinity"/> when it never does (the source's share is 0 from some point on).
    /// </summary>
    public double FluidTime(int source, double tokens)
    {
        if (tokens <= 0)
        {
            return 0;
        }

        // First finite segment whose end integral reaches the value.
        int lo = 0, hi = _segments;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_integralStart[((mid + 1) * _n) + source] >= tokens)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        var k = lo;
        var j = (k * _n) + source;
        var delta = tokens - _integralStart[j];
        var a = _shareStart[j];
        if (k == _segments)
        {
            return a > 0 ? _segStart[k] + (delta / a) : double.PositiveInfinity;
        }

        var length = (double)(_segStart[k + 1] - _segStart[k]);
        double x;
        if (delta <= 0)
        {
            x = 0;
        }
        else if (a == _shareEnd[j])
        {
            x = delta / a;
        }
        else
        {
            // Solve a·x + s·x²/2 = delta with s = (b - a)/L, in the form that does not cancel.
            var s = (_shareEnd[j] - a) / length;
            var disc = Math.Max(0, (a * a) + (2 * s * delta));
            x = 2 * delta / (a + Math.Sqrt(disc));
        }

        return _segStart[k] + Math.Min(x, length);
    }

    private int SegmentAt(long t)
    {
        var k = Array.BinarySearch(_segStart, 0, _segments + 1, t);
        return k >= 0 ? k : ~k - 1;
    }

    private static string StageLabel(MixtureStage stage, int index) =>
        string.IsNullOrEmpty(stage.Name)
            ? string.Create(CultureInfo.InvariantCulture, $"stage {index + 1}")
            : string.Create(CultureInfo.InvariantCulture, $"stage {index + 1} '{stage.Name}'");

    private static double[] Normalise(IReadOnlyList<double>? weights, int sourceCount, string label, string what)
    {
        if (weights is null || weights.Count != sourceCount)
        {
            throw new ArgumentException(FormattableString.Invariant(
                $"{label}: {what} must have one value per source ({sourceCount}), got {weights?.Count ?? 0}."));
        }

        var sum = 0.0;
        for (var i = 0; i < sourceCount; i++)
        {
            var w = weights[i];
            if (!double.IsFinite(w) || w < 0)
            {
                throw new ArgumentException(FormattableString.Invariant(
                    $"{label}: {what} must be finite and non-negative, got {w} for source {i + 1}."));
            }

            sum += w;
        }

        if (!(sum > 0))
        {
            throw new ArgumentException($"{label}: {what} must not all be zero.");
        }

        var result = new double[sourceCount];
        for (var i = 0; i < sourceCount; i++)
        {
            result[i] = weights[i] / sum;
        }

        return result;
    }
}
