using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Util;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace TinyLlama.Data.Mixtures.Spec;

/// <summary>
/// Loads a build spec (YAML, see docs/spec.md). Strict: unknown keys, wrong types and contradictions are
/// <see cref="SpecException"/>s with the file, line and column. <c>extends: base.yaml</c> deep-merges a base
/// spec under this one (mappings merge key by key, anything else is replaced).
/// </summary>
public static class SpecLoader
{
    private static readonly Dictionary<string, SeparatorPolicy> Separators = new(StringComparer.Ordinal)
    {
        ["doc+eos"] = SeparatorPolicy.DocEos,
        ["bos+doc"] = SeparatorPolicy.BosDoc,
        ["bos+doc+eos"] = SeparatorPolicy.BosDocEos,
    };

    private static readonly Dictionary<string, TailPolicy> Tails = new(StringComparer.Ordinal)
    {
        ["drop"] = TailPolicy.Drop,
        ["pad"] = TailPolicy.Pad,
    };

    private static readonly Dictionary<string, SourceOrder> Orders = new(StringComparer.Ordinal)
    {
        ["shuffled"] = SourceOrder.Shuffled,
        ["sequential"] = SourceOrder.Sequential,
    };

    private static readonly Dictionary<string, BadRecordPolicy> BadPolicies = new(StringComparer.Ordinal)
    {
        ["fail"] = BadRecordPolicy.Fail,
        ["skip"] = BadRecordPolicy.Skip,
    };

    private static readonly Dictionary<string, InvalidTextPolicy> TextPolicies = new(StringComparer.Ordinal)
    {
        ["replace"] = InvalidTextPolicy.Replace,
        ["reject"] = InvalidTextPolicy.Reject,
    };

    public static readonly IReadOnlyList<string> Formats =
        ["slimpajama", "starcoder", "proof-pile", "proof-pile-2", "skypile", "jsonl", "parquet"];

    public static BuildSpec Load(string path)
    {
        var full = Path.GetFullPath(path);
        var root = LoadMerged(full, []);
        return Parse(full, root);
    }

    public static BuildSpec Parse(string specPath, string yaml) => Parse(specPath, ParseYaml(specPath, yaml));

    private static YamlMappingNode LoadMerged(string path, List<string> chain)
    {
        if (chain.Contains(path, StringComparer.Ordinal))
        {
            throw new SpecException(path, 0, 0, "extends forms a cycle: " + string.Join(" -> ", chain.Append(path)));
        }

        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpecException(path, 0, 0, "cannot read the spec: " + e.Message, e);
        }

        var node = ParseYaml(path, text);
        if (!node.Children.TryGetValue(new YamlScalarNode("extends"), out var extendsNode))
        {
            return node;
        }

        var basePath = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, YamlMap.Scalar(path, extendsNode, "extends")));
        if (!File.Exists(basePath))
        {
            throw YamlMap.Error(path, extendsNode, $"extends: no such file {basePath}");
        }

        var merged = LoadMerged(basePath, [.. chain, path]);
        node.Children.Remove(new YamlScalarNode("extends"));
        return Merge(merged, node);
    }

    private static YamlMappingNode Merge(YamlMappingNode baseNode, YamlMappingNode over)
    {
        var result = new YamlMappingNode();
        foreach (var (k, v) in baseNode.Children)
        {
            result.Children[k] = v;
        }

        foreach (var (k, v) in over.Children)
        {
            result.Children[k] = result.Children.TryGetValue(k, out var existing)
                && existing is YamlMappingNode em && v is YamlMappingNode vm
                ? Merge(em, vm)
                : v;
        }

        return result;
    }

    private static YamlMappingNode ParseYaml(string path, string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new SpecException(path, e.Start.Line, e.Start.Column, "not valid YAML: " + e.Message, e);
        }

        if (stream.Documents.Count != 1)
        {
            throw new SpecException(path, 0, 0, "the spec must hold exactly one YAML document");
        }

        return stream.Documents[0].RootNode as YamlMappingNode
            ?? throw YamlMap.Error(path, stream.Documents[0].RootNode, "the spec must be a mapping at the top level");
    }

    private static BuildSpec Parse(string specPath, YamlMappingNode rootNode)
    {
        var dir = Path.GetDirectoryName(specPath)!;
        var root = new YamlMap(specPath, rootNode, "the spec");
        var version = root.Long("version") ?? 1;
        if (version != 1)
        {
            throw YamlMap.Error(specPath, root.Get("version")!, $"spec version {version} is not supported (this tool reads version 1)");
        }

        var seedNode = root.Get("seed");
        ulong seed = 0;
        if (seedNode is not null && !ulong.TryParse(YamlMap.Scalar(specPath, seedNode, "seed"), NumberStyles.Integer, CultureInfo.InvariantCulture, out seed))
        {
            throw YamlMap.Error(specPath, seedNode, "'seed' must be a non-negative integer");
        }

        var tokenizerNode = root.Required("tokenizer", "the spec");
        var tokenizerPath = ParseTokenizer(specPath, dir, tokenizerNode);

        var sourcesNode = new YamlMap(specPath, root.Required("sources", "the spec"), "sources");
        var sources = new List<MixtureSourceSpec>();
        foreach (var (name, node) in sourcesNode.Entries)
        {
            sources.Add(ParseSource(specPath, name, node));
        }

        if (sources.Count == 0)
        {
            throw YamlMap.Error(specPath, sourcesNode.Node, "the spec needs at least one source");
        }

        var names = sources.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var stagesNode = root.Get("stages");
        var stages = stagesNode is null
            ? [new StageSpec { Name = "main", Weights = sources.ToDictionary(s => s.Name, _ => 1.0, StringComparer.Ordinal) }]
            : ParseStages(specPath, stagesNode, names);

        var output = ParseOutput(specPath, root.Required("output", "the spec"));
        var trainerNode = root.Get("trainer");
        var trainer = trainerNode is null ? null : ParseTrainer(specPath, trainerNode, output);
        var schedulerNode = root.Get("scheduler");
        var maxUnit = 8192;
        if (schedulerNode is not null)
        {
            var sm = new YamlMap(specPath, schedulerNode, "scheduler");
            maxUnit = (int)(sm.Tokens("max_unit_tokens") ?? maxUnit);
            sm.RejectUnknown("scheduler");
            if (maxUnit < 16)
            {
                throw YamlMap.Error(specPath, schedulerNode, "scheduler.max_unit_tokens must be at least 16");
            }
        }

        root.RejectUnknown("the spec");

        if (stages.Count > 1 && stages.Any(s => s.Tokens is null))
        {
            throw YamlMap.Error(specPath, stagesNode!, "with several stages every stage needs a token budget ('tokens: 1.5T')");
        }

        var spec = new BuildSpec
        {
            SpecPath = specPath,
            Version = (int)version,
            Seed = seed,
            TokenizerPath = tokenizerPath,
            Sources = sources,
            Stages = stages,
            Output = output,
            Trainer = trainer,
            MaxUnitTokens = maxUnit,
            SpecHash = "",
            CanonicalJson = "",
        };
        var canonical = CanonicalJson.Serialize(ToJson(spec));
        return spec with { CanonicalJson = canonical, SpecHash = Hashing.Sha256Hex(Encoding.UTF8.GetBytes(canonical)) };
    }

    private static string ParseTokenizer(string specPath, string dir, YamlNode node)
    {
        string rel;
        if (node is YamlMappingNode)
        {
            var m = new YamlMap(specPath, node, "tokenizer");
            rel = YamlMap.Scalar(specPath, m.Required("model", "tokenizer"), "model");
            m.RejectUnknown("tokenizer");
        }
        else
        {
            rel = YamlMap.Scalar(specPath, node, "tokenizer");
        }

        var full = Path.GetFullPath(Path.Combine(dir, rel));
        return File.Exists(full) ? full : throw YamlMap.Error(specPath, node, $"tokenizer model not found: {full}");
    }

    private static MixtureSourceSpec ParseSource(string specPath, string name, YamlNode node)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            throw YamlMap.Error(specPath, node, $"source name '{name}' must be letters, digits, '-', '_' or '.'");
        }

        var m = new YamlMap(specPath, node, $"source '{name}'");
        var formatNode = m.Required("format", $"source '{name}'");
        var format = YamlMap.Scalar(specPath, formatNode, "format");
        if (!Formats.Contains(format, StringComparer.Ordinal))
        {
            throw YamlMap.Error(specPath, formatNode, $"unknown format '{format}'; one of {string.Join(", ", Formats)}");
        }

        var filters = new List<RecordFilter>();
        var filtersNode = m.Get("filters");
        if (filtersNode is not null)
        {
            if (filtersNode is not YamlSequenceNode seq)
            {
                throw YamlMap.Error(specPath, filtersNode, "'filters' must be a list");
            }

            foreach (var f in seq.Children)
            {
                filters.Add(ParseFilter(specPath, f, filters.Count));
            }
        }

        var reader = new SourceSpec
        {
            Name = name,
            Format = format,
            Root = m.String("root"),
            Split = m.String("split"),
            Paths = m.StringList("paths"),
            Include = m.StringList("include"),
            Exclude = m.StringList("exclude"),
            TextField = m.String("text_field"),
            Filters = filters,
            NoDefaultFilters = m.Bool("no_default_filters") ?? false,
            OnBadRecord = m.Enum("on_bad_record", BadRecordPolicy.Fail, BadPolicies),
            MaxBadRecords = m.Long("max_bad_records") ?? 1000,
            OnInvalidText = m.Enum("on_invalid_text", InvalidTextPolicy.Replace, TextPolicies),
        };
        var maxEpochs = m.Double("max_epochs") ?? 1;
        if (maxEpochs <= 0)
        {
            throw YamlMap.Error(specPath, m.Get("max_epochs")!, "'max_epochs' must be positive");
        }

        var source = new MixtureSourceSpec
        {
            Reader = reader,
            Order = m.Enum("order", SourceOrder.Shuffled, Orders),
            MaxEpochs = maxEpochs,
            DeclaredTokens = m.Tokens("declared_tokens"),
            DeclaredDocuments = m.Tokens("declared_documents"),
        };
        m.RejectUnknown($"source '{name}'");
        if (format is "jsonl" or "parquet" && reader.Paths.Count == 0)
        {
            throw YamlMap.Error(specPath, node, $"source '{name}' (format {format}) needs 'paths' (globs relative to the spec)");
        }

        if (format is not ("jsonl" or "parquet") && reader.Root is null && reader.Paths.Count == 0)
        {
            throw YamlMap.Error(specPath, node, $"source '{name}' (format {format}) needs 'root': the corpus folder");
        }

        return source;
    }

    private static RecordFilter ParseFilter(string specPath, YamlNode node, int index)
    {
        var m = new YamlMap(specPath, node, "a filter");
        var field = YamlMap.Scalar(specPath, m.Required("field", "a filter"), "field");
        var include = m.Get("include");
        var exclude = m.Get("exclude");
        if ((include is null) == (exclude is null))
        {
            throw YamlMap.Error(specPath, node, "a filter needs exactly one of 'include' or 'exclude'");
        }

        var mode = include is not null ? FilterMode.Include : FilterMode.Exclude;
        var values = m.StringList(include is not null ? "include" : "exclude");
        var name = m.String("name") ?? string.Create(CultureInfo.InvariantCulture, $"filter{index}_{field}");
        m.RejectUnknown("a filter");
        return new RecordFilter(name, field, mode, values);
    }

    private static List<StageSpec> ParseStages(string specPath, YamlNode node, HashSet<string> sourceNames)
    {
        if (node is not YamlSequenceNode seq || seq.Children.Count == 0)
        {
            throw YamlMap.Error(specPath, node, "'stages' must be a non-empty list");
        }

        var stages = new List<StageSpec>();
        foreach (var stageNode in seq.Children)
        {
            var m = new YamlMap(specPath, stageNode, "a stage");
            var name = m.String("name") ?? string.Create(CultureInfo.InvariantCulture, $"stage{stages.Count + 1}");
            var tokensNode = m.Get("tokens");
            long? tokens = tokensNode is null || YamlMap.Scalar(specPath, tokensNode, "tokens") == "all"
                ? null
                : YamlMap.ParseTokens(specPath, tokensNode, "tokens");
            var weightsNode = m.Required("weights", $"stage '{name}'");
            var weights = ParseWeights(specPath, weightsNode, sourceNames, $"stage '{name}' weights");
            if (weights.Values.Sum() <= 0)
            {
                throw YamlMap.Error(specPath, weightsNode, $"stage '{name}': the weights must not all be 0");
            }

            RampSpec? ramp = null;
            var rampNode = m.Get("ramp");
            if (rampNode is not null)
            {
                var rm = new YamlMap(specPath, rampNode, "a ramp");
                var rampTokens = rm.Tokens("tokens") ?? throw YamlMap.Error(specPath, rampNode, "a ramp needs 'tokens'");
                var fromNode = rm.Get("from");
                var from = fromNode is null ? null : ParseWeights(specPath, fromNode, sourceNames, "ramp 'from'");
                rm.RejectUnknown("a ramp");
                if (from is null && stages.Count == 0)
                {
                    throw YamlMap.Error(specPath, rampNode, "the first stage's ramp needs 'from' weights (there is no previous stage)");
                }

                if (tokens is not null && rampTokens > tokens)
                {
                    throw YamlMap.Error(specPath, rampNode, FormattableString.Invariant($"the ramp ({rampTokens} tokens) is longer than its stage ({tokens})"));
                }

                ramp = new RampSpec(rampTokens, from);
            }

            var batch = m.Tokens("batch_tokens");
            m.RejectUnknown($"stage '{name}'");
            stages.Add(new StageSpec { Name = name, Tokens = tokens, Weights = weights, Ramp = ramp, BatchTokens = batch });
        }

        return stages;
    }

    private static Dictionary<string, double> ParseWeights(string specPath, YamlNode node, HashSet<string> sourceNames, string what)
    {
        var m = new YamlMap(specPath, node, what);
        var weights = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, value) in m.Entries)
        {
            if (!sourceNames.Contains(name))
            {
                throw YamlMap.Error(specPath, value, $"{what}: '{name}' is not a source of this spec ({string.Join(", ", sourceNames)})");
            }

            var w = YamlMap.ParseDouble(specPath, value, name);
            if (w < 0)
            {
                throw YamlMap.Error(specPath, value, $"{what}: weight of '{name}' must not be negative");
            }

            weights[name] = w;
        }

        return weights;
    }

    private static OutputSpec ParseOutput(string specPath, YamlNode node)
    {
        var m = new YamlMap(specPath, node, "output");
        var prefixNode = m.Required("prefix", "output");
        var prefix = YamlMap.Scalar(specPath, prefixNode, "prefix");
        if (prefix.Length == 0 || prefix.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            throw YamlMap.Error(specPath, prefixNode, "output.prefix must be letters, digits, '-', '_' or '.'");
        }

        foreach (var reserved in Pipeline.OutputLayout.ReservedNames)
        {
            if (reserved.StartsWith(prefix, StringComparison.Ordinal))
            {
                throw YamlMap.Error(specPath, prefixNode, $"output.prefix '{prefix}' would match '{reserved}' in the output folder (a trainer picks shards by prefix)");
            }
        }

        var chunk = m.Tokens("chunk_size") ?? Shards.LitPkdsFormat.DefaultChunkSize;
        if (chunk < 1 || chunk > int.MaxValue / 4)
        {
            throw YamlMap.Error(specPath, m.Get("chunk_size")!, "output.chunk_size must be between 1 and 536870911 tokens");
        }

        var pad = m.Long("pad_id");
        var output = new OutputSpec
        {
            Prefix = prefix,
            ChunkSize = chunk,
            Separator = m.Enum("separator", SeparatorPolicy.DocEos, Separators),
            Tail = m.Enum("tail", TailPolicy.Drop, Tails),
            PadId = pad is null ? null : checked((int)pad),
        };
        m.RejectUnknown("output");
        return output;
    }

    private static TrainerSpec ParseTrainer(string specPath, YamlNode node, OutputSpec output)
    {
        var m = new YamlMap(specPath, node, "trainer");
        var t = new TrainerSpec
        {
            BlockSize = m.Tokens("block_size") ?? 2049,
            WorldSize = (int)(m.Long("world_size") ?? 1),
            Workers = (int)(m.Long("workers") ?? 1),
            BufferFiles = (int)(m.Long("buffer_files") ?? 8),
        };
        m.RejectUnknown("trainer");
        if (t.BlockSize < 2 || t.WorldSize < 1 || t.Workers < 1 || t.BufferFiles < 1)
        {
            throw YamlMap.Error(specPath, node, "trainer: block_size ≥ 2, world_size, workers and buffer_files ≥ 1");
        }

        if (output.ChunkSize % t.BlockSize != 0)
        {
            throw YamlMap.Error(specPath, node, FormattableString.Invariant(
                $"output.chunk_size {output.ChunkSize} is not a multiple of trainer.block_size {t.BlockSize}: the trainer's blocks never span files, so the remainder of every shard would be lost"));
        }

        return t;
    }

    /// <summary>The merged spec as JSON (what the spec hash covers). Paths are as resolved.</summary>
    public static JsonObject ToJson(BuildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var sources = new JsonObject();
        foreach (var s in spec.Sources)
        {
            var r = s.Reader;
            sources[s.Name] = new JsonObject
            {
                ["format"] = r.Format,
                ["root"] = r.Root,
                ["split"] = r.Split,
                ["paths"] = new JsonArray([.. r.Paths.Select(p => (JsonNode?)p)]),
                ["include"] = new JsonArray([.. r.Include.Select(p => (JsonNode?)p)]),
                ["exclude"] = new JsonArray([.. r.Exclude.Select(p => (JsonNode?)p)]),
                ["text_field"] = r.TextField,
                ["filters"] = new JsonArray([.. r.Filters.Select(f => (JsonNode?)f.ToJson())]),
                ["no_default_filters"] = r.NoDefaultFilters,
                ["on_bad_record"] = r.OnBadRecord == BadRecordPolicy.Fail ? "fail" : "skip",
                ["max_bad_records"] = r.MaxBadRecords,
                ["on_invalid_text"] = r.OnInvalidText == InvalidTextPolicy.Replace ? "replace" : "reject",
                ["order"] = s.Order == SourceOrder.Shuffled ? "shuffled" : "sequential",
                ["max_epochs"] = s.MaxEpochs,
                ["declared_tokens"] = s.DeclaredTokens,
                ["declared_documents"] = s.DeclaredDocuments,
            };
        }

        var stages = new JsonArray();
        foreach (var st in spec.Stages)
        {
            var weights = new JsonObject();
            foreach (var (k, v) in st.Weights)
            {
                weights[k] = v;
            }

            JsonObject? ramp = null;
            if (st.Ramp is not null)
            {
                JsonObject? from = null;
                if (st.Ramp.From is not null)
                {
                    from = [];
                    foreach (var (k, v) in st.Ramp.From)
                    {
                        from[k] = v;
                    }
                }

                ramp = new JsonObject { ["tokens"] = st.Ramp.Tokens, ["from"] = from };
            }

            stages.Add(new JsonObject
            {
                ["name"] = st.Name,
                ["tokens"] = st.Tokens is null ? "all" : JsonValue.Create(st.Tokens.Value),
                ["weights"] = weights,
                ["ramp"] = ramp,
                ["batch_tokens"] = st.BatchTokens,
            });
        }

        return new JsonObject
        {
            ["version"] = spec.Version,
            ["seed"] = spec.Seed.ToString(CultureInfo.InvariantCulture),
            ["tokenizer"] = Path.GetFileName(spec.TokenizerPath),
            ["sources"] = sources,
            ["stages"] = stages,
            ["output"] = new JsonObject
            {
                ["prefix"] = spec.Output.Prefix,
                ["chunk_size"] = spec.Output.ChunkSize,
                ["separator"] = SeparatorName(spec.Output.Separator),
                ["tail"] = spec.Output.Tail == TailPolicy.Drop ? "drop" : "pad",
                ["pad_id"] = spec.Output.PadId,
            },
            ["trainer"] = spec.Trainer is null ? null : new JsonObject
            {
                ["block_size"] = spec.Trainer.BlockSize,
                ["world_size"] = spec.Trainer.WorldSize,
                ["workers"] = spec.Trainer.Workers,
                ["buffer_files"] = spec.Trainer.BufferFiles,
            },
            ["scheduler"] = new JsonObject { ["max_unit_tokens"] = spec.MaxUnitTokens },
        };
    }

    public static string SeparatorName(SeparatorPolicy policy) => policy switch
    {
        SeparatorPolicy.DocEos => "doc+eos",
        SeparatorPolicy.BosDoc => "bos+doc",
        SeparatorPolicy.BosDocEos => "bos+doc+eos",
        _ => throw new ArgumentOutOfRangeException(nameof(policy)),
    };

    public static SeparatorPolicy ParseSeparator(string name) =>
        Separators.TryGetValue(name, out var p) ? p : throw new ArgumentException($"unknown separator policy '{name}'", nameof(name));
}
