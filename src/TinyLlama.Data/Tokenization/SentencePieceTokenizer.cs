namespace TinyLlama.Data.Tokenization;

/// <summary>
/// A SentencePiece BPE tokenizer read from a <c>tokenizer.model</c> file, giving the ids sentencepiece's
/// <c>encode</c> gives (no BOS/EOS added). Immutable and safe to use from many threads at once.
/// </summary>
public sealed class SentencePieceTokenizer
{
    private SentencePieceTokenizer() { }

    /// <summary>Loads and validates a model; throws <see cref="Errors.SpecException"/> for one we cannot encode exactly.</summary>
    public static SentencePieceTokenizer Load(string modelPath) => throw new NotImplementedException();

    public int VocabularySize { get; }

    public int BosId { get; }

    public int EosId { get; }

    public int UnkId { get; }

    /// <summary>Lower-case hex sha256 of the model file's bytes.</summary>
    public string ModelSha256 { get; } = "";

    /// <summary>Appends the ids of <paramref name="utf8Text"/> (valid UTF-8) to <paramref name="ids"/>.</summary>
    public void Encode(ReadOnlySpan<byte> utf8Text, List<int> ids) => throw new NotImplementedException();

    /// <summary>Encodes a string; lone surrogates become U+FFFD first.</summary>
    public int[] Encode(string text) => throw new NotImplementedException();

    /// <summary>The text of the ids (byte pieces joined back into UTF-8, the dummy prefix removed).</summary>
    public string Decode(ReadOnlySpan<int> ids) => throw new NotImplementedException();
}
