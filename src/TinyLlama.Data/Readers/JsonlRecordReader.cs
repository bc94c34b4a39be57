using System.Text;
using System.Text.Json;
using TinyLlama.Data.Errors;
using ZstdSharp;

namespace TinyLlama.Data.Readers;

/// <summary>
/// Reads JSON Lines (plain, gzip or zstd): one JSON object per <c>\n</c>-terminated line, the text at a dotted path.
/// Every physical line is one record (<see cref="SourceRecord.Index"/> = 0-based line number, offsets in the
/// decompressed stream). A UTF-8 BOM at the start and <c>\r\n</c> line ends are accepted.
/// </summary>
internal sealed class JsonlRecordReader : IRecordReader
{
    private static readonly JsonReaderOptions JsonOptions = new() { MaxDepth = 256 };

    private readonly Stream _file;
    private readonly Stream _decompressed;
    private readonly string _kind;
    private readonly LineReader _lines;
    private readonly ReaderOptions _options;
    private readonly FieldPath[] _paths;
    private readonly FieldSlot[] _slots;
    private readonly byte[][][] _filterValues;
    private readonly ByteBuffer _text = new(LineReader.InitialSize);
    private readonly ByteBuffer _scratch = new(256);
    private readonly SourceRecord _current = new();
    private long _index;
    private bool _done;

    public JsonlRecordReader(string path, Stream file, Stream decompressed, string kind, ReaderOptions options)
    {
        Path = path;
        _file = file;
        _decompressed = decompressed;
        _kind = kind;
        _options = options;
        _lines = new LineReader(decompressed);
        _paths = new FieldPath[1 + options.Filters.Count];
        _paths[0] = FieldPath.Parse(options.TextField);
        _filterValues = new byte[options.Filters.Count][][];
        for (var f = 0; f < options.Filters.Count; f++)
        {
            _paths[1 + f] = FieldPath.Parse(options.Filters[f].Field);
            _filterValues[f] = options.Filters[f].Values.Select(v => Encoding.UTF8.GetBytes(v)).ToArray();
        }

        if (_paths.Length > 64)
        {
            throw new ArgumentException("at most 63 filters per source", nameof(options));
        }

        _slots = new FieldSlot[_paths.Length];
    }

    public string Path { get; }

    public long FileBytesConsumed => _file.CanSeek ? _file.Position : 0;

    public SourceRecord Current => _current;

    public bool MoveNext(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_done)
        {
            return false;
        }

        // The previous record's text is no longer promised to anyone: after a huge document, give its big
        // decode buffer back at once rather than holding it for the rest of the file.
        _text.ShrinkTo(LineReader.InitialSize, 0);

        ReadOnlySpan<byte> line;
        try
        {
            if (!_lines.TryReadLine(out line))
            {
                _done = true;
                return false;
            }
        }
        catch (Exception ex) when (ex is ZstdException or InvalidDataException or EndOfStreamException or CorruptStreamException)
        {
            _done = true;
            var reached = _lines.BytesRead;
            var problem = FormattableString.Invariant(
                $"{ReasonCodes.CorruptStream}: the {_kind} stream is truncated or corrupt: {ex.Message} (offset reached: {reached} decompressed bytes, {CompressedOffset(ex)} bytes of the file)");
            if (_options.OnBadRecord == BadRecordPolicy.Fail)
            {
                throw new BadInputException(Path, _index, reached, problem, ex);
            }

            Set(_index, reached, RecordOutcome.Rejected, ReasonCodes.CorruptStream);
            return true;
        }
        catch (IOException ex)
        {
            throw new IoFailureException(Path, "read failed: " + ex.Message, ex);
        }

        var index = _index++;
        Classify(index, _lines.LineOffset, line);
        return true;
    }

    public void Dispose()
    {
        _lines.Dispose();
        _text.Dispose();
        _scratch.Dispose();
        _decompressed.Dispose();
        _file.Dispose();
    }

    private long CompressedOffset(Exception ex) => ex is CorruptStreamException c ? c.CompressedOffset : FileBytesConsumed;

    private void Classify(long index, long offset, ReadOnlySpan<byte> line)
    {
        if (!line.IsEmpty && line[^1] == '\r')
        {
            line = line[..^1];
        }

        var lead = 0;
        if (offset == 0 && line.StartsWith("\uFEFF"u8))
        {
            line = line[3..];
            lead = 3;
        }

        if (line.Trim(" \t\r"u8).IsEmpty)
        {
            Set(index, offset, RecordOutcome.Empty, ReasonCodes.BlankLine);
            return;
        }

        Array.Clear(_slots);
        try
        {
            var reader = new Utf8JsonReader(line, JsonOptions);
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                var type = reader.TokenType;
                reader.Skip();
                while (reader.Read())
                {
                }

                Bad(index, offset, ReasonCodes.JsonNotObject, FormattableString.Invariant($"the line is a JSON {Describe(type)}, not an object"));
                return;
            }

            WalkObject(ref reader, 0, (1UL << _paths.Length) - 1);
            while (reader.Read())
            {
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            Bad(index, offset, ReasonCodes.BadJson, "invalid JSON: " + ex.Message);
            return;
        }

        for (var f = 0; f < _options.Filters.Count; f++)
        {
            var filter = _options.Filters[f];
            var matched = false;
            ref var slot = ref _slots[1 + f];
            if (slot.Found && slot.Type == JsonTokenType.String)
            {
                var raw = line.Slice(slot.Start, slot.Length);
                ReadOnlySpan<byte> value = raw;
                if (!JsonStringDecoder.IsVerbatim(raw, slot.Escaped))
                {
                    value = _scratch.Array.AsSpan(0, JsonStringDecoder.Decode(raw, _scratch).Length);
                }

                foreach (var candidate in _filterValues[f])
                {
                    if (value.SequenceEqual(candidate))
                    {
                        matched = true;
                        break;
                    }
                }
            }

            if (matched == (filter.Mode == FilterMode.Exclude))
            {
                Set(index, offset, RecordOutcome.Filtered, filter.Name);
                return;
            }
        }

        ref var text = ref _slots[0];
        if (!text.Found)
        {
            Bad(index, offset, ReasonCodes.MissingText, $"no text field '{_options.TextField}'");
            return;
        }

        if (text.Type == JsonTokenType.Null)
        {
            Set(index, offset, RecordOutcome.Empty, ReasonCodes.NullText);
            return;
        }

        if (text.Type != JsonTokenType.String)
        {
            Bad(index, offset, ReasonCodes.TextNotString, $"the text field '{_options.TextField}' is a JSON {Describe(text.Type)}, not a string");
            return;
        }

        var rawText = line.Slice(text.Start, text.Length);
        ReadOnlyMemory<byte> utf8;
        var replaced = 0;
        if (JsonStringDecoder.IsVerbatim(rawText, text.Escaped))
        {
            // Zero copy: the line buffer stays valid until the next MoveNext, as Utf8Text promises.
            utf8 = _lines.CurrentLine(lead + text.Start, text.Length);
        }
        else
        {
            var result = JsonStringDecoder.Decode(rawText, _text);
            if (result.Replaced > 0 && _options.OnInvalidText == InvalidTextPolicy.Reject)
            {
                var (reason, what) = result.InvalidUtf8 > 0
                    ? (ReasonCodes.InvalidUtf8, FormattableString.Invariant($"{result.InvalidUtf8} invalid UTF-8 sequence(s)"))
                    : (ReasonCodes.LoneSurrogate, FormattableString.Invariant($"{result.LoneSurrogates} lone surrogate escape(s)"));
                Bad(index, offset, reason, $"the text has {what}");
                return;
            }

            replaced = result.Replaced;
            utf8 = new ReadOnlyMemory<byte>(_text.Array, 0, result.Length);
        }

        if (utf8.IsEmpty)
        {
            Set(index, offset, RecordOutcome.Empty, ReasonCodes.EmptyText);
            return;
        }

        Set(index, offset, RecordOutcome.Used, null);
        _current.Utf8Text = utf8;
        _current.ReplacedSequences = replaced;
    }

    private void WalkObject(ref Utf8JsonReader reader, int depth, ulong active)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var matching = 0UL;
            for (var p = 0; p < _paths.Length; p++)
            {
                if ((active & (1UL << p)) != 0 && reader.ValueTextEquals(_paths[p].Segments[depth]))
                {
                    matching |= 1UL << p;
                }
            }

            reader.Read();
            if (matching == 0)
            {
                reader.Skip();
                continue;
            }

            var deeper = 0UL;
            for (var p = 0; p < _paths.Length; p++)
            {
                if ((matching & (1UL << p)) == 0)
                {
                    continue;
                }

                if (_paths[p].Segments.Length == depth + 1)
                {
                    // Last occurrence of a duplicated key wins, as in Python's json.loads.
                    _slots[p] = new FieldSlot(
                        true,
                        reader.TokenType,
                        reader.TokenType == JsonTokenType.String ? (int)reader.TokenStartIndex + 1 : 0,
                        reader.TokenType == JsonTokenType.String ? reader.ValueSpan.Length : 0,
                        reader.ValueIsEscaped);
                }
                else
                {
                    // A later duplicate parent that is not an object hides an earlier match.
                    _slots[p] = default;
                    deeper |= 1UL << p;
                }
            }

            if (deeper != 0 && reader.TokenType == JsonTokenType.StartObject)
            {
                WalkObject(ref reader, depth + 1, deeper);
            }
            else
            {
                reader.Skip();
            }
        }
    }

    private void Bad(long index, long offset, string reason, string problem)
    {
        if (_options.OnBadRecord == BadRecordPolicy.Fail)
        {
            throw new BadInputException(Path, index, offset, $"{reason}: {problem}");
        }

        Set(index, offset, RecordOutcome.Rejected, reason);
    }

    private void Set(long index, long offset, RecordOutcome outcome, string? reason)
    {
        _current.Index = index;
        _current.ByteOffset = offset;
        _current.Outcome = outcome;
        _current.Reason = reason;
        _current.Utf8Text = ReadOnlyMemory<byte>.Empty;
        _current.ReplacedSequences = 0;
    }

    private static string Describe(JsonTokenType type) => type switch
    {
        JsonTokenType.StartArray => "array",
        JsonTokenType.StartObject => "object",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => type.ToString(),
    };

    private readonly record struct FieldSlot(bool Found, JsonTokenType Type, int Start, int Length, bool Escaped);

    private sealed record FieldPath(byte[][] Segments)
    {
        public static FieldPath Parse(string dotted) =>
            new(dotted.Split('.').Select(s => Encoding.UTF8.GetBytes(s)).ToArray());
    }
}
