using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Cameras;

internal static class CameraSchema
{
    /// <summary>Version 1: the register as it was first made. The camera's own coordinates came later (<see cref="AddCoordinates"/>).</summary>
    public const string Sql = """
        CREATE TABLE IF NOT EXISTS sites (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            latitude REAL NOT NULL,
            longitude REAL NOT NULL,
            owner TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS cameras (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE RESTRICT,
            name TEXT NOT NULL,
            owner TEXT NOT NULL,
            purpose TEXT NOT NULL,
            stream_url TEXT NULL,
            face_recognition_allowed INTEGER NOT NULL,
            analysis_fps REAL NOT NULL,
            analysis_width INTEGER NOT NULL,
            retention_days INTEGER NOT NULL,
            enabled INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS cameras_site ON cameras(site_id);
        """;

    /// <summary>Version 3: minutes observed and up per camera and UTC day, for the register's 30-day health (<see cref="CameraUptime"/>).</summary>
    public const string HealthDays = """
        CREATE TABLE IF NOT EXISTS camera_health_days (
            camera_id INTEGER NOT NULL REFERENCES cameras(id) ON DELETE CASCADE,
            day TEXT NOT NULL,
            minutes_observed INTEGER NOT NULL,
            minutes_up INTEGER NOT NULL,
            PRIMARY KEY (camera_id, day)
        ) WITHOUT ROWID;
        """;

    /// <summary>
    /// Version 2: a camera's own coordinates. Adds only the columns the table lacks, because a data folder made
    /// before schema versions existed may already have them (its table was created with them, or they were added).
    /// </summary>
    public static void AddCoordinates(SqliteConnection connection, SqliteTransaction transaction)
    {
        var columns = connection.Query<string>("SELECT name FROM pragma_table_info('cameras')", transaction: transaction).ToHashSet(StringComparer.Ordinal);
        foreach (var column in new[] { "latitude", "longitude" }.Where(c => !columns.Contains(c)))
        {
            connection.Execute($"ALTER TABLE cameras ADD COLUMN {column} REAL NULL", transaction: transaction);
        }
    }
}
