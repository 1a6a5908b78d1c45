using CityWatch.Cameras;

namespace CityWatch.Recognition;

/// <summary>
/// A camera the monitor runs: what ingest and the analyser need. <see cref="Entry"/> is the source's whole entry for it
/// (in one process the register's <see cref="Camera"/>): the monitor restarts a camera whose entry changed.
/// </summary>
public sealed record StreamingCamera(long Id, double AnalysisFps, int AnalysisWidth, bool FaceRecognitionAllowed, object Entry);

/// <summary>
/// Where <see cref="CameraMonitor"/> learns which cameras stream, at the boundary a worker crosses to the server:
/// <see cref="RegisterCameras"/> reads the register in one process; a worker gets the list from the server over NATS.
/// </summary>
public interface IStreamingCameras
{
    /// <summary>The enabled cameras with a stream, by id.</summary>
    IReadOnlyList<StreamingCamera> Streaming();

    /// <summary>The camera's stream URL with its credentials opened, for ingest only.</summary>
    string IngestUrl(StreamingCamera camera);
}

/// <summary>The register's streaming cameras, in the process that holds the register.</summary>
public sealed class RegisterCameras(CameraStore cameras) : IStreamingCameras
{
    public IReadOnlyList<StreamingCamera> Streaming() =>
        cameras.Streaming().Select(c => new StreamingCamera(c.Id, c.AnalysisFps, c.AnalysisWidth, c.FaceRecognitionAllowed, c)).ToList();

    public string IngestUrl(StreamingCamera camera)
    {
        ArgumentNullException.ThrowIfNull(camera);
        return cameras.IngestUrl((Camera)camera.Entry)!;
    }
}
