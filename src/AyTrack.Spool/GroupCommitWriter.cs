using System.Threading.Channels;

namespace AyTrack.Spool;

/// <summary>
/// Group commit for a spool (and the cluster's journal): every write goes through one loop that commits whatever has
/// queued up in a single transaction, so many accepted messages share one fsync while none is acknowledged before it. A failing write
/// does not fail its neighbours: after a failed batch each write is committed alone and only the bad one reports.
/// </summary>
/// <typeparam name="TWrite">What one write needs (a transaction of the database, or a batch that becomes one).</typeparam>
public sealed class GroupCommitWriter<TWrite> : IAsyncDisposable
{
    private const int MaxOperationsPerCommit = 256;

    private readonly Func<IReadOnlyList<Func<TWrite, Task>>, Task> _commit;
    private readonly Action _outboxChanged;
    private readonly Channel<Operation> _writes = Channel.CreateUnbounded<Operation>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    /// <param name="commit">Runs the writes in one transaction and returns once it is durable.</param>
    /// <param name="outboxChanged">Called after a commit that put new entries into the outbox.</param>
    public GroupCommitWriter(Func<IReadOnlyList<Func<TWrite, Task>>, Task> commit, Action outboxChanged)
    {
        _commit = commit;
        _outboxChanged = outboxChanged;
        _loop = Task.Run(LoopAsync);
    }

    public Task WriteAsync(Func<TWrite, Task> write, bool outboxChanged, CancellationToken cancellationToken)
    {
        var operation = new Operation(write, outboxChanged, cancellationToken);
        if (!_writes.Writer.TryWrite(operation))
        {
            throw new ObjectDisposedException("spool", "the spool is closed");
        }

        return operation.Completion.Task;
    }

    /// <summary>A write that only prepares its statements (a batch sent at commit), with nothing to await.</summary>
    public Task WriteAsync(Action<TWrite> write, bool outboxChanged, CancellationToken cancellationToken) =>
        WriteAsync(batch =>
        {
            write(batch);
            return Task.CompletedTask;
        }, outboxChanged, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        await _loop;
    }

    private async Task LoopAsync()
    {
        var batch = new List<Operation>(MaxOperationsPerCommit);
        while (await _writes.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < MaxOperationsPerCommit && _writes.Reader.TryRead(out var operation))
            {
                if (!operation.CancellationToken.IsCancellationRequested)
                {
                    batch.Add(operation);
                }
                else
                {
                    operation.Completion.TrySetCanceled(operation.CancellationToken);
                }
            }

            if (batch.Count == 0)
            {
                continue;
            }

            try
            {
                await _commit(batch.ConvertAll(o => o.Write));
                Complete(batch, null);
            }
            catch (Exception) when (batch.Count > 1)
            {
                foreach (var operation in batch)
                {
                    try
                    {
                        await _commit([operation.Write]);
                        Complete([operation], null);
                    }
                    catch (Exception single)
                    {
                        Complete([operation], single);
                    }
                }
            }
            catch (Exception error)
            {
                Complete(batch, error);
            }
        }
    }

    private void Complete(IReadOnlyList<Operation> operations, Exception? error)
    {
        var signal = false;
        foreach (var operation in operations)
        {
            if (error is null)
            {
                signal |= operation.OutboxChanged;
                operation.Completion.TrySetResult();
            }
            else
            {
                operation.Completion.TrySetException(error);
            }
        }

        if (signal)
        {
            _outboxChanged();
        }
    }

    private sealed record Operation(Func<TWrite, Task> Write, bool OutboxChanged, CancellationToken CancellationToken)
    {
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
