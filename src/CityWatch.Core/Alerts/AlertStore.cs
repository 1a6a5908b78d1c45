using System.Text.Json;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Vision;
using Dapper;

namespace CityWatch.Alerts;

/// <summary>
/// Alerts in SQLite, their face crops as files under the evidence folder. A crop is written to a
/// temporary name and renamed into place inside the transaction of its row, so a crash leaves neither an
/// alert without its crop nor a stray crop of a face that produced no alert. A tracked alert is updated
/// in place: <see cref="Touch"/> moves its last-seen time and frame count on; <see cref="Improve"/>
/// replaces score, box and crop together (the new crop gets a new file name, the row points to it in the
/// same transaction, and the old file is deleted only after the commit).
/// </summary>
public sealed class AlertStore(CityWatchDatabase database, string evidenceDirectory)
{
    public const string Candidate = "candidate";

    public string EvidenceDirectory { get; } = Path.GetFullPath(evidenceDirectory);

    public Alert Add(NewAlert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        Directory.CreateDirectory(EvidenceDirectory);
        var temporary = Path.Combine(EvidenceDirectory, $".incoming-{Guid.NewGuid():N}.jpg");
        File.WriteAllBytes(temporary, alert.CropJpeg);
        try
        {
            using var connection = database.Open();
            using var transaction = connection.BeginTransaction();
            var id = connection.ExecuteScalar<long>(
                """
                INSERT INTO alerts (camera_id, watchlist_id, entry_id, label, legal_basis_id, grant_id, at, score, threshold, box, crop_path, status, track_id, last_seen, frames)
                VALUES (@CameraId, @WatchlistId, @EntryId, @Label, @LegalBasisId, @grant, @at, @Score, @Threshold, @box, '', @status, @track, @at, @Frames) RETURNING id
                """,
                new
                {
                    alert.CameraId,
                    alert.WatchlistId,
                    alert.EntryId,
                    alert.Label,
                    alert.LegalBasisId,
                    grant = alert.GrantId.ToString(),
                    at = Timestamps.Format(alert.At),
                    alert.Score,
                    alert.Threshold,
                    box = JsonSerializer.Serialize(alert.Box),
                    status = Candidate,
                    track = alert.TrackId?.ToString("N"),
                    alert.Frames,
                },
                transaction);
            var cropName = $"alert-{id}.jpg";
            connection.Execute("UPDATE alerts SET crop_path = @cropName WHERE id = @id", new { cropName, id }, transaction);
            File.Move(temporary, Path.Combine(EvidenceDirectory, cropName), overwrite: true);
            transaction.Commit();
            return Get(id);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Records that the person of alert <paramref name="id"/> was still seen: last-seen time and frame count never move back.</summary>
    public void Touch(long id, DateTimeOffset lastSeen, int frames)
    {
        using var connection = database.Open();
        var changed = connection.Execute(
            "UPDATE alerts SET last_seen = MAX(last_seen, @seen), frames = MAX(frames, @frames) WHERE id = @id",
            new { id, seen = Timestamps.Format(lastSeen), frames });
        if (changed == 0)
        {
            throw new NotFoundException($"No alert {id}.");
        }
    }

    /// <summary>Replaces the score, box and crop of alert <paramref name="id"/> with a better face, all or nothing.</summary>
    public Alert Improve(long id, AlertImprovement update)
    {
        ArgumentNullException.ThrowIfNull(update);
        Directory.CreateDirectory(EvidenceDirectory);
        var temporary = Path.Combine(EvidenceDirectory, $".incoming-{Guid.NewGuid():N}.jpg");
        File.WriteAllBytes(temporary, update.CropJpeg);
        string? placed = null;
        try
        {
            using var connection = database.Open();
            using var transaction = connection.BeginTransaction();
            var current = connection.QuerySingleOrDefault<CropRow>(
                "SELECT crop_path, crop_version FROM alerts WHERE id = @id", new { id }, transaction)
                ?? throw new NotFoundException($"No alert {id}.");
            var version = current.CropVersion + 1;
            var cropName = FormattableString.Invariant($"alert-{id}-{version}.jpg");
            connection.Execute(
                """
                UPDATE alerts SET score = @Score, box = @box, crop_path = @cropName, crop_version = @version,
                    last_seen = MAX(last_seen, @seen), frames = MAX(frames, @Frames)
                WHERE id = @id
                """,
                new { id, update.Score, box = JsonSerializer.Serialize(update.Box), cropName, version, seen = Timestamps.Format(update.LastSeen), update.Frames },
                transaction);
            placed = Path.Combine(EvidenceDirectory, cropName);
            File.Move(temporary, placed, overwrite: true);
            transaction.Commit();
            placed = null;
            File.Delete(Path.Combine(EvidenceDirectory, current.CropPath));
            return Get(id);
        }
        finally
        {
            File.Delete(temporary);
            if (placed is not null)
            {
                File.Delete(placed); // the row still points at the old crop
            }
        }
    }

    /// <summary>A page of alerts, newest first; <paramref name="scope"/> limits them to some cameras (null: all).</summary>
    public Page<Alert> List(int offset, int limit, long? cameraId = null, IReadOnlySet<long>? scope = null)
    {
        if (offset < 0 || limit is < 1 or > CameraStore.MaxPageSize)
        {
            throw new InvalidRequestException($"offset must not be negative and limit must be between 1 and {CameraStore.MaxPageSize}.");
        }

        using var connection = database.Open();
        var conditions = new List<string>();
        if (cameraId is not null)
        {
            conditions.Add("camera_id = @cameraId");
        }

        if (scope is not null)
        {
            conditions.Add("camera_id IN (SELECT value FROM json_each(@scope))");
        }

        var filter = conditions.Count == 0 ? "" : "WHERE " + string.Join(" AND ", conditions);
        var parameters = new { cameraId, limit, offset, scope = scope is null ? null : JsonSerializer.Serialize(scope) };
        var total = connection.ExecuteScalar<int>($"SELECT COUNT(*) FROM alerts {filter}", parameters);
        var items = connection.Query<AlertRow>($"SELECT * FROM alerts {filter} ORDER BY id DESC LIMIT @limit OFFSET @offset", parameters)
            .Select(r => r.ToModel()).ToList();
        return new Page<Alert>(items, total, offset, limit);
    }

    public Alert Get(long id)
    {
        using var connection = database.Open();
        return connection.QuerySingleOrDefault<AlertRow>("SELECT * FROM alerts WHERE id = @id", new { id })?.ToModel()
            ?? throw new NotFoundException($"No alert {id}.");
    }

    /// <summary>The face crop of an alert, as JPEG.</summary>
    public byte[] Crop(long id)
    {
        using var connection = database.Open();
        var name = connection.ExecuteScalar<string?>("SELECT crop_path FROM alerts WHERE id = @id", new { id })
            ?? throw new NotFoundException($"No alert {id}.");
        return File.ReadAllBytes(Path.Combine(EvidenceDirectory, name));
    }

    private sealed class CropRow
    {
        public string CropPath { get; set; } = "";
        public long CropVersion { get; set; }
    }

    private sealed class AlertRow
    {
        public long Id { get; set; }
        public long? CameraId { get; set; }
        public long WatchlistId { get; set; }
        public long EntryId { get; set; }
        public string Label { get; set; } = "";
        public long LegalBasisId { get; set; }
        public string GrantId { get; set; } = "";
        public string At { get; set; } = "";
        public double Score { get; set; }
        public double Threshold { get; set; }
        public string Box { get; set; } = "{}";
        public string CropPath { get; set; } = "";
        public string Status { get; set; } = "";
        public string? TrackId { get; set; }
        public string LastSeen { get; set; } = "";
        public long Frames { get; set; }

        public Alert ToModel() => new(
            Id, CameraId, WatchlistId, EntryId, Label, LegalBasisId, GrantId, Timestamps.Parse(At), (float)Score, (float)Threshold,
            JsonSerializer.Deserialize<FaceBox>(Box)!, Status, TrackId, Timestamps.Parse(LastSeen), (int)Frames);
    }
}
