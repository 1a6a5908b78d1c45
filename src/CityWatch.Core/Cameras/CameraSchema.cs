namespace CityWatch.Cameras;

internal static class CameraSchema
{
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
}
