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

    private static readonly string Spaces = new(' ', 64);

    public static string Serialize(JsonNode? node)
    {
        using var w = new StringWriter(CultureInfo.InvariantCulture);
        Write(w, node, 0);
        w.Write('\n');
        return w.ToString();
    }

    public static byte[] SerializeToUtf8(JsonNode? node) => Encoding.UTF8.GetBytes(Serialize(node));

    /// <summary>
    /// Writes <paramref name="root"/> with one more member, <paramref name="key"/>, whose value is an array of the
    /// objects <paramref name="items"/> gives, each serialized as it comes and then dropped: the bytes are those of
    /// <see cref="Serialize"/> on the whole tree, without ever holding the array (a manifest of a million shards).
    /// </summary>
    public static void WriteStreamingArray(TextWriter writer, JsonObject root, string key, IEnumerable<JsonObject> items)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(items);
        if (root.ContainsKey(key))
        {
            throw new ArgumentException("the streamed key is already a member of the object", nameof(key));
        }

        // An array of objects is laid out one item a line, as WriteArray lays out any array not all scalars.
        WriteObject(writer, root, 0, (key, indent => WriteLines(writer, items, indent)));
        writer.Write('\n');
    }

    private static void Indent(TextWriter w, int level)
    {
        for (var n = level * 2; n > 0; n -= Spaces.Length)
        {
            w.Write(Spaces.AsSpan(0, Math.Min(n, Spaces.Length)));
        }
    }

    private static void Write(TextWriter w, JsonNode? node, int indent)
    {
        switch (node)
        {
            case null:
                w.Write("null");
                break;
            case JsonObject obj:
                WriteObject(w, obj, indent);
                break;
            case JsonArray arr:
                WriteArray(w, arr, indent);
                break;
            case JsonValue value:
                WriteScalar(w, value);
                break;
            default:
                throw new InvalidOperationException("unknown node type");
        }
    }

    /// <summary>An object; <paramref name="streamed"/>, when given, is one more member whose value writes itself at the given indent.</summary>
    private static void WriteObject(TextWriter w, JsonObject obj, int indent, (string Key, Action<int> Write)? streamed = null)
    {
        var keys = obj.Select(p => p.Key).ToList();
        if (streamed is { } extra)
        {
            keys.Add(extra.Key);
        }

        if (keys.Count == 0)
        {
            w.Write("{}");
            return;
        }

        keys.Sort(StringComparer.Ordinal);
        w.Write("{\n");
        for (var i = 0; i < keys.Count; i++)
        {
            Indent(w, indent + 1);
            w.Write(JsonSerializer.Serialize(keys[i], StringOptions));
            w.Write(": ");
            if (streamed is { } s && keys[i] == s.Key)
            {
                s.Write(indent + 1);
            }
            else
            {
                Write(w, obj[keys[i]], indent + 1);
            }

            w.Write(i + 1 < keys.Count ? ",\n" : "\n");
        }

        Indent(w, indent);
        w.Write('}');
    }

    private static void WriteArray(TextWriter w, JsonArray arr, int indent)
    {
        if (arr.Count == 0)
        {
            w.Write("[]");
            return;
        }

        if (arr.All(n => n is JsonValue or null))
        {
            w.Write('[');
            for (var i = 0; i < arr.Count; i++)
            {
                if (i > 0)
                {
                    w.Write(", ");
                }

                Write(w, arr[i], indent);
            }

            w.Write(']');
            return;
        }

        WriteLines(w, arr, indent);
    }

    /// <summary>An array one item a line (<c>[]</c> when empty), closed at <paramref name="indent"/>; the items are taken as they come.</summary>
    private static void WriteLines(TextWriter w, IEnumerable<JsonNode?> items, int indent)
    {
        var first = true;
        foreach (var item in items)
        {
            w.Write(first ? "[\n" : ",\n");
            first = false;
            Indent(w, indent + 1);
            Write(w, item, indent + 1);
        }

        if (first)
        {
            w.Write("[]");
            return;
        }

        w.Write('\n');
        Indent(w, indent);
        w.Write(']');
    }

    private static void WriteScalar(TextWriter w, JsonValue value)
    {
        switch (value.GetValueKind())
        {
            case JsonValueKind.String:
                w.Write(JsonSerializer.Serialize(value.GetValue<string>(), StringOptions));
                break;
            case JsonValueKind.True:
                w.Write("true");
                break;
            case JsonValueKind.False:
                w.Write("false");
                break;
            case JsonValueKind.Null:
                w.Write("null");
                break;
            case JsonValueKind.Number:
                if (value.TryGetValue<long>(out var l))
                {
                    w.Write(l.ToString(CultureInfo.InvariantCulture));
                }
                else if (value.TryGetValue<int>(out var i))
                {
                    w.Write(i.ToString(CultureInfo.InvariantCulture));
                }
                else if (value.TryGetValue<double>(out var d))
                {
                    if (double.IsNaN(d) || double.IsInfinity(d))
                    {
                        throw new InvalidOperationException("NaN or infinity cannot be written as JSON");
                    }

                    w.Write(d == Math.Floor(d) && Math.Abs(d) < 1e15
                        ? d.ToString("F1", CultureInfo.InvariantCulture)
                        : d.ToString("R", CultureInfo.InvariantCulture));
                }
                else
                {
                    w.Write(value.ToJsonString());
                }

                break;
            default:
                w.Write(value.ToJsonString());
                break;
        }
    }
}
