namespace TinyLlama.Data.Mixtures;

/// <summary>
/// Where one source's cursor stands: in epoch <see cref="Epoch"/>, at position <see cref="Index"/> of that
/// epoch's document order, <see cref="Offset"/> tokens into that document, having emitted <see cref="Emitted"/>
/// tokens in total (all epochs, all stages).
/// </summary>
public sealed record SourceCursor(int Epoch, int Index, long Offset, long Emitted);

/// <summary>
/// The complete state of a schedule after its first <see cref="Position"/> tokens: enough to resume the stream
/// exactly there (<see cref="MixtureSchedule.OpenCursor"/>), so a worker can pack a shard range on its own.
/// <see cref="InFlight"/> is the source whose unit was cut at <see cref="Position"/> (its remaining tokens come
/// first on resume), or -1 when <see cref="Position"/> is a unit boundary. Plain data: serialises as JSON.
/// </summary>
public sealed record SchedulerState(long Position, int InFlight, IReadOnlyList<SourceCursor> Sources);
