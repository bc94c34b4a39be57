namespace TinyLlama.Data.Tests;

public sealed class SmokeTests
{
    [Fact]
    public void Exit_codes_are_distinct() =>
        new[] { Errors.ExitCodes.BadSpec, Errors.ExitCodes.BadInput, Errors.ExitCodes.BadShard }.Should().OnlyHaveUniqueItems();
}
