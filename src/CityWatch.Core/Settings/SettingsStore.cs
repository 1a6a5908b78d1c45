using System.Data.Common;
using System.Globalization;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Vision;
using Dapper;

namespace CityWatch.Settings;

/// <summary>A stored setting: its value, who changed it last and when.</summary>
public sealed record Setting(string Key, string Value, string ChangedBy, DateTimeOffset ChangedAt);

/// <summary>
/// Settings that govern recognition (for now, each embedder's operating threshold), in the <c>settings</c>
/// table. Every change goes through <see cref="SetAsync"/>, the one write, which logs it to the audit trail
/// (<see cref="AuditActions.SettingChange"/>). It is internal: outside Core a setting changes only through
/// <see cref="SettingProposals"/>, a proposal approved by a second account.
/// <para>
/// The table is the <c>settings</c> feature's (<see cref="SettingsSchema"/>, made by <c>Migrate</c>). Its SQL is
/// on the shared code path (<see cref="CityWatchDatabase.Connect"/>) and runs on SQLite and PostgreSQL: the reads,
/// the row write (<see cref="Upsert"/>) and the audited write (<see cref="SetAsync"/>, <see cref="Write"/>), which
/// stages its record (<see cref="AuditTrail.Stage"/>) in its own transaction, a <see cref="SqlDialect.BeginWrite"/>
/// on <c>settings</c> so that the value it replaces, which the record names, is still the stored one when it writes.
/// </para>
/// </summary>
public sealed class SettingsStore
{
    private readonly CityWatchDatabase database;
    private readonly AuditTrail audit;
    private readonly TimeProvider time;

    public SettingsStore(CityWatchDatabase database, AuditTrail audit, TimeProvider time)
    {
        this.database = database ?? throw new ArgumentNullException(nameof(database));
        this.audit = audit ?? throw new ArgumentNullException(nameof(audit));
        this.time = time ?? throw new ArgumentNullException(nameof(time));
    }

    /// <summary>The key under which an embedder's operating threshold is stored.</summary>
    public static string ThresholdKey(string embedder) => $"vision.threshold.{embedder}";

    /// <summary>
    /// Added to a card's shared-set threshold when no calibrated setting is stored: the shared sets are tiny
    /// celebrity photos, and FAR 1e-3 there is far too many false alerts for a city's crowds, so the
    /// default errs towards fewer alerts until the city calibrates on its own footage (docs/evaluation.md).
    /// </summary>
    public const float DefaultMargin = 0.1f;

    /// <summary>
    /// The cosine score at or above which a face made by <paramref name="embedder"/> is a candidate: the
    /// approved setting if one is stored, else the model card's shared-set threshold plus <see cref="DefaultMargin"/>.
    /// </summary>
    public float OperatingThreshold(string embedder)
    {
        var card = ModelCards.Get(embedder);
        if (card.Role != ModelRole.Embedder)
        {
            throw new InvalidRequestException($"'{embedder}' is a detector, not an embedder.");
        }

        return Find(ThresholdKey(embedder)) is { } setting
            ? float.Parse(setting.Value, NumberStyles.Float, CultureInfo.InvariantCulture)
            : card.CalibratedThreshold + DefaultMargin ?? throw new InvalidRequestException($"No operating threshold for '{embedder}': calibrate it with `citywatch eval verify --calibrate`.");
    }

    /// <summary>Checks a proposed threshold for <paramref name="embedder"/>, and stores it (through <see cref="SetAsync"/>).</summary>
    internal Task<Setting> SetOperatingThresholdAsync(string embedder, float threshold, string actor, string reason, CancellationToken cancellationToken = default)
    {
        if (ModelCards.Get(embedder).Role != ModelRole.Embedder)
        {
            throw new InvalidRequestException($"'{embedder}' is a detector, not an embedder.");
        }

        if (!float.IsFinite(threshold) || threshold is < -1 or > 1)
        {
            throw new InvalidRequestException($"A cosine threshold must be in [-1, 1], not {threshold}.");
        }

        return SetAsync(ThresholdKey(embedder), threshold.ToString("R", CultureInfo.InvariantCulture), actor, reason, cancellationToken);
    }

    // Read on every analysed face: kept in memory, refreshed by every write (this process is the only writer).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Setting?> _cache = new();

    public Setting? Find(string key) => _cache.GetOrAdd(key, Load);

    private Setting? Load(string key)
    {
        using var connection = database.Connect();
        return Read(connection, null, key);
    }

    public IReadOnlyList<Setting> List()
    {
        using var connection = database.Connect();
        return ReadAll(connection);
    }

    /// <summary>Every stored setting, by key (either engine).</summary>
    internal static IReadOnlyList<Setting> ReadAll(DbConnection connection) =>
        connection.Query<(string Key, string Value, string ChangedBy, string ChangedAt)>(
                "SELECT key, value, changed_by, changed_at FROM settings ORDER BY key")
            .Select(r => new Setting(r.Key, r.Value, r.ChangedBy, Timestamps.Parse(r.ChangedAt)))
            .ToList();

    /// <summary>The stored setting <paramref name="key"/> as <paramref name="transaction"/> sees it, or null (either engine).</summary>
    internal static Setting? Read(DbConnection connection, DbTransaction? transaction, string key)
    {
        var row = connection.QuerySingleOrDefault<(string Key, string Value, string ChangedBy, string ChangedAt)?>(
            "SELECT key, value, changed_by, changed_at FROM settings WHERE key = @key", new { key }, transaction);
        return row is { } r ? new Setting(r.Key, r.Value, r.ChangedBy, Timestamps.Parse(r.ChangedAt)) : null;
    }

    /// <summary>
    /// The row write, in the caller's transaction on either engine: sets <paramref name="key"/> (one upsert, so
    /// two writers of a new key do not collide) and returns the value it replaced, or null. It logs nothing:
    /// callers outside tests go through <see cref="Write"/>, which stages the record in the same transaction.
    /// </summary>
    internal static string? Upsert(DbConnection connection, DbTransaction transaction, string key, string value, string actor, DateTimeOffset at)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        var previous = connection.ExecuteScalar<string?>("SELECT value FROM settings WHERE key = @key", new { key }, transaction);
        connection.Execute(
            """
            INSERT INTO settings (key, value, changed_by, changed_at) VALUES (@key, @value, @actor, @at)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, changed_by = excluded.changed_by, changed_at = excluded.changed_at
            """,
            new { key, value, actor, at = Timestamps.Format(at) },
            transaction);
        return previous;
    }

    /// <summary>
    /// The one write: sets <paramref name="key"/> to <paramref name="value"/> and logs the change (old and
    /// new value, the reason) in the same transaction, before returning.
    /// </summary>
    internal async Task<Setting> SetAsync(string key, string value, string actor, string reason, CancellationToken cancellationToken = default)
    {
        StagedRecord staged;
        Setting setting;
        using (var connection = database.Connect())
        using (var transaction = database.Dialect.BeginWrite(connection, "settings"))
        {
            (setting, staged) = Write(connection, transaction, key, value, actor, reason);
            transaction.Commit();
        }

        Refresh(key);
        await audit.CommittedAsync(staged, cancellationToken);
        return setting;
    }

    /// <summary>
    /// The write inside a caller's transaction (an approved proposal): the row and its
    /// <see cref="AuditActions.SettingChange"/> record. The caller commits, then calls <see cref="Refresh"/>.
    /// </summary>
    internal (Setting Setting, StagedRecord Staged) Write(DbConnection connection, DbTransaction transaction, string key, string value, string actor, string reason)
    {
        var now = time.GetUtcNow();
        var previous = Upsert(connection, transaction, key, value, actor, now);
        var parameters = new Dictionary<string, string>
        {
            ["key"] = key,
            ["value"] = value,
            ["previous"] = previous ?? "",
            ["reason"] = reason ?? "",
        };
        var staged = audit.Stage(connection, transaction, new AuditRecord(actor, AuditActions.SettingChange, "changed", Parameters: parameters));
        return (new Setting(key, value, actor, now), staged);
    }

    /// <summary>Drops the cached value of <paramref name="key"/> after a committed write (or a rolled-back one).</summary>
    internal void Refresh(string key) => _cache.TryRemove(key, out _);
}
