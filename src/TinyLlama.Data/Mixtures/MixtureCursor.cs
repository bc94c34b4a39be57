using System.Globalization;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Mixtures;

/// <summary>
/// Walks a <see cref="MixtureSchedule"/> unit by unit. Per unit the work is O(number of sources) and nothing is
/// allocated. <see cref="TryNext(long, out ScheduledUnit)"/> can take part of a unit (to stop exactly at a shard
/// boundary); the rest comes next, and <see cref="State"/> captures such a mid-unit position too.
/// </summary>
public sealed class MixtureCursor
{
    private readonly MixtureSchedule _schedule;
    private readonly MixtureTarget _target;
    private readonly int _n;
    private readonly long _unit;
    private readonly long _total;

    private readonly int[] _epoch;
    private readonly int[] _index;
    private readonly long[] _offset;
    private readonly long[] _emitted;
    private readonly int[] _doc;
    private readonly long[] _docLength;
    private readonly long[] _unitEnd;
    private readonly bool[] _capped;
    private readonly double[] _fluidStart;
    private readonly double[] _fluidFinish;
    private readonly DocumentOrder[] _order;

    private long _position;
    private int _stage;
    private int _inFlight = -1;

    internal MixtureCursor(MixtureSchedule schedule, SchedulerState? state)
    {
        _schedule = schedule;
        _target = schedule.Target;
        _n = schedule.Sources.Count;
        _unit = schedule.MaxUnitTokens;
        _total = schedule.TotalTokens;
        _epoch = new int[_n];
        _index = new int[_n];
        _offset = new long[_n];
        _emitted = new long[_n];
        _doc = new int[_n];
        _docLength = new long[_n];
        _unitEnd = new long[_n];
        _capped = new bool[_n];
        _fluidStart = new double[_n];
        _fluidFinish = new double[_n];
        _order = new DocumentOrder[_n];

        if (state is not null)
        {
            Restore(state);
        }

        _stage = _target.StageAt(_position);
        for (var i = 0; i < _n; i++)
        {
            _order[i] = _schedule.Order(i, _epoch[i]);
            _capped[i] = _emitted[i] >= _schedule.Capacities[i];
            if (_capped[i])
            {
                continue;
            }

            LoadDocument(i);
            Settle(i);
            if (i == _inFlight)
            {
                _unitEnd[i] = UnitEnd(i);
            }
            else
            {
                Prepare(i);
            }
        }
    }

    /// <summary>Tokens emitted so far.</summary>
    public long Position => _position;

    /// <summary>True when the whole stream has been emitted.</summary>
    public bool IsComplete => _position >= _total;

    /// <summary>A snapshot of the state after the tokens emitted so far (allocates).</summary>
    public SchedulerState State
    {
        get
        {
            var sources = new SourceCursor[_n];
            for (var i = 0; i < _n; i++)
            {
                sources[i] = new SourceCursor(_epoch[i], _index[i], _offset[i], _emitted[i]);
            }

            return new SchedulerState(_position, _inFlight, sources);
        }
    }

    /// <summary>Tokens of source <paramref name="source"/> emitted so far.</summary>
    public long Emitted(int source) => _emitted[source];

    /// <summary>The next unit, whole; false at the end of the stream.</summary>
    public bool TryNext(out ScheduledUnit unit) => TryNext(long.MaxValue, out unit);

    /// <summary>
    /// The next unit, or its first <paramref name="maxTokens"/> tokens when it is longer (the rest comes next);
    /// false at the end of the stream. The last unit of the stream is cut so the total is exact.
    /// </summary>
    public bool TryNext(long maxTokens, out ScheduledUnit unit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        if (_position >= _total)
        {
            unit = default;
            return false;
        }

        var j = _inFlight >= 0 ? _inFlight : Select();
        var start = _offset[j];
        var length = _unitEnd[j] - start;
        var take = Math.Min(length, Math.Min(maxTokens, _total - _position));
        unit = new ScheduledUnit(j, _epoch[j], _doc[j], start, start + take, _position, _stage);

        _offset[j] = start + take;
        _emitted[j] += take;
        _position += take;
        while (_stage < _target.StageCount - 1 && _position >= _target.StageStart(_stage + 1))
        {
            _stage++;
        }

        if (take < length)
        {
            _inFlight = j;
            return true;
        }

        _inFlight = -1;
        if (_emitted[j] >= _schedule.Capacities[j])
        {
            _capped[j] = true;
        }
        else
        {
            Settle(j);
            Prepare(j);
        }

        return true;
    }

    // Among eligible sources (fluid start ≤ position), the smallest fluid finish; ties to the lower index.
    private int Select()
    {
        var best = -1;
        var bestFinish = 0.0;
        for (var i = 0; i < _n; i++)
        {
            if (!_capped[i] && _fluidStart[i] <= _position && (best < 0 || _fluidFinish[i] < bestFinish))
            {
                best = i;
                bestFinish = _fluidFinish[i];
            }
        }

        if (best >= 0)
        {
            return best;
        }

        // Only reachable through rounding (some source always has F_i(T) ≥ e_i): take the nearest to eligible.
        var bestStart = 0.0;
        for (var i = 0; i < _n; i++)
        {
            if (!_capped[i] && (best < 0 || _fluidStart[i] < bestStart))
            {
                best = i;
                bestStart = _fluidStart[i];
            }
        }

        return best >= 0
            ? best
            : throw new PlanException(string.Create(CultureInfo.InvariantCulture,
                $"every source has reached its cap at token {_position:N0} of {_total:N0}; the plan should have caught this (a bug)."));
    }

    // Moves the source past finished (and empty) documents, into a new epoch when its order runs out.
    private void Settle(int i)
    {
        var count = _schedule.Sources[i].DocumentTokens.Count;
        while (_offset[i] >= _docLength[i])
        {
            _offset[i] = 0;
            if (++_index[i] >= count)
            {
                _index[i] = 0;
                _epoch[i]++;
                _order[i] = _schedule.Order(i, _epoch[i]);
            }

            LoadDocument(i);
        }
    }

    private void LoadDocument(int i)
    {
        _doc[i] = _order[i][_index[i]];
        _docLength[i] = _schedule.Sources[i].DocumentTokens[_doc[i]];
    }

    // End (within the document) of the unit that starts, or continues, at the source's offset: units are the
    // aligned chunks [kU, (k+1)U) of the document, and the source's last unit stops at its capacity.
    private long UnitEnd(int i)
    {
        var aligned = ((_offset[i] / _unit) + 1) * _unit;
        var end = Math.Min(_docLength[i], aligned);
        return Math.Min(end, _offset[i] + (_schedule.Capacities[i] - _emitted[i]));
    }

    private void Prepare(int i)
    {
        _unitEnd[i] = UnitEnd(i);
        _fluidStart[i] = _target.FluidTime(i, _emitted[i]);
        _fluidFinish[i] = _target.FluidTime(i, _emitted[i] + (_unitEnd[i] - _offset[i]));
    }

    private void Restore(SchedulerState state)
    {
        if (state.Sources is null || state.Sources.Count != _n)
        {
            throw new ArgumentException(FormattableString.Invariant(
                $"The state has {state.Sources?.Count ?? 0} source cursors; this schedule has {_n} sources."), nameof(state));
        }

        if (state.Position < 0 || state.Position > _total || state.InFlight < -1 || state.InFlight >= _n)
        {
            throw new ArgumentException("The state's position or in-flight source is out of range for this schedule.", nameof(state));
        }

        long sum = 0;
        for (var i = 0; i < _n; i++)
        {
            var c = state.Sources[i];
            var count = _schedule.Sources[i].DocumentTokens.Count;
            if (c is null || c.Epoch < 0 || c.Index < 0 || (count > 0 && c.Index >= count) || c.Offset < 0 || c.Emitted < 0
                || c.Emitted > _schedule.Capacities[i])
            {
                throw new ArgumentException(FormattableString.Invariant($"The state's cursor for source {i} is out of range."), nameof(state));
            }

            _epoch[i] = c.Epoch;
            _index[i] = c.Index;
            _offset[i] = c.Offset;
            _emitted[i] = c.Emitted;
            sum += c.Emitted;
        }

        if (sum != state.Position)
        {
            throw new ArgumentException("The state's source cursors do not add up to its position.", nameof(state));
        }

        _position = state.Position;
        _inFlight = state.InFlight;
    }
}
