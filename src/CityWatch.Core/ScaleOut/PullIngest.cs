using System.Threading.Channels;
using System.Data.Common;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace CityWatch.ScaleOut;

/// <summary>
/// What the server's JetStream ingests (<see cref="AuditIngest"/>, <see cref="CandidateIngest"/>) share: the pull loop
/// that outlives a failed pull, and the step after a message is recorded — the ack (a terminate for one that is
/// malformed) only once the transaction has committed, a delayed nak when the database could not take it.
/// </summary>
internal static partial class PullIngest
{
    /// <summary>
    /// Pulls until cancelled and hands what has arrived to <paramref name="handle"/>, up to <paramref name="batchSize"/>
    /// messages at a time: whatever came in while the last batch was being recorded is the next batch, so a burst
    /// shares transactions and a trickle is handled message by message. A failed pull is logged and retried after
    /// <paramref name="retryDelay"/>. Messages fetched but not yet handled when it stops are never acked, so JetStream
    /// delivers them again.
    /// </summary>
    public static async Task RunAsync(
        INatsJSConsumer consumer, int batchSize, TimeSpan fetchWait, TimeSpan retryDelay, Func<IReadOnlyList<INatsJSMsg<byte[]>>, CancellationToken, Task> handle, ILogger logger, string name, CancellationToken cancellationToken)
    {
        var arrived = Channel.CreateBounded<INatsJSMsg<byte[]>>(new BoundedChannelOptions(batchSize) { SingleReader = true, SingleWriter = true });
        var recorder = HandleArrivedAsync(arrived.Reader, batchSize, handle, logger, name, cancellationToken);
        try
        {
            await FetchAsync(consumer, batchSize, fetchWait, retryDelay, arrived.Writer, logger, name, cancellationToken);
        }
        finally
        {
            arrived.Writer.TryComplete();
            await recorder;
        }
    }

    private static async Task FetchAsync(
        INatsJSConsumer consumer, int batchSize, TimeSpan fetchWait, TimeSpan retryDelay, ChannelWriter<INatsJSMsg<byte[]>> arrived, ILogger logger, string name, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var opts = new NatsJSFetchOpts { MaxMsgs = batchSize, Expires = fetchWait };
                await foreach (var message in consumer.FetchAsync<byte[]>(opts, cancellationToken: cancellationToken))
                {
                    await arrived.WriteAsync(message, cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The loop must outlive any one failed pull: unacked messages are redelivered.
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogPullFailed(logger, name, e.Message);
                try
                {
                    await Task.Delay(retryDelay, TimeProvider.System, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static async Task HandleArrivedAsync(
        ChannelReader<INatsJSMsg<byte[]>> arrived,
        int batchSize,
        Func<IReadOnlyList<INatsJSMsg<byte[]>>, CancellationToken, Task> handle,
        ILogger logger,
        string name,
        CancellationToken cancellationToken)
    {
        var batch = new List<INatsJSMsg<byte[]>>(batchSize);
        try
        {
            while (await arrived.WaitToReadAsync(cancellationToken))
            {
                while (batch.Count < batchSize && arrived.TryRead(out var message))
                {
                    batch.Add(message);
                }

                try
                {
                    await handle(batch, cancellationToken);
                }
#pragma warning disable CA1031 // A batch that fails unforeseen must not stop the ingest (the fetch would then fill the channel and wait for ever): its messages are not acked, so they come again.
                catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
                {
                    LogHandleFailed(logger, name, batch.Count, e.Message);
                }

                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: what is left is redelivered.
        }
    }

    /// <summary>Handles the messages available now (at most <paramref name="max"/>, as one batch) without waiting; returns how many.</summary>
    public static async Task<int> ProcessAvailableAsync(INatsJSConsumer consumer, int max, Func<IReadOnlyList<INatsJSMsg<byte[]>>, CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var batch = new List<INatsJSMsg<byte[]>>();
        await foreach (var message in consumer.FetchNoWaitAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = max }, cancellationToken: cancellationToken))
        {
            batch.Add(message);
        }

        if (batch.Count > 0)
        {
            await handle(batch, cancellationToken);
        }

        return batch.Count;
    }

    /// <summary>
    /// Records <paramref name="messages"/> with <paramref name="recordAll"/> (one transaction for them all), then acks
    /// each (terminates each <see cref="IngestOutcome.Malformed"/> one), the acks in flight together. When the batch
    /// fails in the database, nothing of it was written: each message is then recorded on its own (a batch of one,
    /// <see cref="HandleAsync"/>), so one message the database refuses holds up only itself. Returns how many were
    /// not recorded or not acked.
    /// </summary>
    public static async Task<int> HandleBatchAsync(
        IReadOnlyList<INatsJSMsg<byte[]>> messages,
        Func<IReadOnlyList<INatsJSMsg<byte[]>>, IReadOnlyList<IngestOutcome>> recordAll,
        TimeSpan retryDelay,
        ILogger logger,
        string name,
        CancellationToken cancellationToken)
    {
        IReadOnlyList<IngestOutcome>? outcomes = null;
        if (messages.Count > 1)
        {
            try
            {
                outcomes = recordAll(messages);
            }
            catch (Exception e) when (IsDatabaseFailure(e))
            {
                LogBatchFailed(logger, name, messages.Count, e.Message);
            }
        }

        var failed = 0;
        if (outcomes is null)
        {
            foreach (var message in messages)
            {
                failed += await HandleAsync(message, one => recordAll([one])[0], retryDelay, logger, name, cancellationToken) ? 0 : 1;
            }

            return failed;
        }

        var acked = await Task.WhenAll(messages.Select((message, i) => AckAsync(message, outcomes[i], logger, name, cancellationToken)));
        return acked.Count(ok => !ok);
    }

    /// <summary>
    /// Records one message, then acks it (terminates it when <see cref="IngestOutcome.Malformed"/>); a database failure
    /// naks it for redelivery after <paramref name="retryDelay"/>. Returns false when it was not recorded or not acked.
    /// </summary>
    private static async Task<bool> HandleAsync(
        INatsJSMsg<byte[]> message, Func<INatsJSMsg<byte[]>, IngestOutcome> record, TimeSpan retryDelay, ILogger logger, string name, CancellationToken cancellationToken)
    {
        IngestOutcome outcome;
        try
        {
            outcome = record(message);
        }
        catch (Exception e) when (IsDatabaseFailure(e))
        {
            LogRecordFailed(logger, name, message.Metadata?.Sequence.Stream ?? 0, e.Message);
            await TryAsync(() => message.NakAsync(new AckOpts { NakDelay = retryDelay }, cancellationToken), logger, name);
            return false;
        }

        return await AckAsync(message, outcome, logger, name, cancellationToken);
    }

    // DbException: SqliteException or NpgsqlException, whichever engine the server runs on.
    private static bool IsDatabaseFailure(Exception e) => e is DbException or IOException or InvalidOperationException or ObjectDisposedException;

    private static Task<bool> AckAsync(INatsJSMsg<byte[]> message, IngestOutcome outcome, ILogger logger, string name, CancellationToken cancellationToken) =>
        outcome == IngestOutcome.Malformed
            ? TryAsync(() => message.AckTerminateAsync(new AckOpts { DoubleAck = true }, cancellationToken), logger, name)
            : TryAsync(() => message.AckAsync(new AckOpts { DoubleAck = true }, cancellationToken), logger, name);

    private static async Task<bool> TryAsync(Func<ValueTask> ack, ILogger logger, string name)
    {
        try
        {
            await ack();
            return true;
        }
        catch (Exception e) when (e is NatsException or TimeoutException)
        {
            LogAckFailed(logger, name, e.Message);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: pull failed ({Reason}); retrying")]
    private static partial void LogPullFailed(ILogger logger, string name, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Name}: a batch of {Count} messages failed ({Reason}); they will be redelivered")]
    private static partial void LogHandleFailed(ILogger logger, string name, int count, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: a batch of {Count} messages was not recorded ({Reason}); recording them one by one")]
    private static partial void LogBatchFailed(ILogger logger, string name, int count, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Name}: message {Sequence} not recorded ({Reason}); it will be redelivered")]
    private static partial void LogRecordFailed(ILogger logger, string name, ulong sequence, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: ack failed ({Reason}); the message will be redelivered and found a duplicate")]
    private static partial void LogAckFailed(ILogger logger, string name, string reason);
}
