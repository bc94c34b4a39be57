using System.Text;

namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>
/// Edits a sentencepiece model file at the protobuf level, to make models that spm_train does not produce
/// (for example with UNUSED pieces). Only rewrites the top-level <c>pieces</c> (field 1) it is asked to.
/// </summary>
internal static class ModelProtoEditor
{
    /// <summary>Sets the type (SentencePiece field 3) of the named pieces.</summary>
    public static byte[] SetPieceTypes(byte[] model, IReadOnlyCollection<string> pieces, int newType)
    {
        ArgumentNullException.ThrowIfNull(model);
        var output = new MemoryStream();
        var position = 0;
        var changed = 0;
        while (position < model.Length)
        {
            var start = position;
            var tag = ReadVarint(model, ref position);
            var wireType = (int)(tag & 7);
            if (wireType != 2)
            {
                throw new InvalidDataException("the model has a top-level field that is not length-delimited");
            }

            var length = (int)ReadVarint(model, ref position);
            var body = model.AsSpan(position, length);
            position += length;
            if (tag >> 3 == 1 && pieces.Contains(PieceText(body)))
            {
                var rewritten = new MemoryStream();
                var p = 0;
                while (p < body.Length)
                {
                    var fieldStart = p;
                    var fieldTag = ReadVarint(body, ref p);
                    SkipValue(body, ref p, (int)(fieldTag & 7));
                    if (fieldTag >> 3 != 3)
                    {
                        rewritten.Write(body[fieldStart..p]);
                    }
                }

                WriteVarint(rewritten, (3 << 3) | 0);
                WriteVarint(rewritten, (ulong)newType);
                WriteVarint(output, tag);
                WriteVarint(output, (ulong)rewritten.Length);
                output.Write(rewritten.ToArray());
                changed++;
            }
            else
            {
                output.Write(model.AsSpan(start, position - start));
            }
        }

        if (changed != pieces.Count)
        {
            throw new InvalidDataException($"found {changed} of the {pieces.Count} pieces to change");
        }

        return output.ToArray();
    }

    /// <summary>The text of every piece, in id order.</summary>
    public static IReadOnlyList<string> PieceTexts(byte[] model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var texts = new List<string>();
        var position = 0;
        while (position < model.Length)
        {
            var tag = ReadVarint(model, ref position);
            var length = (int)ReadVarint(model, ref position);
            if (tag == ((1 << 3) | 2))
            {
                texts.Add(PieceText(model.AsSpan(position, length)));
            }

            position += length;
        }

        return texts;
    }

    private static string PieceText(ReadOnlySpan<byte> body)
    {
        var p = 0;
        while (p < body.Length)
        {
            var tag = ReadVarint(body, ref p);
            if (tag == ((1 << 3) | 2))
            {
                var length = (int)ReadVarint(body, ref p);
                return Encoding.UTF8.GetString(body.Slice(p, length));
            }

            SkipValue(body, ref p, (int)(tag & 7));
        }

        return "";
    }

    private static void SkipValue(ReadOnlySpan<byte> data, ref int p, int wireType)
    {
        switch (wireType)
        {
            case 0:
                ReadVarint(data, ref p);
                break;
            case 1:
                p += 8;
                break;
            case 2:
                var length = (int)ReadVarint(data, ref p);
                p += length;
                break;
            case 5:
                p += 4;
                break;
            default:
                throw new InvalidDataException($"wire type {wireType}");
        }
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> data, ref int p)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[p++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }

    private static void WriteVarint(Stream stream, ulong value)
    {
        while (value >= 0x80)
        {
            stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        stream.WriteByte((byte)value);
    }
}
