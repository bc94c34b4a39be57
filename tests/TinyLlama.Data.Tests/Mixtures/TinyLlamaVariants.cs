using TinyLlama.Data.Mixtures;

namespace TinyLlama.Data.Tests.Mixtures;

/// <summary>The stages of TinyLlama v1.1's three variants (docs/scheduler.md).</summary>
internal static class TinyLlamaVariants
{
    public const long Stage1 = 1_500_000_000_000;
    public const long Stage2 = 350_000_000_000;
    public const long Cooldown = 150_000_000_000;
    public const long Ramp = 6_000_000_000;

    /// <summary>Sources: slimpajama.</summary>
    public static readonly MixtureStage[] V11Stages =
    [
        new("basic", Stage1, [100]),
        new("domain", Stage2, [100]),
        new("cooldown", Cooldown, [100]),
    ];

    /// <summary>Sources: slimpajama, starcoder, proof-pile.</summary>
    public static readonly MixtureStage[] MathAndCodeStages =
    [
        new("basic", Stage1, [100, 0, 0]),
        new("domain", Stage2, [75, 15, 10], RampTokens: Ramp),
        new("cooldown", Cooldown, [75, 15, 10]),
    ];

    /// <summary>Sources: slimpajama, skypile.</summary>
    public static readonly MixtureStage[] ChineseStages =
    [
        new("basic", Stage1, [100, 0]),
        new("domain", Stage2, [50, 50], RampTokens: Ramp),
        new("cooldown", Cooldown, [50, 50]),
    ];
}
