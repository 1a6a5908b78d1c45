namespace CityWatch.Cameras;

/// <summary>A place with one or more cameras.</summary>
public sealed record Site(long Id, string Code, string Name, double Latitude, double Longitude, string Owner);

/// <summary>
/// A camera in the city's register: where it is, who owns it, what it is for, where its stream is,
/// whether face recognition may ever run on it, how its frames are analysed and how long its data is kept.
/// <see cref="Latitude"/> and <see cref="Longitude"/> are the camera's own position, when the register has it
/// (a site's cameras can stand apart); the site's position is otherwise the best there is.
/// </summary>
public sealed record Camera(
    long Id,
    string Code,
    long SiteId,
    string Name,
    string Owner,
    string Purpose,
    string? StreamUrl,
    bool FaceRecognitionAllowed,
    double AnalysisFps,
    int AnalysisWidth,
    int RetentionDays,
    bool Enabled,
    double? Latitude = null,
    double? Longitude = null);

/// <summary>What a client sends to create or replace a camera. Missing optional fields take defaults.</summary>
public sealed record CameraInput(
    string Code,
    string SiteCode,
    string Name,
    string Owner,
    string Purpose,
    string? StreamUrl = null,
    bool FaceRecognitionAllowed = false,
    double? AnalysisFps = null,
    int? AnalysisWidth = null,
    int? RetentionDays = null,
    bool? Enabled = null,
    double? Latitude = null,
    double? Longitude = null);

public sealed record SiteInput(string Code, string Name, double Latitude, double Longitude, string Owner);

public sealed record Page<T>(IReadOnlyList<T> Items, int Total, int Offset, int Limit);
