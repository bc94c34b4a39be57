namespace TinyLlama.Data.Mixtures;

/// <summary>
/// One stage of a mixture schedule: <see cref="Tokens"/> tokens (this stage only, not cumulative) whose target
/// shares end at <see cref="Weights"/>. Over the first <see cref="RampTokens"/> tokens of the stage each share
/// moves linearly from the ramp's start weights (<see cref="RampFrom"/>, or the previous stage's weights when
/// that is null) to <see cref="Weights"/>; after the ramp it holds. Weights are per source, in the order of the
/// sources; each is finite and non-negative, their sum is positive, and they are normalised internally (so
/// <c>75, 15, 10</c> and <c>0.75, 0.15, 0.10</c> are the same stage).
/// </summary>
public sealed record MixtureStage(
    string Name,
    long Tokens,
    IReadOnlyList<double> Weights,
    long RampTokens = 0,
    IReadOnlyList<double>? RampFrom = null);
