using System.Buffers;
using System.Buffers.Binary;
using TinyLlama.Data.Util;

namespace TinyLlama.Data.Readers;

/// <summary>
/// Gives Parquet.Net a parquet file whose footer it can parse safely and cheaply. The footer is copied through a
/// 64 KiB window, field by field, against the parquet.thrift schema (<see cref="Schema"/>):
/// <list type="bullet">
/// <item>column chunk statistics (<c>statistics</c>, <c>size_statistics</c>, <c>geospatial_statistics</c>) are left
/// out, seeked over and never read: some writers (Parquet.Net among them) store whole values as a chunk's min and
/// max, tens of MB per chunk of 10 MB documents, which Parquet.Net would read into one buffer and parse into more;</item>
/// <item>fields the schema does not know are left out, as a reader of a newer format would ignore them;</item>
/// <item>a known field of the wrong type, a list of the wrong element type, or a structure running past the footer is
/// an <see cref="InvalidDataException"/>. Parquet.Net's own parser trusts all three, and past the end of the footer
/// reads 0xFF bytes forever (a varint that never ends): a damaged footer must not reach it.</item>
/// </list>
/// Nothing this project reads is left out. The page and data offsets do not change: the new footer replaces the old
/// one at the end of a stream that reads the file's bytes before it.
/// </summary>
internal static class ParquetFooter
{
    /// <summary>
    /// A view of <paramref name="file"/> with the checked footer, and how many footer bytes were left out. A file that
    /// does not end in a plain (unencrypted) footer, or whose footer does not follow the schema, is an
    /// <see cref="InvalidDataException"/>.
    /// </summary>
    public static Stream Rewrite(Stream file, out long removed)
    {
        var length = file.Length;
        if (length < 12)
        {
            throw new InvalidDataException(FormattableString.Invariant($"a file of {length} bytes is too short for parquet"));
        }

        Span<byte> tail = stackalloc byte[8];
        file.Seek(length - 8, SeekOrigin.Begin);
        if (file.ReadAtLeast(tail, 8, throwOnEndOfStream: false) < 8)
        {
            throw new InvalidDataException("the file ends early");
        }

        if (tail[4..].SequenceEqual("PARE"u8))
        {
            throw new InvalidDataException("the footer is encrypted, which is not supported");
        }

        if (!tail[4..].SequenceEqual("PAR1"u8))
        {
            throw new InvalidDataException("the file does not end in PAR1 (truncated, or not parquet)");
        }

        var footerLength = BinaryPrimitives.ReadUInt32LittleEndian(tail);
        var footerStart = length - 8 - footerLength;
        if (footerStart < 4)
        {
            throw new InvalidDataException(FormattableString.Invariant($"a footer of {footerLength} bytes does not fit in a file of {length}"));
        }

        using var input = new ThriftFileInput(file, "the footer", "the footer");
        input.Reset(footerStart, footerStart + footerLength);
        var output = new ArrayBufferWriter<byte>(4096);
        new Copier(input, output).CopyStruct(Schema.FileMetaData, 0);
        if (input.Position != footerStart + footerLength)
        {
            throw new InvalidDataException(FormattableString.Invariant($"{footerStart + footerLength - input.Position} bytes after the footer's FileMetaData"));
        }

        removed = footerLength - output.WrittenCount;
        return new SplicedStream(file, footerStart, output.WrittenSpan.ToArray());
    }

    /// <summary>The kinds of value in the schema, by their compact-protocol type code (bool: 1, in struct fields or lists).</summary>
    internal enum Kind
    {
        Bool = 1,
        I8 = 3,
        I16 = 4,
        I32 = 5,
        I64 = 6,
        Binary = 8,
        List = 9,
        Struct = 12,
    }

    /// <summary>A value's type: a kind, and for lists the element type, for structs the struct.</summary>
    internal sealed record ValueType(Kind Kind, ValueType? Element = null, Struct? Of = null);

    /// <summary>A field of a struct; <see cref="Dropped"/> fields are left out of the copy.</summary>
    internal sealed record Field(short Id, string Name, ValueType Type, bool Dropped = false);

    /// <summary>A thrift struct (or union) of parquet.thrift, named as Parquet.Net's class for it.</summary>
    internal sealed class Struct(string name)
    {
        private readonly Dictionary<short, Field> _fields = [];

        public string Name => name;

        public IEnumerable<Field> Fields => _fields.Values;

        public Struct Add(short id, string field, ValueType type, bool dropped = false)
        {
            _fields.Add(id, new Field(id, field, type, dropped));
            return this;
        }

        public Field? Find(short id) => _fields.GetValueOrDefault(id);
    }

    /// <summary>The parts of parquet.thrift (format 2.11) a footer holds.</summary>
    internal static class Schema
    {
        private static readonly ValueType Bool = new(Kind.Bool);
        private static readonly ValueType I8 = new(Kind.I8);
        private static readonly ValueType I16 = new(Kind.I16);
        private static readonly ValueType I32 = new(Kind.I32);
        private static readonly ValueType I64 = new(Kind.I64);
        private static readonly ValueType Binary = new(Kind.Binary);
        private static readonly Struct Empty = new("(empty struct)");
        private static readonly Struct KeyValue = new Struct("KeyValue").Add(1, "key", Binary).Add(2, "value", Binary);
        private static readonly Struct TimeUnit = new Struct("TimeUnit").Add(1, "MILLIS", Of(Empty)).Add(2, "MICROS", Of(Empty)).Add(3, "NANOS", Of(Empty));
        private static readonly Struct LogicalType = new Struct("LogicalType")
            .Add(1, "STRING", Of(Empty)).Add(2, "MAP", Of(Empty)).Add(3, "LIST", Of(Empty)).Add(4, "ENUM", Of(Empty))
            .Add(5, "DECIMAL", Of(new Struct("DecimalType").Add(1, "scale", I32).Add(2, "precision", I32)))
            .Add(6, "DATE", Of(Empty))
            .Add(7, "TIME", Of(new Struct("TimeType").Add(1, "isAdjustedToUTC", Bool).Add(2, "unit", Of(TimeUnit))))
            .Add(8, "TIMESTAMP", Of(new Struct("TimestampType").Add(1, "isAdjustedToUTC", Bool).Add(2, "unit", Of(TimeUnit))))
            .Add(10, "INTEGER", Of(new Struct("IntType").Add(1, "bitWidth", I8).Add(2, "isSigned", Bool)))
            .Add(11, "UNKNOWN", Of(Empty)).Add(12, "JSON", Of(Empty)).Add(13, "BSON", Of(Empty)).Add(14, "UUID", Of(Empty))
            .Add(15, "FLOAT16", Of(Empty))
            .Add(16, "VARIANT", Of(new Struct("VariantType").Add(1, "specification_version", I8)))
            .Add(17, "GEOMETRY", Of(new Struct("GeometryType").Add(1, "crs", Binary)))
            .Add(18, "GEOGRAPHY", Of(new Struct("GeographyType").Add(1, "crs", Binary).Add(2, "algorithm", I32)));

        private static readonly Struct SchemaElement = new Struct("SchemaElement")
            .Add(1, "type", I32).Add(2, "type_length", I32).Add(3, "repetition_type", I32).Add(4, "name", Binary)
            .Add(5, "num_children", I32).Add(6, "converted_type", I32).Add(7, "scale", I32).Add(8, "precision", I32)
            .Add(9, "field_id", I32).Add(10, "logicalType", Of(LogicalType));

        private static readonly Struct ColumnMetaData = new Struct("ColumnMetaData")
            .Add(1, "type", I32).Add(2, "encodings", ListOf(I32)).Add(3, "path_in_schema", ListOf(Binary)).Add(4, "codec", I32)
            .Add(5, "num_values", I64).Add(6, "total_uncompressed_size", I64).Add(7, "total_compressed_size", I64)
            .Add(8, "key_value_metadata", ListOf(Of(KeyValue))).Add(9, "data_page_offset", I64).Add(10, "index_page_offset", I64)
            .Add(11, "dictionary_page_offset", I64)
            .Add(12, "statistics", Of(Empty), dropped: true)
            .Add(13, "encoding_stats", ListOf(Of(new Struct("PageEncodingStats").Add(1, "page_type", I32).Add(2, "encoding", I32).Add(3, "count", I32))))
            .Add(14, "bloom_filter_offset", I64).Add(15, "bloom_filter_length", I32)
            .Add(16, "size_statistics", Of(Empty), dropped: true)
            .Add(17, "geospatial_statistics", Of(Empty), dropped: true);

        private static readonly Struct ColumnChunk = new Struct("ColumnChunk")
            .Add(1, "file_path", Binary).Add(2, "file_offset", I64).Add(3, "meta_data", Of(ColumnMetaData))
            .Add(4, "offset_index_offset", I64).Add(5, "offset_index_length", I32).Add(6, "column_index_offset", I64)
            .Add(7, "column_index_length", I32)
            .Add(8, "crypto_metadata", Of(new Struct("ColumnCryptoMetaData")
                .Add(1, "ENCRYPTION_WITH_FOOTER_KEY", Of(Empty))
                .Add(2, "ENCRYPTION_WITH_COLUMN_KEY", Of(new Struct("EncryptionWithColumnKey").Add(1, "path_in_schema", ListOf(Binary)).Add(2, "key_metadata", Binary)))))
            .Add(9, "encrypted_column_metadata", Binary);

        private static readonly Struct RowGroup = new Struct("RowGroup")
            .Add(1, "columns", ListOf(Of(ColumnChunk))).Add(2, "total_byte_size", I64).Add(3, "num_rows", I64)
            .Add(4, "sorting_columns", ListOf(Of(new Struct("SortingColumn").Add(1, "column_idx", I32).Add(2, "descending", Bool).Add(3, "nulls_first", Bool))))
            .Add(5, "file_offset", I64).Add(6, "total_compressed_size", I64).Add(7, "ordinal", I16);

        public static Struct FileMetaData { get; } = new Struct("FileMetaData")
            .Add(1, "version", I32).Add(2, "schema", ListOf(Of(SchemaElement))).Add(3, "num_rows", I64)
            .Add(4, "row_groups", ListOf(Of(RowGroup))).Add(5, "key_value_metadata", ListOf(Of(KeyValue))).Add(6, "created_by", Binary)
            .Add(7, "column_orders", ListOf(Of(new Struct("ColumnOrder").Add(1, "TYPE_ORDER", Of(Empty)))))
            .Add(8, "encryption_algorithm", Of(new Struct("EncryptionAlgorithm")
                .Add(1, "AES_GCM_V1", Of(AesGcm("AesGcmV1"))).Add(2, "AES_GCM_CTR_V1", Of(AesGcm("AesGcmCtrV1")))))
            .Add(9, "footer_signing_key_metadata", Binary);

        /// <summary>Every struct reachable from <see cref="FileMetaData"/>, each once.</summary>
        public static IEnumerable<Struct> All()
        {
            var seen = new HashSet<Struct>();
            var pending = new Stack<Struct>([FileMetaData]);
            while (pending.TryPop(out var next))
            {
                if (!seen.Add(next))
                {
                    continue;
                }

                yield return next;
                foreach (var field in next.Fields)
                {
                    var type = field.Type.Element ?? field.Type;
                    if (type.Of is { } child)
                    {
                        pending.Push(child);
                    }
                }
            }
        }

        private static Struct AesGcm(string name) =>
            new Struct(name).Add(1, "aad_prefix", Binary).Add(2, "aad_file_unique", Binary).Add(3, "supply_aad_prefix", Bool);

        private static ValueType Of(Struct s) => new(Kind.Struct, Of: s);

        private static ValueType ListOf(ValueType element) => new(Kind.List, Element: element);
    }

    /// <summary>Copies a struct field by field, re-encoding field headers around the fields left out.</summary>
    private sealed class Copier(ThriftFileInput input, ArrayBufferWriter<byte> output)
    {
        private readonly ThriftCompactReader _reader = new(input);

        public void CopyStruct(Struct schema, int depth)
        {
            CheckDepth(depth);
            short lastIn = 0;
            short lastOut = 0;
            while (_reader.ReadFieldHeader(ref lastIn, out var type, out var id))
            {
                var field = schema.Find(id);
                if (type > ThriftCompactReader.Struct)
                {
                    throw new InvalidDataException(FormattableString.Invariant($"footer: {schema.Name} field {id} has thrift type {type}, which does not exist"));
                }

                if (field is null || field.Dropped)
                {
                    _reader.Skip(type, depth + 1);
                    continue;
                }

                var kind = type == ThriftCompactReader.BoolFalse ? (int)Kind.Bool : type;
                if (kind != (int)field.Type.Kind)
                {
                    throw new InvalidDataException(FormattableString.Invariant($"footer: {schema.Name}.{field.Name} has thrift type {type}, expected {(int)field.Type.Kind}"));
                }

                var outDelta = id - lastOut;
                if (outDelta is > 0 and <= 15)
                {
                    Write((byte)((outDelta << 4) | type));
                }
                else
                {
                    Write((byte)type);
                    WriteVarint((uint)((id << 1) ^ (id >> 31)));
                }

                lastOut = id;
                if (field.Type.Kind != Kind.Bool)
                {
                    CopyValue(field.Type, depth + 1);
                }
            }

            Write(0);
        }

        private void CopyValue(ValueType type, int depth)
        {
            CheckDepth(depth);
            switch (type.Kind)
            {
                case Kind.Bool:
                    var b = input.ReadByte(); // inside a list a boolean is one byte
                    Write(b is 0 or ThriftCompactReader.BoolTrue or ThriftCompactReader.BoolFalse
                        ? b
                        : throw new InvalidDataException(FormattableString.Invariant($"footer: a boolean of value {b}")));
                    return;
                case Kind.I8:
                    Write(input.ReadByte());
                    return;
                case Kind.I16 or Kind.I32 or Kind.I64:
                    CopyVarint(type.Kind == Kind.I64 ? 10 : 5);
                    return;
                case Kind.Binary:
                    input.CopyTo(output, CheckedSize(CopyVarint(5)));
                    return;
                case Kind.List:
                    {
                        var header = input.ReadByte();
                        Write(header);
                        var size = (ulong)(header >> 4);
                        if (size == 15)
                        {
                            size = CheckedSize(CopyVarint(5));
                        }

                        var element = type.Element!;
                        var elementType = header & 0x0F;
                        var expected = (int)element.Kind;
                        if (elementType != expected && !(element.Kind == Kind.Bool && elementType == ThriftCompactReader.BoolFalse) && size > 0)
                        {
                            throw new InvalidDataException(FormattableString.Invariant($"footer: a list of thrift type {elementType}, expected {expected}"));
                        }

                        for (ulong i = 0; i < size; i++)
                        {
                            CopyValue(element, depth + 1);
                        }

                        return;
                    }

                default:
                    CopyStruct(type.Of!, depth);
                    return;
            }
        }

        /// <summary>A binary length or list size Parquet.Net can hold in an int.</summary>
        private static ulong CheckedSize(ulong size) => size <= int.MaxValue
            ? size
            : throw new InvalidDataException(FormattableString.Invariant($"footer: a size of {size}"));

        private ulong CopyVarint(int maxBytes)
        {
            ulong value = 0;
            for (var i = 0; i < maxBytes; i++)
            {
                var b = input.ReadByte();
                Write(b);
                value |= (ulong)(b & 0x7F) << (7 * i);
                if ((b & 0x80) == 0)
                {
                    return value;
                }
            }

            throw new InvalidDataException("footer: a thrift varint too long");
        }

        private void WriteVarint(uint value)
        {
            while (value >= 0x80)
            {
                Write((byte)(value | 0x80));
                value >>= 7;
            }

            Write((byte)value);
        }

        private void Write(byte value)
        {
            output.GetSpan(1)[0] = value;
            output.Advance(1);
        }

        private static void CheckDepth(int depth)
        {
            if (depth > ThriftCompactReader.MaxDepth)
            {
                throw new InvalidDataException("footer: thrift structure nested too deeply");
            }
        }
    }

    /// <summary>
    /// The file's bytes up to <c>footerStart</c>, then a replacement footer, its 4-byte length and <c>PAR1</c>.
    /// Reads seek the file first, so the same file may be read through other views.
    /// </summary>
    private sealed class SplicedStream : SeekableReadOnlyStream
    {
        private readonly Stream _file;
        private readonly long _footerStart;
        private readonly byte[] _tail;

        public SplicedStream(Stream file, long footerStart, byte[] footer)
        {
            _file = file;
            _footerStart = footerStart;
            _tail = new byte[footer.Length + 8];
            footer.CopyTo(_tail, 0);
            BinaryPrimitives.WriteInt32LittleEndian(_tail.AsSpan(footer.Length), footer.Length);
            "PAR1"u8.CopyTo(_tail.AsSpan(footer.Length + 4));
        }

        public override long Length => _footerStart + _tail.Length;

        public override int Read(Span<byte> buffer)
        {
            if (Position >= Length || buffer.IsEmpty)
            {
                return 0;
            }

            int n;
            if (Position < _footerStart)
            {
                n = (int)Math.Min(buffer.Length, _footerStart - Position);
                _file.Seek(Position, SeekOrigin.Begin);
                n = _file.Read(buffer[..n]);
            }
            else
            {
                var from = (int)(Position - _footerStart);
                n = Math.Min(buffer.Length, _tail.Length - from);
                _tail.AsSpan(from, n).CopyTo(buffer);
            }

            Position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return ValueTask.FromResult(Read(buffer.Span));
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
