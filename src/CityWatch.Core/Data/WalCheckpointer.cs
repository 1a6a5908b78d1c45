using System.Threading.Channels;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Data;

/// <summary>
/// Copies a SQLite database's WAL into its file on a thread of its own (<c>PRAGMA wal_checkpoint(PASSIVE)</c>, which
/// never blocks a writer), woken by <see cref="Wake"/> after a commit and at most once per <see cref="Interval"/>.
/// </summary>
/// <remarks>
/// Without it the connection whose commit takes the WAL past 1,000 pages runs the checkpoint inside that commit: for the
/// audit sequencer, the one thread every append waits on, that was a share of its <c>COMMIT</c> time and the cause of its
/// slowest commits. Checkpointed often enough, the WAL starts over before it reaches 1,000 pages and no commit pays for
/// one. Durability is unchanged: a commit is durable when its WAL frames are synced (<c>synchronous=FULL</c>), whoever
/// copies them later.
/// </remarks>
internal sealed class WalCheckpointer : IAsyncDisposable
{
    /// <summary>The least time between two checkpoints: a burst of commits is copied by one.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    private readonly CityWatchDatabase _database;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Task _loop;

    public WalCheckpointer(CityWatchDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        if (database.Dialect.IsPostgres)
        {
            throw new ArgumentException("PostgreSQL has no WAL file to checkpoint from here.", nameof(database));
        }

        _database = database;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Asks for a checkpoint soon (after a commit); wakes that come while one is due are one.</summary>
    public void Wake() => _wake.Writer.TryWrite(true);

    public async ValueTask DisposeAsync()
    {
        _wake.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        while (await _wake.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            _wake.Reader.TryRead(out _);
            try
            {
                using var connection = _database.Open();
                connection.Execute("PRAGMA wal_checkpoint(PASSIVE)");
            }
            catch (SqliteException)
            {
                // The next commit wakes it again; until then, a commit's own autocheckpoint still bounds the WAL.
            }

            await Task.Delay(Interval, TimeProvider.System).ConfigureAwait(false);
        }
    }
}
