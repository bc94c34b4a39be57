using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TinyLlama.Data.Util;

/// <summary>
/// Writes JSON with sorted keys (ordinal), two-space indentation, arrays of scalars on one line, invariant
/// number formatting and a trailing newline: the same data always gives the same bytes, and the files
/// stay readable and diffable. Used for sidecars, manifests and cache metadata.
/// </summary>
public static class CanonicalJson
{
    private static readonly JsonSerializerOptions StringOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Serialize(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(sb, node, 0);
        sb.Append('\n');
        return sb.ToString();
    }

    public static byte[] SerializeToUtf8(JsonNode? node) => Encoding.UTF8.GetBytes(Serialize(node));

    private static void Write(StringBuilder sb, JsonNode? node, int indent)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject obj:
                WriteObject(sb, obj, indent);
                break;
            case JsonArray arr:
                WriteArray(sb, arr, indent);
                break;
            case JsonValue value:
                WriteScalar(sb, value);
                break;
            default:
                throw new InvalidOperationException("unknown node type");
        }
    }

    private static void WriteObject(StringBuilder sb, JsonObject obj, int indent)
    {
        if (obj.Count == 0)
        {
            sb.Append("{}");
            return;
        }

        var keys = obj.Select(p => p.Key).ToList();
        keys.Sort(StringComparer.Ordinal);
        sb.Append("{\n");
        for (var i = 0; i < keys.Count; i++)
        {
            sb.Append(' ', (indent + 1) * 2);
            sb.Append(JsonSerializer.Serialize(keys[i], StringOptions));
            sb.Append(": ");
            Write(sb, obj[keys[i]], indent + 1);
            sb.Append(i + 1 < keys.Count ? ",\n" : "\n");
        }

        sb.Append(' ', indent * 2);
        sb.Append('}');
    }

    private static void WriteArray(StringBuilder sb, JsonArray arr, int indent)
    {
        if (arr.Count == 0)
        {
            sb.Append("[]");
            return;
        }

        if (arr.All(n => n is JsonValue or null))
        {
            sb.Append('[');
            for (var i = 0; i < arr.Count; i++)
            {
                if (i > 0)
                {
                    sb.Append(", ");
                }

                Write(sb, arr[i], indent);
            }

            sb.Append(']');
            return;
        }

        sb.Append("[\n");
        for (var i = 0; i < arr.Count; i++)
        {
            sb.Append(' ', (indent + 1) * 2);
            Write(sb, arr[i], indent + 1);
            sb.Append(i + 1 < arr.Count ? ",\n" : "\n");
        }

        sb.Append(' ', indent * 2);
        sb.Append(']');
    }

    private static void WriteScalar(StringBuilder sb, JsonValue value)
    {
        switch (value.GetValueKind())
        {
            case JsonValueKind.String:
                sb.Append(JsonSerializer.Serialize(value.GetValue<string>(), StringOptions));
                break;
            case JsonValueKind.True:
                sb.Append("true");
                break;
            case JsonValueKind.False:
                sb.Append("false");
                break;
            case JsonValueKind.Null:
                sb.Append("null");
                break;
            case JsonValueKind.Number:
                if (value.TryGetValue<long>(out var l))
                {
                    sb.Append(l.ToString(CultureInfo.InvariantCulture));
                }
                else if (value.TryGetValue<int>(out var i))
                {
                    sb.Append(i.ToString(CultureInfo.InvariantCulture));
                }
                else if (value.TryGetValue<double>(out var d))
                {
                    if (double.IsNaN(d) || double.IsInfinity(d))
                    {
                        throw new InvalidOperationException("NaN or infinity cannot be written as JSON");
                    }

                    sb.Append(d == Math.Floor(d) && Math.Abs(d) < 1e15
                        ? d.ToString("F1", CultureInfo.InvariantCulture)
                        : d.ToString("R", CultureInfo.InvariantCulture));
                }
                else
                {
                    sb.Append(value.ToJsonString());
                }

                break;
            default:
                sb.Append(value.ToJsonString());
                break;
        }
    }
}
