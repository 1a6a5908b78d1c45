using Microsoft.Data.Sqlite;
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
    /// <summary>Pulls batches until cancelled; a failed pull is logged and retried after <paramref name="retryDelay"/>.</summary>
    public static async Task RunAsync(
        INatsJSConsumer consumer, int batchSize, TimeSpan fetchWait, TimeSpan retryDelay, Func<INatsJSMsg<byte[]>, CancellationToken, Task> handle, ILogger logger, string name, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var opts = new NatsJSFetchOpts { MaxMsgs = batchSize, Expires = fetchWait };
                await foreach (var message in consumer.FetchAsync<byte[]>(opts, cancellationToken: cancellationToken))
                {
                    await handle(message, cancellationToken);
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

    /// <summary>Handles the messages available now (at most <paramref name="max"/>) without waiting; returns how many.</summary>
    public static async Task<int> ProcessAvailableAsync(INatsJSConsumer consumer, int max, Func<INatsJSMsg<byte[]>, CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var handled = 0;
        await foreach (var message in consumer.FetchNoWaitAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = max }, cancellationToken: cancellationToken))
        {
            await handle(message, cancellationToken);
            handled++;
        }

        return handled;
    }

    /// <summary>
    /// Records one message, then acks it (terminates it when <see cref="IngestOutcome.Malformed"/>); a database failure
    /// naks it for redelivery after <paramref name="retryDelay"/>. Returns false when it was not recorded or not acked.
    /// </summary>
    public static async Task<bool> HandleAsync(
        INatsJSMsg<byte[]> message, Func<INatsJSMsg<byte[]>, IngestOutcome> record, TimeSpan retryDelay, ILogger logger, string name, CancellationToken cancellationToken)
    {
        IngestOutcome outcome;
        try
        {
            outcome = record(message);
        }
        catch (Exception e) when (e is SqliteException or IOException or InvalidOperationException or ObjectDisposedException)
        {
            LogRecordFailed(logger, name, message.Metadata?.Sequence.Stream ?? 0, e.Message);
            await TryAsync(() => message.NakAsync(new AckOpts { NakDelay = retryDelay }, cancellationToken), logger, name);
            return false;
        }

        return outcome == IngestOutcome.Malformed
            ? await TryAsync(() => message.AckTerminateAsync(new AckOpts { DoubleAck = true }, cancellationToken), logger, name)
            : await TryAsync(() => message.AckAsync(new AckOpts { DoubleAck = true }, cancellationToken), logger, name);
    }

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

    [LoggerMessage(Level = LogLevel.Error, Message = "{Name}: message {Sequence} not recorded ({Reason}); it will be redelivered")]
    private static partial void LogRecordFailed(ILogger logger, string name, ulong sequence, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Name}: ack failed ({Reason}); the message will be redelivered and found a duplicate")]
    private static partial void LogAckFailed(ILogger logger, string name, string reason);
}
