using System.Globalization;
using Parquet;
using Parquet.Meta;
using Parquet.Schema;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Readers;

/// <summary>
/// Reads one string column of a parquet file. The text column is streamed page by page by
/// <see cref="ParquetTextColumnReader"/> (UTF-8 bytes, never strings: memory is a page of at most a few MB, or the
/// current document and a codec window when the page is larger, whatever the row group's size); filter columns are
/// small and read whole per row group with Parquet.Net, which also parses the footer, given to it without the chunk
/// statistics (<see cref="ParquetFooter"/>). <see cref="SourceRecord.Index"/> is the row number in the file,
/// <see cref="SourceRecord.ByteOffset"/> is -1. Column chunks in an encoding we cannot vouch for are refused, never
/// read as possibly wrong text.
/// </summary>
internal sealed class ParquetRecordReader : IRecordReader
{
    /// <summary>Encodings of (filter) string column chunks that Parquet.Net 6.1.0 reads exactly (checked against DuckDB).</summary>
    private static readonly HashSet<Encoding> Vouched =
        [Encoding.PLAIN, Encoding.PLAIN_DICTIONARY, Encoding.RLE_DICTIONARY, Encoding.RLE, Encoding.BIT_PACKED];

    private readonly FileStream _file;
    private readonly ParquetReader _reader;
    private readonly ReaderOptions _options;
    private readonly DataField _textField;
    private readonly DataField[] _filterFields;
    private readonly HashSet<string>[] _filterValues;
    private readonly ByteBuffer _text = new(LineReader.InitialSize);
    private readonly SourceRecord _current = new();
    private readonly ParquetTextColumnReader _column;
    private int _group = -1;
    private long _groupFirstRow;
    private int _groupRows;
    private int _row;
    private string?[][] _filterColumns;
    private string? _groupRejection;
    private int _rejectFrom;

    private ParquetRecordReader(string path, FileStream file, ParquetReader reader, ReaderOptions options)
    {
        Path = path;
        _file = file;
        _reader = reader;
        _options = options;
        _textField = FindStringColumn(options.TextField);
        _filterFields = options.Filters.Select(f => FindStringColumn(f.Field)).ToArray();
        _filterValues = options.Filters.Select(f => new HashSet<string>(f.Values, StringComparer.Ordinal)).ToArray();
        _filterColumns = new string?[_filterFields.Length][];
        _column = new ParquetTextColumnReader(path, file);
    }

    public string Path { get; }

    public long FileBytesConsumed => _file.Position;

    public SourceRecord Current => _current;

    public static ParquetRecordReader Open(string path, FileStream file, ReaderOptions options)
    {
        ParquetReader? reader = null;
        try
        {
            // Keep Parquet.Net's stream pool small: a row group's pages are read once, so pooling them only adds memory.
            var parquetOptions = new ParquetOptions { MaximumSmallPoolFreeBytes = 1 << 20, MaximumLargePoolFreeBytes = 8 << 20 };
            // Parquet.Net gets a checked footer without the chunk statistics (whole documents, with some writers).
            var view = ParquetFooter.Rewrite(file, out _);
            reader = ParquetReader.CreateAsync(view, parquetOptions, leaveStreamOpen: true).GetAwaiter().GetResult();
            // Parquet.Net builds the schema on first use: a corrupt one is a bad file here, not a crash later.
            _ = reader.Schema.GetDataFields();
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            reader?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            file.Dispose();
            throw new BadInputException(path, -1, -1, "not a readable parquet file (truncated, corrupt or not parquet): " + ex.Message, ex);
        }

        try
        {
            return new ParquetRecordReader(path, file, reader, options);
        }
        catch
        {
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            file.Dispose();
            throw;
        }
    }

    public bool MoveNext(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        while (_row >= _groupRows)
        {
            if (_group + 1 >= _reader.RowGroupCount)
            {
                return false;
            }

            LoadGroup(_group + 1, cancellationToken);
        }

        var row = _row++;
        var index = _groupFirstRow + row;
        if (_groupRejection is null && row >= _rejectFrom)
        {
            // The text column is streamed: a page that turns out bad rejects the rest of the group from its first row.
            AdvanceText(row);
        }

        if (_groupRejection is not null && row >= _rejectFrom)
        {
            Set(index, RecordOutcome.Rejected, _groupRejection);
            return true;
        }

        for (var f = 0; f < _filterFields.Length; f++)
        {
            var value = _filterColumns[f][row];
            var matched = value is not null && _filterValues[f].Contains(value);
            var filter = _options.Filters[f];
            if (matched == (filter.Mode == FilterMode.Exclude))
            {
                Set(index, RecordOutcome.Filtered, filter.Name);
                return true;
            }
        }

        if (_column.IsNull)
        {
            Set(index, RecordOutcome.Empty, ReasonCodes.NullText);
            return true;
        }

        var text = _column.Value;
        if (text.IsEmpty)
        {
            Set(index, RecordOutcome.Empty, ReasonCodes.EmptyText);
            return true;
        }

        var replaced = 0;
        if (!System.Text.Unicode.Utf8.IsValid(text.Span))
        {
            var result = JsonStringDecoder.ReplaceInvalidUtf8(text.Span, _text);
            if (_options.OnInvalidText == InvalidTextPolicy.Reject)
            {
                var problem = FormattableString.Invariant($"{ReasonCodes.InvalidUtf8}: the text has {result.InvalidUtf8} invalid UTF-8 sequence(s)");
                if (_options.OnBadRecord == BadRecordPolicy.Fail)
                {
                    throw new BadInputException(Path, index, -1, problem);
                }

                Set(index, RecordOutcome.Rejected, ReasonCodes.InvalidUtf8);
                return true;
            }

            replaced = result.InvalidUtf8;
            text = new ReadOnlyMemory<byte>(_text.Array, 0, result.Length);
        }

        // Zero copy when valid: the page buffer stays as it is until the next MoveNext, as Utf8Text promises.
        Set(index, RecordOutcome.Used, null);
        _current.Utf8Text = text;
        _current.ReplacedSequences = replaced;
        return true;
    }

    private void AdvanceText(int row)
    {
        bool more;
        try
        {
            more = _column.MoveNext();
        }
        catch (BadInputException) when (_options.OnBadRecord == BadRecordPolicy.Skip && _column.FailureReason is not null)
        {
            // Rows before the bad page were yielded already; every row from its first one on is counted as rejected.
            _groupRejection = _column.FailureReason;
            _rejectFrom = row;
            return;
        }

        if (!more || _column.Row != _groupFirstRow + row)
        {
            throw new InvalidOperationException("parquet text column out of step with its row group");
        }

        if (row == _groupRows - 1)
        {
            // Checks the chunk's totals (no pages or values left over) before the next group starts.
            AdvancePastEnd(row);
        }
    }

    private void AdvancePastEnd(int row)
    {
        try
        {
            if (_column.MoveNext())
            {
                throw new InvalidOperationException("parquet text column has more values than its row group");
            }
        }
        catch (BadInputException) when (_options.OnBadRecord == BadRecordPolicy.Skip && _column.FailureReason is not null)
        {
            // The last row has been decoded; the damage is after it. Count it on that row rather than lose it.
            _groupRejection = _column.FailureReason;
            _rejectFrom = row;
        }
    }

    public void Dispose()
    {
        _reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _column.Dispose();
        _file.Dispose();
        _text.Dispose();
    }

    private void LoadGroup(int group, CancellationToken cancellationToken)
    {
        _groupFirstRow += _groupRows;
        _group = group;
        _row = 0;
        _groupRows = 0;
        _groupRejection = null;
        _rejectFrom = 0;
        using var rowGroup = _reader.OpenRowGroupReader(group);
        if (rowGroup.RowCount > int.MaxValue)
        {
            throw new BadInputException(Path, _groupFirstRow, -1, FormattableString.Invariant($"row group {group} has {rowGroup.RowCount} rows, more than this reader handles"));
        }

        _groupRows = (int)rowGroup.RowCount;
        foreach (var field in _filterFields)
        {
            var refusal = CheckEncodings(rowGroup, field);
            if (refusal is not null)
            {
                RejectGroup(ReasonCodes.UnsupportedEncoding, refusal);
                return;
            }
        }

        try
        {
            _column.Open(rowGroup.GetMetadata(_textField), _textField.MaxDefinitionLevel, _textField.MaxRepetitionLevel,
                rowGroup.RowCount, _groupFirstRow, group, _textField.Path.ToString());
        }
        catch (BadInputException) when (_options.OnBadRecord == BadRecordPolicy.Skip && _column.FailureReason is not null)
        {
            RejectGroup(_column.FailureReason, "");
            return;
        }

        try
        {
            for (var f = 0; f < _filterFields.Length; f++)
            {
                _filterColumns[f] = ReadColumn(rowGroup, _filterFields[f], cancellationToken);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException and not BadInputException)
        {
            RejectGroup(ReasonCodes.CorruptRowGroup, FormattableString.Invariant($"row group {group} cannot be decoded: {ex.Message}"), ex);
        }

        if (_groupRows == 0)
        {
            AdvancePastEnd(0);
        }
    }

    private string?[] ReadColumn(ParquetRowGroupReader rowGroup, DataField field, CancellationToken cancellationToken)
    {
        var values = new string?[_groupRows];
        rowGroup.ReadAsync(field, values.AsMemory(), null, cancellationToken).AsTask().GetAwaiter().GetResult();
        return values;
    }

    private void RejectGroup(string reason, string problem, Exception? inner = null)
    {
        if (_options.OnBadRecord == BadRecordPolicy.Fail)
        {
            throw new BadInputException(Path, _groupFirstRow, -1, $"{reason}: {problem}", inner);
        }

        // Under skip every row of the group is counted as rejected: nothing disappears without a count.
        _groupRejection = reason;
    }

    private string? CheckEncodings(ParquetRowGroupReader rowGroup, DataField field)
    {
        var chunk = rowGroup.GetMetadata(field);
        var meta = chunk?.MetaData;
        if (meta is null || chunk!.CryptoMetadata is not null || chunk.EncryptedColumnMetadata is not null)
        {
            return FormattableString.Invariant($"row group {_group}, column '{field.Path}': no readable column chunk metadata (encrypted?)");
        }

        var used = new List<Encoding>(meta.Encodings);
        if (meta.EncodingStats is { Count: > 0 } stats)
        {
            used.AddRange(stats.Select(s => s.Encoding));
        }

        var bad = used.Where(e => !Vouched.Contains(e)).Distinct().ToList();
        if (bad.Count == 0)
        {
            return null;
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"row group {_group}, column '{field.Path}' uses encoding {string.Join(", ", bad)}, which Parquet.Net 6.1.0 does not decode reliably for strings; refusing rather than risking wrong text (rewrite the file with PLAIN or dictionary encoding, e.g. pyarrow's defaults)");
    }

    private DataField FindStringColumn(string name)
    {
        var fields = _reader.Schema.GetDataFields();
        var field = fields.FirstOrDefault(f => string.Equals(f.Path.ToString(), name, StringComparison.Ordinal))
            ?? fields.FirstOrDefault(f => string.Equals(string.Join('.', f.Path.ToList()), name, StringComparison.Ordinal));
        if (field is null)
        {
            throw new BadInputException(Path, -1, -1,
                $"{ReasonCodes.MissingText}: no column '{name}' (columns: {string.Join(", ", fields.Select(f => f.Path.ToString()))})");
        }

        if (field.IsArray || field.MaxRepetitionLevel > 0)
        {
            throw new BadInputException(Path, -1, -1, $"column '{name}' is a list, not a string column");
        }

        if (field.ClrType != typeof(ReadOnlyMemory<char>) && field.ClrType != typeof(string))
        {
            var what = field.ClrType == typeof(ReadOnlyMemory<byte>)
                ? "a BYTE_ARRAY column without a UTF8/String annotation (binary)"
                : $"a {field.ClrType.Name} column";
            throw new BadInputException(Path, -1, -1, $"column '{name}' is {what}, not a string column");
        }

        return field;
    }

    private void Set(long index, RecordOutcome outcome, string? reason)
    {
        _current.Index = index;
        _current.ByteOffset = -1;
        _current.Outcome = outcome;
        _current.Reason = reason;
        _current.Utf8Text = ReadOnlyMemory<byte>.Empty;
        _current.ReplacedSequences = 0;
    }
}
