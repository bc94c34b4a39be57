namespace TinyLlama.Data.Readers;

/// <summary>
/// File globs: <c>*</c> and <c>?</c> within one path segment, <c>**</c> for any number of segments. Matching is
/// ordinal (case-sensitive). Results are absolute paths sorted by ordinal comparison of the path relative to the
/// base directory, with <c>/</c> separators, so the order is the same on every machine.
/// </summary>
internal static class Glob
{
    public static bool HasWildcard(string segment) => segment.AsSpan().IndexOfAny('*', '?') >= 0;

    /// <summary>Files matching <paramref name="pattern"/>, relative to <paramref name="baseDirectory"/> unless rooted.</summary>
    public static IReadOnlyList<(string RelativePath, string FullPath)> Match(string baseDirectory, string pattern)
    {
        var normalized = pattern.Replace('\\', '/');
        var rooted = Path.IsPathRooted(normalized);
        var segments = normalized.Split('/', StringSplitOptions.RemoveEmptyEntries);

        // The literal leading segments name the folder to search from.
        var literal = 0;
        while (literal < segments.Length - 1 && !HasWildcard(segments[literal]))
        {
            literal++;
        }

        var prefix = string.Join('/', segments.Take(literal));
        var searchRoot = rooted ? Path.GetFullPath("/" + prefix) : Path.GetFullPath(Path.Combine(baseDirectory, prefix));
        var rest = segments[literal..];
        var results = new List<(string, string)>();
        if (rest.Length == 1 && !HasWildcard(rest[0]))
        {
            var full = Path.Combine(searchRoot, rest[0]);
            if (File.Exists(full))
            {
                results.Add((Join(prefix, rest[0]), Path.GetFullPath(full)));
            }

            return results;
        }

        if (!Directory.Exists(searchRoot))
        {
            return results;
        }

        foreach (var full in Directory.EnumerateFiles(searchRoot, "*", new EnumerationOptions
                 {
                     RecurseSubdirectories = rest.Length > 1 || rest.Contains("**"),
                     IgnoreInaccessible = false,
                     AttributesToSkip = 0,
                     MatchType = MatchType.Simple,
                 }))
        {
            var relative = Path.GetRelativePath(searchRoot, full).Replace('\\', '/');
            if (MatchSegments(rest, relative.Split('/')))
            {
                results.Add((Join(prefix, relative), full));
            }
        }

        results.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return results;
    }

    internal static bool MatchSegments(ReadOnlySpan<string> pattern, ReadOnlySpan<string> path)
    {
        if (pattern.IsEmpty)
        {
            return path.IsEmpty;
        }

        if (pattern[0] == "**")
        {
            for (var skip = 0; skip <= path.Length; skip++)
            {
                if (MatchSegments(pattern[1..], path[skip..]))
                {
                    return true;
                }
            }

            return false;
        }

        return !path.IsEmpty && MatchName(pattern[0], path[0]) && MatchSegments(pattern[1..], path[1..]);
    }

    internal static bool MatchName(ReadOnlySpan<char> pattern, ReadOnlySpan<char> name)
    {
        // Iterative wildcard match with backtracking to the last '*'.
        int p = 0, n = 0, star = -1, mark = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == name[n]))
            {
                p++;
                n++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = n;
            }
            else if (star >= 0)
            {
                p = star + 1;
                n = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    private static string Join(string prefix, string relative) => prefix.Length == 0 ? relative : prefix + "/" + relative;
}
