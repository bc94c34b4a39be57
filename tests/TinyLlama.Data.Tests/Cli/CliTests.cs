using System.Text.Json.Nodes;
using TinyLlama.Data.Errors;
using TinyLlama.Data.Tests.Infrastructure;
using TinyLlama.Data.Tests.Pipeline;

namespace TinyLlama.Data.Tests.Cli;

public sealed class CliTests
{
    [Fact]
    public void A_bad_spec_gives_one_located_line_and_exit_code_2()
    {
        using var tmp = new TempDir();
        var spec = tmp.Write("spec.yaml", TinyLlamaCompatibleBuildTests.Spec("32784", "drop").Replace("  tail: drop", "  tail: drop\n  colour: blue", StringComparison.Ordinal));

        var r = CliRunner.Run(tmp.Path, "build", spec, "--out", tmp.Combine("out"));

        r.ExitCode.Should().Be(ExitCodes.BadSpec);
        r.StdErr.Trim().Split('\n').Should().ContainSingle().Which.Should().Contain("spec.yaml:").And.Contain("colour");
    }

    [Fact]
    public void Bad_input_gives_the_file_record_and_offset_and_exit_code_3()
    {
        using var tmp = new TempDir();
        tmp.Write("data/a.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"fine too\"}\nnot json at all\n");
        var spec = tmp.Write("spec.yaml", $"""
            tokenizer: {RepoPaths.DemoModel}
            sources:
              web:
                format: jsonl
                paths: ["data/*.jsonl"]
                order: sequential
            output:
              prefix: train
              chunk_size: 16
            """);

        var r = CliRunner.Run(tmp.Path, "build", spec, "--out", tmp.Combine("out"));

        r.ExitCode.Should().Be(ExitCodes.BadInput);
        var line = r.StdErr.Trim();
        line.Split('\n').Should().ContainSingle();
        line.Should().Contain("a.jsonl").And.Contain("record 2").And.Contain("byte offset 38");
        File.Exists(tmp.Combine("out", "manifest.json")).Should().BeFalse("a failed build must not look complete");
    }

    [Fact]
    public void A_temp_dir_that_cannot_hold_the_document_table_is_an_io_error_saying_how_much_it_needs()
    {
        using var tmp = new TempDir();
        var spec = tmp.Write("spec.yaml", TinyLlamaCompatibleBuildTests.Spec("32784", "drop"));
        var notAFolder = tmp.Write("not-a-folder", "a file where the temp folder should be");

        var r = CliRunner.Run(tmp.Path, "build", spec, "--out", tmp.Combine("out"), "--temp-dir", Path.Combine(notAFolder, "tmp"));

        r.ExitCode.Should().Be(ExitCodes.Io, r.StdErr);
        r.StdErr.Should().Contain(notAFolder).And.Contain("bytes (about 8 per document").And.Contain("--temp-dir");
        File.Exists(tmp.Combine("out", "manifest.json")).Should().BeFalse();

        var ok = CliRunner.Run(tmp.Path, "build", spec, "--out", tmp.Combine("out"), "--temp-dir", tmp.Combine("tmp"));
        ok.ExitCode.Should().Be(0, ok.StdErr);
        Directory.GetFileSystemEntries(tmp.Combine("tmp")).Should().BeEmpty("the table is unlinked as soon as it is open");
    }

    [Fact]
    public void Build_json_and_verify_json_are_machine_readable()
    {
        using var tmp = new TempDir();
        var spec = tmp.Write("spec.yaml", TinyLlamaCompatibleBuildTests.Spec("32784", "drop"));

        var build = CliRunner.Run(tmp.Path, "build", spec, "--out", tmp.Combine("out"), "--json", "--verify");
        build.ExitCode.Should().Be(0, build.StdErr);
        var summary = JsonNode.Parse(build.StdOut)!;
        ((bool)summary["verify"]!["ok"]!).Should().BeTrue();
        ((long)summary["output"]!["tail_dropped_tokens"]!).Should().BeGreaterThan(0);

        var verify = CliRunner.Run(tmp.Path, "verify", spec, tmp.Combine("out"), "--json");
        verify.ExitCode.Should().Be(0);
        ((bool)JsonNode.Parse(verify.StdOut)!["ok"]!).Should().BeTrue();

        File.Delete(tmp.Combine("out", "train_slimpajama_0000000004.bin"));
        var broken = CliRunner.Run(tmp.Path, "verify", spec, tmp.Combine("out"));
        broken.ExitCode.Should().Be(ExitCodes.VerifyFailed);
        broken.StdOut.Should().Contain("VIOLATION train_slimpajama_0000000004.bin: missing shard");
    }

    [Fact]
    public void An_unknown_command_is_a_usage_error() =>
        CliRunner.Run(Path.GetTempPath(), "bulid").ExitCode.Should().Be(ExitCodes.Usage);
}
