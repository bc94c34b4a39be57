using System.Text.Json.Nodes;

namespace TinyLlama.Data.Tests.Infrastructure;

/// <summary>Reads a ../shared/data/*/MANIFEST.json: per data file, its records (i, kind, sha256, ...).</summary>
public static class Manifest
{
    public static IReadOnlyDictionary<string, IReadOnlyList<JsonObject>> Load(string path)
    {
        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var result = new SortedDictionary<string, IReadOnlyList<JsonObject>>(StringComparer.Ordinal);
        foreach (var (file, node) in root)
        {
            if (node is JsonObject o && o["records"] is JsonArray records)
            {
                result[file] = records.Select(r => r!.AsObject()).ToList();
            }
        }

        return result;
    }
}
