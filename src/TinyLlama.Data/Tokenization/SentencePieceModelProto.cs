using System.Buffers.Binary;
using System.Text;

namespace TinyLlama.Data.Tokenization;

/// <summary>The piece types of sentencepiece's <c>ModelProto.SentencePiece.Type</c>.</summary>
internal enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>One entry of the vocabulary: the piece text, its score and its type.</summary>
internal readonly record struct ModelPiece(string Piece, float Score, PieceType Type);

/// <summary>
/// The fields of sentencepiece's <c>ModelProto</c> (sentencepiece_model.proto, proto2) that decide how text
/// is encoded. Absent fields take the proto2 defaults written in that file; fields we do not use are skipped.
/// </summary>
internal sealed class SentencePieceModelProto
{
    // TrainerSpec.ModelType
    public const int ModelTypeUnigram = 1;
    public const int ModelTypeBpe = 2;

    public List<ModelPiece> Pieces { get; } = [];

    public int ModelType { get; private set; } = ModelTypeUnigram;
    public bool ByteFallback { get; private set; }
    public bool TreatWhitespaceAsSuffix { get; private set; }
    public int UnkId { get; private set; }
    public int BosId { get; private set; } = 1;
    public int EosId { get; private set; } = 2;
    public int PadId { get; private set; } = -1;
    public string UnkSurface { get; private set; } = " \u2047 ";

    public string NormalizerName { get; private set; } = "";
    public int PrecompiledCharsmapLength { get; private set; }
    public bool AddDummyPrefix { get; private set; } = true;
    public bool RemoveExtraWhitespaces { get; private set; } = true;
    public bool EscapeWhitespaces { get; private set; } = true;

    /// <summary>Parses the protobuf bytes; throws <see cref="FormatException"/> on anything malformed.</summary>
    public static SentencePieceModelProto Parse(ReadOnlySpan<byte> data)
    {
        var model = new SentencePieceModelProto();
        var reader = new ProtoReader(data);
        while (!reader.End)
        {
            var (field, wireType) = reader.ReadTag();
            switch (field)
            {
                case 1 when wireType == ProtoReader.LengthDelimited:
                    model.Pieces.Add(ParsePiece(reader.ReadBytes()));
                    break;
                case 2 when wireType == ProtoReader.LengthDelimited:
                    model.ParseTrainerSpec(reader.ReadBytes());
                    break;
                case 3 when wireType == ProtoReader.LengthDelimited:
                    model.ParseNormalizerSpec(reader.ReadBytes());
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }

        return model;
    }

    private static ModelPiece ParsePiece(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data);
        string? piece = null;
        var score = 0f;
        var type = PieceType.Normal;
        while (!reader.End)
        {
            var (field, wireType) = reader.ReadTag();
            switch (field)
            {
                case 1 when wireType == ProtoReader.LengthDelimited:
                    piece = ProtoReader.DecodeString(reader.ReadBytes());
                    break;
                case 2 when wireType == ProtoReader.Fixed32:
                    score = reader.ReadFloat();
                    break;
                case 3 when wireType == ProtoReader.Varint:
                    var value = reader.ReadVarint();
                    if (value is < 1 or > 6)
                    {
                        throw new FormatException(FormattableString.Invariant($"unknown piece type {value}"));
                    }

                    type = (PieceType)value;
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }

        return new ModelPiece(piece ?? throw new FormatException("a piece has no text"), score, type);
    }

    private void ParseTrainerSpec(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data);
        while (!reader.End)
        {
            var (field, wireType) = reader.ReadTag();
            switch (field)
            {
                case 3 when wireType == ProtoReader.Varint:
                    ModelType = (int)reader.ReadVarint();
                    break;
                case 24 when wireType == ProtoReader.Varint:
                    TreatWhitespaceAsSuffix = reader.ReadVarint() != 0;
                    break;
                case 35 when wireType == ProtoReader.Varint:
                    ByteFallback = reader.ReadVarint() != 0;
                    break;
                case 40 when wireType == ProtoReader.Varint:
                    UnkId = (int)reader.ReadVarint();
                    break;
                case 41 when wireType == ProtoReader.Varint:
                    BosId = (int)reader.ReadVarint();
                    break;
                case 42 when wireType == ProtoReader.Varint:
                    EosId = (int)reader.ReadVarint();
                    break;
                case 43 when wireType == ProtoReader.Varint:
                    PadId = (int)reader.ReadVarint();
                    break;
                case 44 when wireType == ProtoReader.LengthDelimited:
                    UnkSurface = ProtoReader.DecodeString(reader.ReadBytes());
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }
    }

    private void ParseNormalizerSpec(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data);
        while (!reader.End)
        {
            var (field, wireType) = reader.ReadTag();
            switch (field)
            {
                case 1 when wireType == ProtoReader.LengthDelimited:
                    NormalizerName = ProtoReader.DecodeString(reader.ReadBytes());
                    break;
                case 2 when wireType == ProtoReader.LengthDelimited:
                    PrecompiledCharsmapLength = reader.ReadBytes().Length;
                    break;
                case 3 when wireType == ProtoReader.Varint:
                    AddDummyPrefix = reader.ReadVarint() != 0;
                    break;
                case 4 when wireType == ProtoReader.Varint:
                    RemoveExtraWhitespaces = reader.ReadVarint() != 0;
                    break;
                case 5 when wireType == ProtoReader.Varint:
                    EscapeWhitespaces = reader.ReadVarint() != 0;
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }
    }

    /// <summary>A minimal reader of the protobuf wire format over a span; every overrun is a <see cref="FormatException"/>.</summary>
    private ref struct ProtoReader(ReadOnlySpan<byte> data)
    {
        public const int Varint = 0;
        public const int Fixed64 = 1;
        public const int LengthDelimited = 2;
        public const int Fixed32 = 5;

        private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public readonly bool End => _position >= _data.Length;

        public (int Field, int WireType) ReadTag()
        {
            var tag = ReadVarint();
            var field = tag >> 3;
            if (field is 0 or > int.MaxValue)
            {
                throw new FormatException("invalid field number");
            }

            return ((int)field, (int)(tag & 7));
        }

        public ulong ReadVarint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_position >= _data.Length)
                {
                    throw new FormatException("truncated varint");
                }

                var b = _data[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw new FormatException("varint longer than 10 bytes");
        }

        public float ReadFloat() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

        public ReadOnlySpan<byte> ReadBytes()
        {
            var length = ReadVarint();
            if (length > (ulong)(_data.Length - _position))
            {
                throw new FormatException("length-delimited field runs past the end of its message");
            }

            return Take((int)length);
        }

        public void Skip(int wireType)
        {
            switch (wireType)
            {
                case Varint:
                    ReadVarint();
                    break;
                case Fixed64:
                    Take(8);
                    break;
                case LengthDelimited:
                    ReadBytes();
                    break;
                case Fixed32:
                    Take(4);
                    break;
                default:
                    throw new FormatException(FormattableString.Invariant($"unsupported wire type {wireType}"));
            }
        }

        public static string DecodeString(ReadOnlySpan<byte> bytes)
        {
            try
            {
                return StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException e)
            {
                throw new FormatException("a string field is not valid UTF-8", e);
            }
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > _data.Length - _position)
            {
                throw new FormatException("field runs past the end of its message");
            }

            var slice = _data.Slice(_position, count);
            _position += count;
            return slice;
        }
    }
}
