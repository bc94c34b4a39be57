namespace TinyLlama.Data.Mixtures;

/// <summary>
/// One scheduling unit: tokens <c>[Start, End)</c> of document <see cref="Document"/> (id in the source's cache
/// order) of source <see cref="Source"/>, drawn in epoch <see cref="Epoch"/> (0-based), placed in the output
/// stream at token <see cref="Position"/>. <see cref="Stage"/> is the stage that contains the unit's first token;
/// a unit may run across a stage boundary.
/// </summary>
public readonly record struct ScheduledUnit(int Source, int Epoch, int Document, long Start, long End, long Position, int Stage)
{
    /// <summary>Tokens in the unit.</summary>
    public long Length => End - Start;
}
