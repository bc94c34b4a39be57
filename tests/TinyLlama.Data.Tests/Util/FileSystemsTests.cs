using FluentAssertions;
using TinyLlama.Data.Util;
using Xunit;

namespace TinyLlama.Data.Tests.Util;

public sealed class FileSystemsTests
{
    private static readonly string[] MountInfo =
    [
        "27 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw",
        "30 27 0:25 / /tmp rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=4096k",
        "31 27 254:2 / /tmpfoo rw - ext4 /dev/vda2 rw",
        "32 27 254:3 / /mnt/my\\040disk rw master:7 - xfs /dev/vdb rw",
        "33 30 0:26 / /tmp/ram rw - ramfs ramfs rw",
        "garbage line without the separator",
    ];

    [Theory]
    [InlineData("/", "ext4")]
    [InlineData("/work/out", "ext4")]
    [InlineData("/tmp", "tmpfs")]
    [InlineData("/tmp/x/y", "tmpfs")]
    [InlineData("/tmpfoo/x", "ext4")]
    [InlineData("/mnt/my disk/cache", "xfs")]
    [InlineData("/mnt/my", "ext4")]
    [InlineData("/tmp/ram/table", "ramfs")]
    public void The_longest_mount_point_holding_the_path_gives_its_type(string path, string type) =>
        FileSystems.TypeOf(path, MountInfo).Should().Be(type);

    [Fact]
    public void Without_mount_information_the_type_is_unknown() =>
        FileSystems.TypeOf("/tmp", null).Should().BeNull();

    [Fact]
    public void This_machine_s_proc_is_found_where_linux_has_one()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/mountinfo"))
        {
            FileSystems.TypeOf("/proc").Should().BeNull();
            return;
        }

        FileSystems.TypeOf("/proc").Should().Be("proc");
        FileSystems.IsInMemory("/proc").Should().BeFalse();
    }
}
