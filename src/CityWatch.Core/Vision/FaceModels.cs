namespace CityWatch.Vision;

/// <summary>A face detector: faces in an image, best first, in its pixel coordinates. One frame at a time.</summary>
public interface IFaceDetector : IDisposable
{
    /// <summary>The configuration name (<see cref="VisionOptions.Detector"/>).</summary>
    string Name { get; }

    /// <summary>How many times the model has run (for metrics and tests).</summary>
    long Runs { get; }

    IReadOnlyList<DetectedFace> Detect(BgrImage image);
}
