using CityWatch.Vision;

namespace CityWatch.Ingest;

/// <summary>One analysed frame of a camera or file.</summary>
/// <param name="CameraId">The camera (or file label) the frame came from.</param>
/// <param name="Image">The frame, BGR24, at the analysis size.</param>
/// <param name="CapturedAt">When ingest received it, from the source's TimeProvider.</param>
/// <param name="Sequence">0, 1, 2, ... per source, across reconnects.</param>
/// <param name="Position">
/// Time since the first frame of the current ffmpeg run (frame index / AnalysisFps, the fps filter's
/// grid). For a file read once, the position in the video (to within a frame interval plus the
/// video's start offset); it restarts at each reconnect or loop. Null with Decode = KeyFrames, whose
/// frames are not on a fixed grid.
/// </param>
public sealed record VideoFrame(string CameraId, BgrImage Image, DateTimeOffset CapturedAt, long Sequence, TimeSpan? Position);
