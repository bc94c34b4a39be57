namespace TinyLlama.Data.Packing;

/// <summary>
/// One piece of the output stream: tokens [<see cref="Start"/>, <see cref="End"/>) of a framed document
/// (the document's ids with the separator policy's BOS/EOS around them).
/// </summary>
/// <param name="Source">Source index in the spec.</param>
/// <param name="File">File index within the source (sorted order).</param>
/// <param name="Document">Document index within the file's token cache.</param>
/// <param name="Start">First framed token of the piece.</param>
/// <param name="End">One past the last framed token of the piece.</param>
/// <param name="Epoch">Pass over the source (0 = first).</param>
/// <param name="Stage">Stage index in the spec.</param>
public readonly record struct PackUnit(int Source, int File, int Document, long Start, long End, int Epoch, int Stage)
{
    public long Length => End - Start;
}
