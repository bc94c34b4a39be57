using System.Runtime.ExceptionServices;
using TinyLlama.Data.Pipeline;
using TinyLlama.Data.Readers;
using TinyLlama.Data.Tokenization;

namespace TinyLlama.Data.Cache;

/// <summary>
/// Builds cache entries for a list of input files on exactly <c>threads</c> threads (the caller's and
/// threads − 1 more), with one file's records spread over all of them. There are no dedicated reader or
/// writer threads: every thread takes, in this order of preference,
/// <list type="number">
/// <item>writing: the next batch in file order of a file whose writer is free (frees memory first);</item>
/// <item>tokenizing: the oldest batch read and not yet tokenized;</item>
/// <item>reading: the next batch of the oldest open file whose reader is free, or opening the next file
///   (at most <c>threads</c> files open at once), while fewer than 2 × threads + 2 batches are in flight.</item>
/// </list>
/// Batches are cut by the reader alone and written strictly in sequence, and the tokenizer is a pure
/// function of the text, so every cache file is byte-identical whatever the thread count. Memory is
/// bounded by the in-flight cap (each batch is about 1 MiB of text unless one document is larger).
/// </summary>
internal sealed class CacheBuildPool
{
    private readonly object _lock = new();
    private readonly TokenCache _cache;
    private readonly IReadOnlyList<(string Path, ReaderOptions Options, string BasePath)> _jobs;
    private readonly int _threads;
    private readonly int _maxInFlight;
    private readonly BuildProgress? _progress;
    private readonly CancellationToken _cancellationToken;
    private readonly List<FileBuild> _open = [];
    private readonly Queue<TokenizeBatch> _toTokenize = new();
    private readonly Stack<TokenizeBatch> _freeBatches = new();
    private readonly int _width;
    private int _nextJob;
    private int _opening;
    private int _inFlight;
    private ExceptionDispatchInfo? _error;

    private CacheBuildPool(TokenCache cache, IReadOnlyList<(string, ReaderOptions, string)> jobs, int threads, BuildProgress? progress, CancellationToken cancellationToken)
    {
        _cache = cache;
        _jobs = jobs;
        _threads = threads;
        _maxInFlight = (2 * threads) + 2;
        _progress = progress;
        _cancellationToken = cancellationToken;
        _width = Shards.LitPkdsFormat.TokenWidth(cache.Dtype);
    }

    /// <summary>Builds every job's entry; throws the first failure (after every thread has stopped).</summary>
    public static void Run(TokenCache cache, IReadOnlyList<(string Path, ReaderOptions Options, string BasePath)> jobs, int threads, BuildProgress? progress, CancellationToken cancellationToken)
    {
        if (jobs.Count == 0)
        {
            return;
        }

        var pool = new CacheBuildPool(cache, jobs, Math.Max(1, threads), progress, cancellationToken);
        pool.Run();
    }

    private void Run()
    {
        using var registration = _cancellationToken.Register(() =>
        {
            lock (_lock)
            {
                Monitor.PulseAll(_lock);
            }
        });
        var helpers = new Thread[_threads - 1];
        for (var i = 0; i < helpers.Length; i++)
        {
            helpers[i] = new Thread(Work) { IsBackground = true, Name = "tokenize-" + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) };
            helpers[i].Start();
        }

        Work();
        foreach (var t in helpers)
        {
            t.Join();
        }

        foreach (var f in _open)
        {
            f.Dispose();
        }

        _error?.Throw();
        _cancellationToken.ThrowIfCancellationRequested();
    }

    private enum Step
    {
        None,
        Write,
        Tokenize,
        Read,
        Open,
    }

    private void Work()
    {
        EncoderScratch? scratch = null;
        try
        {
            while (true)
            {
                Step step;
                FileBuild? file = null;
                TokenizeBatch? batch = null;
                var job = -1;
                lock (_lock)
                {
                    while (true)
                    {
                        if (_error is not null || _cancellationToken.IsCancellationRequested)
                        {
                            return;
                        }

                        step = Next(out file, out batch, out job);
                        if (step != Step.None)
                        {
                            break;
                        }

                        if (_nextJob == _jobs.Count && _opening == 0 && _open.Count == 0)
                        {
                            return;
                        }

                        Monitor.Wait(_lock);
                    }
                }

                try
                {
                    switch (step)
                    {
                        case Step.Write:
                            Write(file!, batch!);
                            break;
                        case Step.Tokenize:
                            scratch ??= _cache.RentScratch();
                            batch!.Tokenize(_cache.Tokenizer, scratch, _width);
                            lock (_lock)
                            {
                                batch.File!.Tokenized.Add(batch.Sequence, batch);
                                Monitor.PulseAll(_lock);
                            }

                            break;
                        case Step.Read:
                            file!.Read(batch!, _cancellationToken);
                            lock (_lock)
                            {
                                file.ReaderBusy = false;
                                file.ReaderDone = batch!.IsLast;
                                _toTokenize.Enqueue(batch);
                                Monitor.PulseAll(_lock);
                            }

                            break;
                        case Step.Open:
                            Open(job);
                            break;
                        default:
                            throw new InvalidOperationException("unknown step");
                    }
                }
                catch (Exception e)
                {
                    lock (_lock)
                    {
                        _error ??= ExceptionDispatchInfo.Capture(e);
                        Monitor.PulseAll(_lock);
                    }

                    return;
                }
            }
        }
        finally
        {
            if (scratch is not null)
            {
                _cache.ReturnScratch(scratch);
            }
        }
    }

    /// <summary>Picks the next step (under the lock) and marks what it takes as busy.</summary>
    private Step Next(out FileBuild? file, out TokenizeBatch? batch, out int job)
    {
        job = -1;
        foreach (var f in _open)
        {
            if (!f.WriterBusy && f.Tokenized.Remove(f.NextWriteSequence, out var ready))
            {
                f.WriterBusy = true;
                file = f;
                batch = ready;
                return Step.Write;
            }
        }

        if (_toTokenize.TryDequeue(out var next))
        {
            file = next.File;
            batch = next;
            return Step.Tokenize;
        }

        file = null;
        batch = null;
        if (_inFlight >= _maxInFlight)
        {
            return Step.None;
        }

        foreach (var f in _open)
        {
            if (!f.ReaderBusy && !f.ReaderDone)
            {
                f.ReaderBusy = true;
                _inFlight++;
                batch = _freeBatches.TryPop(out var free) ? free : new TokenizeBatch();
                batch.File = f;
                batch.Sequence = f.NextReadSequence++;
                file = f;
                return Step.Read;
            }
        }

        if (_nextJob < _jobs.Count && _open.Count + _opening < _threads)
        {
            job = _nextJob++;
            _opening++;
            return Step.Open;
        }

        return Step.None;
    }

    private void Open(int job)
    {
        FileBuild? opened = null;
        try
        {
            var (path, options, basePath) = _jobs[job];
            opened = new FileBuild(_cache, path, options, basePath);
        }
        finally
        {
            lock (_lock)
            {
                _opening--;
                if (opened is not null)
                {
                    _open.Add(opened);
                }

                Monitor.PulseAll(_lock);
            }
        }
    }

    private void Write(FileBuild file, TokenizeBatch batch)
    {
        file.Write(batch, _progress);
        var last = batch.IsLast;
        if (last)
        {
            file.Finish();
            file.Dispose();
        }

        lock (_lock)
        {
            file.NextWriteSequence++;
            file.WriterBusy = false;
            _inFlight--;
            batch.Reset();
            _freeBatches.Push(batch);
            if (last)
            {
                _open.Remove(file);
            }

            Monitor.PulseAll(_lock);
        }
    }
}
