using TinyLlama.Data.Shards;

namespace TinyLlama.Data.Pipeline;

/// <summary>
/// Where a build puts things. Shards sit at the top of the output folder (TinyLlama's loader globs
/// <c>{prefix}*</c> there), everything else in names a prefix can never match:
/// <code>
/// OUT/{prefix}_0000000000.bin      shards (LITPKDS)
/// OUT/sidecars/{shard}.json        what each shard holds
/// OUT/manifest.json                the build manifest (written last)
/// OUT/cache/                       token caches, unless --cache points elsewhere
/// </code>
/// </summary>
public sealed class OutputLayout(string directory, string prefix)
{
    public const string SidecarFolder = "sidecars";
    public const string ManifestName = "manifest.json";
    public const string CacheFolder = "cache";

    public static readonly IReadOnlyList<string> ReservedNames = [SidecarFolder, ManifestName, CacheFolder];

    public string Directory { get; } = Path.GetFullPath(directory);

    public string Prefix { get; } = prefix;

    public string ManifestPath => Path.Combine(Directory, ManifestName);

    public string SidecarDirectory => Path.Combine(Directory, SidecarFolder);

    public string DefaultCacheDirectory => Path.Combine(Directory, CacheFolder);

    public string ShardName(long index) => LitPkdsFormat.ShardName(Prefix, index);

    public string ShardPath(long index) => Path.Combine(Directory, ShardName(index));

    public string SidecarPath(string shardName) => Path.Combine(SidecarDirectory, Path.ChangeExtension(shardName, ".json"));
}
