namespace CityWatch.Audit;

/// <summary>Settings of the audit log; the defaults suit one city deployment.</summary>
public sealed class AuditLogOptions
{
    /// <summary>The checkpoint origin and the log key's name.</summary>
    public string Origin { get; set; } = "citywatch.local/log";

    /// <summary>Where an older data folder kept the plaintext Ed25519 key (default <c>audit-log.key</c> next to the database): migrated into the KEK-wrapped store, then deleted.</summary>
    public string? KeyPath { get; set; }

    /// <summary>At most this many leaves share one transaction (group commit). 1 commits each leaf alone.</summary>
    public int MaxBatch { get; set; } = 1024;

    /// <summary>How often the sequencer looks into the outbox when nobody woke it (wall-clock time).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// On PostgreSQL, how often a server that does not run the sequencer tries to take it over (the advisory
    /// lock <see cref="AuditTrail.SequencerLockKey"/>); a leader that lost its lock waits three times this long.
    /// </summary>
    public TimeSpan LeaderRetry { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Verifier keys (cosignature/v1, type 0x04) of the witnesses whose cosignatures the log accepts and publishes.</summary>
    public IList<string> WitnessKeys { get; } = [];

    /// <summary>
    /// Folders of witnesses whose own state (<see cref="WitnessState"/>) the log is checked against at start,
    /// besides the cosigned checkpoints it keeps itself: an anchor outside its data folder.
    /// </summary>
    public IList<string> WitnessStates { get; } = [];
}
