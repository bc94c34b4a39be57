namespace TinyLlama.Data.Util;

/// <summary>What kind of file system a folder is on (Linux: from <c>/proc/self/mountinfo</c>).</summary>
internal static class FileSystems
{
    /// <summary>
    /// The type (<c>ext4</c>, <c>tmpfs</c>, …) of the mount that holds <paramref name="path"/>: the longest
    /// mount point that is a prefix of its full path, symbolic links of the folder itself resolved. Null where
    /// it cannot be told (not Linux, no <c>/proc</c>).
    /// </summary>
    public static string? TypeOf(string path) => TypeOf(path, MountInfo());

    /// <summary>True when files under <paramref name="path"/> live in memory (<c>tmpfs</c>, <c>ramfs</c>).</summary>
    public static bool IsInMemory(string path) => TypeOf(path) is "tmpfs" or "ramfs";

    /// <summary><see cref="TypeOf(string)"/> against the given <c>mountinfo</c> lines (tests give their own).</summary>
    internal static string? TypeOf(string path, IReadOnlyList<string>? mountInfo)
    {
        if (mountInfo is null)
        {
            return null;
        }

        var full = Path.GetFullPath(path);
        try
        {
            if (new DirectoryInfo(full).ResolveLinkTarget(returnFinalTarget: true) is { } target)
            {
                full = target.FullName;
            }
        }
        catch (IOException)
        {
            // Not there yet, or unreadable: judge by the path as given.
        }

        string? best = null;
        var bestLength = -1;
        foreach (var line in mountInfo)
        {
            // id parent major:minor root mount-point options [optional fields…] - type source super-options
            var fields = line.Split(' ');
            var dash = Array.IndexOf(fields, "-");
            if (fields.Length < 5 || dash < 0 || dash + 1 >= fields.Length)
            {
                continue;
            }

            var mount = Unescape(fields[4]);
            var inside = full == mount || mount == "/" || full.StartsWith(mount.TrimEnd('/') + "/", StringComparison.Ordinal);
            if (inside && mount.Length > bestLength)
            {
                best = fields[dash + 1];
                bestLength = mount.Length;
            }
        }

        return best;
    }

    private static string[]? MountInfo()
    {
        try
        {
            return OperatingSystem.IsLinux() && File.Exists("/proc/self/mountinfo") ? File.ReadAllLines("/proc/self/mountinfo") : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>mountinfo writes space, tab, newline and backslash in mount points as octal escapes (<c>\040</c>).</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var sb = new System.Text.StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                sb.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                sb.Append(field[i]);
            }
        }

        return sb.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
