namespace CityWatch.Server;

/// <summary>How `citywatch serve` runs: where its data and models are, where it listens, whether it seeds the demo city.</summary>
public sealed record ServerOptions
{
    public const string DefaultUrls = "http://127.0.0.1:5080";

    /// <summary>
    /// The SQLite file (unless the database is on PostgreSQL, <see cref="Postgres"/>), the erasure-key file and the evidence
    /// folder live here; the keys in it are only ever stored wrapped by <see cref="Kek"/>.
    /// </summary>
    public required string DataDirectory { get; init; }

    /// <summary>The verified model files (filled by `citywatch models fetch`).</summary>
    public required string ModelsDirectory { get; init; }

    /// <summary>The demo assets (video, photos) fetched and verified like the models.</summary>
    public string? AssetsDirectory { get; init; }

    public string Urls { get; init; } = DefaultUrls;

    /// <summary>
    /// The key-encryption key, obtained outside the data folder (key file, environment secret or custodian
    /// shares: <see cref="Keys.KeyEncryptionKey.Resolve"/>). The server does not start without it.
    /// </summary>
    public Keys.KeyEncryptionKey? Kek { get; init; }

    public bool Demo { get; init; }

    /// <summary>With <see cref="Demo"/> and its own setup: how many of its cameras stream the demo video (more for <c>citywatch sim</c>).</summary>
    public int DemoStreaming { get; init; } = CityWatch.Server.Demo.DemoInventory.Streaming;

    /// <summary>With <see cref="Demo"/>: the cameras and people it is seeded with; null: the demo's own, from <see cref="AssetsDirectory"/>.</summary>
    public Demo.DemoSetup? DemoSetup { get; init; }

    /// <summary>Verifier keys of the witnesses whose cosignatures the log accepts, publishes and keeps as its start-up anchor.</summary>
    public IReadOnlyList<string> WitnessKeys { get; init; } = [];

    /// <summary>Witness folders (<c>citywatch witness --dir</c>) whose state the log is checked against at start.</summary>
    public IReadOnlyList<string> WitnessStates { get; init; } = [];

    /// <summary>The face detector (see GET /api/models): yunet or ultraface.</summary>
    public string Detector { get; init; } = "yunet";

    /// <summary>The face embedder: fr_feature, faceres or mobileface. Watchlists are enrolled with it.</summary>
    public string Embedder { get; init; } = "fr_feature";

    /// <summary>The city's OpenID Connect provider, if people sign in through it (optional).</summary>
    public Identity.OidcOptions? Oidc { get; init; }

    /// <summary>Whether camera streams are ingested and analysed (off for API-only tests).</summary>
    public bool RunCameras { get; init; } = true;

    /// <summary>How long an invitation code can be used (the person sets their own password and second factor with it).</summary>
    public TimeSpan InvitationLifetime { get; init; } = TimeSpan.FromHours(48);

    /// <summary>The public camera map's tile URL template (optional; else the configuration's <c>Portal:TileUrl</c>, else no tiles).</summary>
    public string? PortalTileUrl { get; init; }

    /// <summary>
    /// The NATS server (<c>nats://host:port</c>, JetStream on) that workers publish audit events to; when set, this
    /// server takes them into its log (<see cref="CityWatch.ScaleOut.AuditIngest"/>). Null: no ingest.
    /// </summary>
    public string? NatsUrl { get; init; }

    /// <summary>The CA file nats-server's certificate must chain to (TLS required with it). Null: the configuration's <c>ScaleOut:NatsCaFile</c>, else none (a loopback URL only).</summary>
    public string? NatsCaFile { get; init; }

    /// <summary>The NATS user to connect as (its password from the environment or a file, never here). Null: the configuration's <c>ScaleOut:NatsUser</c>, else anonymous.</summary>
    public string? NatsUser { get; init; }

    /// <summary>
    /// This process's name as one of several workers (letters, digits, '-', '_'; at most 64). With it, a camera runs
    /// here only while this worker holds its lease (<see cref="CityWatch.ScaleOut.CameraLeaseKeeper"/>); it needs a
    /// NATS URL. Null: the configuration's <c>ScaleOut:Worker</c>, else none (every camera runs in this process).
    /// </summary>
    public string? Worker { get; init; }

    /// <summary>
    /// What this process runs: <c>all</c> (one process, the default), <c>server</c> (answers its workers over NATS and
    /// runs no cameras; needs a NATS URL) or <c>worker</c>. Null: the configuration's <c>ScaleOut:Role</c>, else <c>all</c>.
    /// </summary>
    public string? Role { get; init; }

    /// <summary>The camera lease TTL. Null: the configuration's <c>ScaleOut:LeaseTtl</c>, else 6 s.</summary>
    public TimeSpan? LeaseTtl { get; init; }

    /// <summary>
    /// The server's database on PostgreSQL: an Npgsql connection string without a password (<see cref="PostgresOptions"/>).
    /// Null: the configuration's <c>Data:Postgres</c>, else the SQLite file <see cref="DatabasePath"/>.
    /// </summary>
    public string? Postgres { get; init; }

    /// <summary>
    /// With <see cref="Postgres"/>: this server's local erasure-key file. Null: the configuration's <c>Data:ErasureKeys</c>,
    /// else <c>citywatch.erasure-keys.db</c> in <see cref="DataDirectory"/>. (On SQLite it is always beside the database file.)
    /// </summary>
    public string? ErasureKeys { get; init; }

    /// <summary>The clock everything reads (tests pass a fake one).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The largest media file an analysis job accepts by upload (default 4 GiB); the refusal states it.</summary>
    public long MaxUploadBytes { get; init; } = 4L * 1024 * 1024 * 1024;

    /// <summary>Recordings the city holds, which an analysis job may name by <c>url</c> (file:// or a path inside it); null: none.</summary>
    public string? RecordingsDirectory { get; init; }

    /// <summary>Where uploads for analysis jobs are streamed to; each is deleted when its job ends.</summary>
    public string UploadDirectory => Path.Combine(DataDirectory, "uploads");

    public string DatabasePath => Path.Combine(DataDirectory, "citywatch.db");

    public string EvidenceDirectory => Path.Combine(DataDirectory, "evidence");
}
