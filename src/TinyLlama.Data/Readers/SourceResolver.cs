using TinyLlama.Data.Errors;

namespace TinyLlama.Data.Readers;

/// <summary>Turns a <see cref="SourceSpec"/> into files and reader options (presets, globs, subsets).</summary>
public static class SourceResolver
{
    /// <summary>The filter SlimPajama gets unless <see cref="SourceSpec.NoDefaultFilters"/>: TinyLlama drops GitHub.</summary>
    public static RecordFilter SlimPajamaNoGithub { get; } =
        new("no_github", "meta.redpajama_set_name", FilterMode.Exclude, ["RedPajamaGithub"]);

    /// <summary>
    /// Resolves the source's files (absolute paths, sorted by ordinal comparison of the path relative to the
    /// root or glob base) and reader options. Throws <see cref="Errors.SpecException"/> when nothing matches.
    /// </summary>
    public static ResolvedSource Resolve(SourceSpec spec, string specDirectory)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(specDirectory);
        var context = new Context(spec, specDirectory);
        var (files, textField, defaults) = spec.Format switch
        {
            "slimpajama" => (SlimPajama(context), "text", new[] { SlimPajamaNoGithub }),
            "starcoder" => (StarCoder(context), "content", []),
            "proof-pile" => (ProofPile(context), "text", []),
            "proof-pile-2" => (ProofPile2(context), "text", []),
            "skypile" => (SkyPile(context), "text", []),
            "jsonl" => (Generic(context, parquet: false), "text", []),
            "parquet" => (Generic(context, parquet: true), "content", []),
            _ => throw context.Error(
                $"unknown format '{spec.Format}' (expected slimpajama, starcoder, proof-pile, proof-pile-2, skypile, jsonl or parquet)"),
        };

        if (spec.Format is not ("jsonl" or "parquet") && spec.Paths.Count > 0)
        {
            throw context.Error($"'paths' is for the generic formats jsonl and parquet; the {spec.Format} preset takes 'root'");
        }

        var filters = (spec.NoDefaultFilters ? [] : defaults).Concat(spec.Filters).ToList();
        foreach (var filter in filters)
        {
            if (string.IsNullOrWhiteSpace(filter.Field) || filter.Values.Count == 0)
            {
                throw context.Error($"filter '{filter.Name}' needs a field and at least one value");
            }
        }

        var options = new ReaderOptions
        {
            TextField = spec.TextField ?? textField,
            Filters = filters,
            OnBadRecord = spec.OnBadRecord,
            OnInvalidText = spec.OnInvalidText,
        };
        return new ResolvedSource(spec, files, options);
    }

    private static List<string> SlimPajama(Context c)
    {
        var split = c.Split("train", "train", "validation", "test");
        c.NoSubsets();
        return Sorted(c.Preset($"{split}/chunk*/*.jsonl.zst"));
    }

    private static List<string> StarCoder(Context c)
    {
        c.Split("train", "train");
        var languages = c.Subsets("*/train-*.parquet");
        return Sorted(languages.SelectMany(l => c.Preset($"{l}/train-*.parquet")));
    }

    private static List<string> ProofPile(Context c)
    {
        var split = c.Split("train", "train", "dev", "test");
        c.NoSubsets();
        return Sorted(c.Preset($"{split}/*.jsonl.gz"));
    }

    private static List<string> ProofPile2(Context c)
    {
        var split = c.Split("train", "train", "validation", "test");
        var subsets = c.Subsets($"*/{split}/*.jsonl.zst");
        return Sorted(subsets.SelectMany(s => c.Preset($"{s}/{split}/*.jsonl.zst")));
    }

    private static List<string> SkyPile(Context c)
    {
        c.Split("train", "train");
        c.NoSubsets();
        return Sorted(c.Preset("data/*.jsonl"));
    }

    private static List<string> Generic(Context c, bool parquet)
    {
        if (c.Spec.Paths.Count == 0)
        {
            throw c.Error($"format {c.Spec.Format} needs 'paths' (globs relative to the spec)");
        }

        if (c.Spec.Root is not null || c.Spec.Split is not null)
        {
            throw c.Error($"format {c.Spec.Format} takes 'paths', not 'root'/'split'");
        }

        c.NoSubsets();
        var found = new List<(string Relative, string Full)>();
        foreach (var pattern in c.Spec.Paths)
        {
            var matches = Glob.Match(c.SpecDirectory, pattern);
            if (matches.Count == 0)
            {
                throw c.Error($"no files match '{pattern}' (relative to {c.SpecDirectory})");
            }

            found.AddRange(matches);
        }

        foreach (var (relative, _) in found)
        {
            var ok = parquet
                ? relative.EndsWith(".parquet", StringComparison.Ordinal)
                : relative.EndsWith(".jsonl", StringComparison.Ordinal) || relative.EndsWith(".jsonl.gz", StringComparison.Ordinal)
                    || relative.EndsWith(".jsonl.zst", StringComparison.Ordinal);
            if (!ok)
            {
                throw c.Error($"'{relative}' matched but is not a {(parquet ? ".parquet" : ".jsonl/.jsonl.gz/.jsonl.zst")} file; narrow the glob");
            }
        }

        return Sorted(found.DistinctBy(f => f.Full, StringComparer.Ordinal));
    }

    /// <summary>Reading order: ordinal comparison of the path relative to the root or the spec folder.</summary>
    private static List<string> Sorted(IEnumerable<(string Relative, string Full)> files) =>
        files.OrderBy(f => f.Relative, StringComparer.Ordinal).Select(f => f.Full).ToList();

    private sealed class Context(SourceSpec spec, string specDirectory)
    {
        public SourceSpec Spec { get; } = spec;

        public string SpecDirectory { get; } = Path.GetFullPath(specDirectory);

        private string RootDirectory
        {
            get
            {
                if (string.IsNullOrWhiteSpace(Spec.Root))
                {
                    throw Error($"the {Spec.Format} preset needs 'root' (the corpus folder)");
                }

                var root = Path.GetFullPath(Path.Combine(SpecDirectory, Spec.Root));
                return Directory.Exists(root) ? root : throw Error($"root folder '{root}' does not exist");
            }
        }

        public SpecException Error(string problem) => new(SpecDirectory, 0, 0, $"source '{Spec.Name}': {problem}");

        /// <summary>The split folder name; <c>validation</c> and <c>dev</c> name the same split.</summary>
        public string Split(string defaultSplit, params string[] folders)
        {
            var split = Spec.Split ?? defaultSplit;
            if (split == "validation" && !folders.Contains("validation") && folders.Contains("dev"))
            {
                split = "dev";
            }
            else if (split == "dev" && !folders.Contains("dev") && folders.Contains("validation"))
            {
                split = "validation";
            }

            return folders.Contains(split)
                ? split
                : throw Error($"split '{Spec.Split}' is not one of {string.Join(", ", folders)} for {Spec.Format}");
        }

        public void NoSubsets()
        {
            if (Spec.Include.Count > 0 || Spec.Exclude.Count > 0)
            {
                throw Error($"the {Spec.Format} format has no subsets to include or exclude");
            }
        }

        /// <summary>Subset folders (first segment of files matching the pattern) after include/exclude.</summary>
        public List<string> Subsets(string pattern)
        {
            var root = RootDirectory;
            var found = Glob.Match(root, pattern).Select(m => m.RelativePath.Split('/')[0])
                .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            var unknown = Spec.Include.Concat(Spec.Exclude).Where(s => !found.Contains(s)).ToList();
            if (unknown.Count > 0)
            {
                throw Error($"unknown subset(s) {string.Join(", ", unknown)}; found: {(found.Count == 0 ? "none" : string.Join(", ", found))} (files '{pattern}' under {root})");
            }

            var chosen = found.Where(s => (Spec.Include.Count == 0 || Spec.Include.Contains(s)) && !Spec.Exclude.Contains(s)).ToList();
            return chosen.Count > 0
                ? chosen
                : throw Error($"include/exclude leave no subset (found: {string.Join(", ", found)})");
        }

        /// <summary>Files under the root matching the preset's pattern; none is an error.</summary>
        public IReadOnlyList<(string RelativePath, string FullPath)> Preset(string pattern)
        {
            var root = RootDirectory;
            var matches = Glob.Match(root, pattern);
            return matches.Count > 0
                ? matches
                : throw Error($"no files match '{pattern}' under {root}");
        }
    }
}
