using TinyLlama.Data.Mixtures.Spec;

namespace TinyLlama.Data.Packing;

/// <summary>How a document's ids are framed by the separator policy.</summary>
public readonly record struct Framing(bool Bos, bool Eos, int BosId, int EosId)
{
    public static Framing For(SeparatorPolicy policy, int bosId, int eosId) => policy switch
    {
        SeparatorPolicy.DocEos => new Framing(false, true, bosId, eosId),
        SeparatorPolicy.BosDoc => new Framing(true, false, bosId, eosId),
        SeparatorPolicy.BosDocEos => new Framing(true, true, bosId, eosId),
        _ => throw new ArgumentOutOfRangeException(nameof(policy)),
    };

    public int Extra => (Bos ? 1 : 0) + (Eos ? 1 : 0);

    public long FramedLength(long documentTokens) => documentTokens + Extra;
}
