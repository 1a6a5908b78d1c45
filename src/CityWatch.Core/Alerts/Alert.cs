using CityWatch.Vision;

namespace CityWatch.Alerts;

/// <summary>
/// A candidate match: a face on a camera (or in supplied media) that scored at or above the threshold
/// against a watchlist entry. It stays a candidate until people verify it.
/// </summary>
public sealed record Alert(
    long Id,
    long? CameraId,
    long WatchlistId,
    long EntryId,
    string Label,
    long LegalBasisId,
    string GrantId,
    DateTimeOffset At,
    float Score,
    float Threshold,
    FaceBox Box,
    string Status);

/// <summary>What the matcher hands over to be stored as an alert, with the face crop as JPEG.</summary>
public sealed record NewAlert(
    long? CameraId,
    long WatchlistId,
    long EntryId,
    string Label,
    long LegalBasisId,
    Guid GrantId,
    DateTimeOffset At,
    float Score,
    float Threshold,
    FaceBox Box,
    byte[] CropJpeg);
