using System.Globalization;
using Parquet;
using Parquet.Meta;
using Parquet.Schema;
using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Readers;

/// <summary>
/// Reads one string column of a parquet file with Parquet.Net, one row group at a time (the whole group's column is
/// held, so memory is bounded by the largest row group). <see cref="SourceRecord.Index"/> is the row number in the
/// file, <see cref="SourceRecord.ByteOffset"/> is -1. Column chunks in an encoding we cannot vouch for are refused
/// (Parquet.Net 6.1.0 silently corrupts some DELTA_BYTE_ARRAY strings), never read as possibly wrong text.
/// </summary>
internal sealed class ParquetRecordReader : IRecordReader
{
    /// <summary>Encodings of string column chunks that Parquet.Net 6.1.0 reads exactly (checked against DuckDB).</summary>
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
    private int _group = -1;
    private long _groupFirstRow;
    private int _groupRows;
    private int _row;
    private const long LargeGroupChars = 32L << 20;
    private string?[] _texts = [];
    private long _groupChars;
    private string?[][] _filterColumns;
    private string? _groupRejection;

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
    }

    public string Path { get; }

    public long FileBytesConsumed => _file.Position;

    public SourceRecord Current => _current;

    public static ParquetRecordReader Open(string path, FileStream file, ReaderOptions options)
    {
        ParquetReader reader;
        try
        {
            // Keep Parquet.Net's stream pool small: a row group's pages are read once, so pooling them only adds memory.
            var parquetOptions = new ParquetOptions { MaximumSmallPoolFreeBytes = 1 << 20, MaximumLargePoolFreeBytes = 8 << 20 };
            reader = ParquetReader.CreateAsync(file, parquetOptions, leaveStreamOpen: true).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
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
        if (_groupRejection is not null)
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

        var text = _texts[row];
        if (text is null)
        {
            Set(index, RecordOutcome.Empty, ReasonCodes.NullText);
            return true;
        }

        if (text.Length == 0)
        {
            Set(index, RecordOutcome.Empty, ReasonCodes.EmptyText);
            return true;
        }

        // Parquet.Net decodes UTF-8 into strings; strings it produces hold no lone surrogates, and the encoder
        // would replace any with U+FFFD.
        _text.EnsureCapacity(System.Text.Encoding.UTF8.GetMaxByteCount(text.Length), 0);
        var length = System.Text.Encoding.UTF8.GetBytes(text, _text.Array);
        _texts[row] = null; // the string is no longer needed: let the collector take it
        Set(index, RecordOutcome.Used, null);
        _current.Utf8Text = new ReadOnlyMemory<byte>(_text.Array, 0, length);
        return true;
    }

    public void Dispose()
    {
        _reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
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
        var previousGroupChars = _groupChars;
        _texts = [];
        _groupChars = 0;
        if (previousGroupChars > LargeGroupChars)
        {
            // A large row group's strings live on the large object heap until a full collection; without one,
            // the garbage of several groups piles up. One blocking collection per large group keeps memory
            // at about one group's worth whatever the file size.
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }

        using var rowGroup = _reader.OpenRowGroupReader(group);
        if (rowGroup.RowCount > int.MaxValue)
        {
            throw new BadInputException(Path, _groupFirstRow, -1, FormattableString.Invariant($"row group {group} has {rowGroup.RowCount} rows, more than this reader handles"));
        }

        _groupRows = (int)rowGroup.RowCount;
        foreach (var field in _filterFields.Prepend(_textField))
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
            _texts = ReadColumn(rowGroup, _textField, cancellationToken);
            foreach (var t in _texts)
            {
                _groupChars += t?.Length ?? 0;
            }

            for (var f = 0; f < _filterFields.Length; f++)
            {
                _filterColumns[f] = ReadColumn(rowGroup, _filterFields[f], cancellationToken);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException and not BadInputException)
        {
            RejectGroup(ReasonCodes.CorruptRowGroup, FormattableString.Invariant($"row group {group} cannot be decoded: {ex.Message}"), ex);
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
