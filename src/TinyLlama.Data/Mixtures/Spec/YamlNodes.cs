using System.Globalization;
using TinyLlama.Data.Errors;
using YamlDotNet.RepresentationModel;

namespace TinyLlama.Data.Mixtures.Spec;

/// <summary>
/// Strict reading of a YAML mapping: every key must be consumed, so an unknown or misspelt key is an error
/// with its line and column. Values are converted with their own location in every error message.
/// </summary>
internal sealed class YamlMap
{
    private readonly string _file;
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

    public YamlMap(string file, YamlNode node, string what)
    {
        _file = file;
        if (node is not YamlMappingNode map)
        {
            throw Error(file, node, $"{what} must be a mapping (key: value)");
        }

        Node = map;
    }

    public YamlMappingNode Node { get; }

    public IEnumerable<KeyValuePair<string, YamlNode>> Entries =>
        Node.Children.Select(kv => new KeyValuePair<string, YamlNode>(((YamlScalarNode)kv.Key).Value ?? "", kv.Value));

    public YamlNode? Get(string key)
    {
        _seen.Add(key);
        return Node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;
    }

    public YamlNode Required(string key, string what)
    {
        var node = Get(key);
        return node ?? throw Error(_file, Node, $"{what} needs the key '{key}'");
    }

    public string? String(string key)
    {
        var node = Get(key);
        return node is null ? null : Scalar(_file, node, key);
    }

    public long? Tokens(string key)
    {
        var node = Get(key);
        return node is null ? null : ParseTokens(_file, node, key);
    }

    public long? Long(string key)
    {
        var node = Get(key);
        if (node is null)
        {
            return null;
        }

        var text = Scalar(_file, node, key);
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw Error(_file, node, $"'{key}' must be an integer, not '{text}'");
    }

    public double? Double(string key)
    {
        var node = Get(key);
        return node is null ? null : ParseDouble(_file, node, key);
    }

    public bool? Bool(string key)
    {
        var node = Get(key);
        if (node is null)
        {
            return null;
        }

        var text = Scalar(_file, node, key);
        return text switch
        {
            "true" or "yes" => true,
            "false" or "no" => false,
            _ => throw Error(_file, node, $"'{key}' must be true or false, not '{text}'"),
        };
    }

    public IReadOnlyList<string> StringList(string key)
    {
        var node = Get(key);
        if (node is null)
        {
            return [];
        }

        if (node is YamlScalarNode)
        {
            return [Scalar(_file, node, key)];
        }

        if (node is not YamlSequenceNode seq)
        {
            throw Error(_file, node, $"'{key}' must be a list of strings");
        }

        return seq.Children.Select(c => Scalar(_file, c, key)).ToList();
    }

    public T Enum<T>(string key, T fallback, IReadOnlyDictionary<string, T> names)
    {
        var node = Get(key);
        if (node is null)
        {
            return fallback;
        }

        var text = Scalar(_file, node, key);
        return names.TryGetValue(text, out var value)
            ? value
            : throw Error(_file, node, $"'{key}' must be one of {string.Join(", ", names.Keys)}; got '{text}'");
    }

    /// <summary>Throws for the first key that no Get asked for.</summary>
    public void RejectUnknown(string what)
    {
        foreach (var (key, value) in Node.Children)
        {
            var name = ((YamlScalarNode)key).Value ?? "";
            if (!_seen.Contains(name))
            {
                throw Error(_file, key, $"unknown key '{name}' in {what}; allowed: {string.Join(", ", _seen.Order(StringComparer.Ordinal))}");
            }
        }
    }

    public static string Scalar(string file, YamlNode node, string what) =>
        node is YamlScalarNode { Value: { } v }
            ? v
            : throw Error(file, node, $"'{what}' must be a single value");

    public static double ParseDouble(string file, YamlNode node, string what)
    {
        var text = Scalar(file, node, what);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
            ? v
            : throw Error(file, node, $"'{what}' must be a number, not '{text}'");
    }

    /// <summary>A token count: an integer, optionally with a decimal suffix K, M, B or T (e.g. <c>1.5T</c>, <c>6B</c>).</summary>
    public static long ParseTokens(string file, YamlNode node, string what)
    {
        var text = Scalar(file, node, what).Replace("_", "", StringComparison.Ordinal).Trim();
        if (text.Length == 0)
        {
            throw Error(file, node, $"'{what}' is empty");
        }

        var multiplier = char.ToUpperInvariant(text[^1]) switch
        {
            'K' => 1e3m,
            'M' => 1e6m,
            'B' => 1e9m,
            'T' => 1e12m,
            _ => 1m,
        };
        var number = multiplier == 1m ? text : text[..^1];
        if (!decimal.TryParse(number, NumberStyles.Number, CultureInfo.InvariantCulture, out var value))
        {
            throw Error(file, node, $"'{what}' must be a token count like 2049, 6B or 1.5T; got '{text}'");
        }

        var tokens = value * multiplier;
        if (tokens != decimal.Truncate(tokens) || tokens < 0 || tokens > long.MaxValue)
        {
            throw Error(file, node, $"'{what}' must be a whole, non-negative number of tokens; got '{text}'");
        }

        return (long)tokens;
    }

    public static SpecException Error(string file, YamlNode node, string problem) =>
        new(file, node.Start.Line, node.Start.Column, problem);
}
