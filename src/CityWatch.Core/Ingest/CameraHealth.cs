namespace CityWatch.Ingest;

/// <summary>Where a camera's ingest stands.</summary>
public enum CameraState
{
    /// <summary>Started, first connection in progress, no failure yet.</summary>
    Connecting,

    /// <summary>Frames are arriving.</summary>
    Online,

    /// <summary>The last attempt failed (see LastError); reconnecting with backoff in the background.</summary>
    Offline,

    /// <summary>Stopped, or a finite file has been read to its end.</summary>
    Stopped,
}

/// <summary>A camera's ingest health at one moment, for the API and the operator UI.</summary>
/// <param name="Since">When the camera entered <paramref name="State"/>.</param>
/// <param name="FramesDecoded">Frames ffmpeg delivered at the analysis rate.</param>
/// <param name="FramesAnalysed">Frames the consumer reported as analysed (<see cref="CameraHealth.FrameAnalysed"/>).</param>
/// <param name="FramesDropped">Frames dropped because the consumer fell behind (oldest first).</param>
/// <param name="Reconnects">Connection attempts after the first.</param>
/// <param name="ConsecutiveFailures">Failed attempts since the last frame.</param>
public sealed record CameraHealthSnapshot(
    string CameraId,
    CameraState State,
    DateTimeOffset Since,
    DateTimeOffset? LastFrameAt,
    long FramesDecoded,
    long FramesAnalysed,
    long FramesDropped,
    long Reconnects,
    int ConsecutiveFailures,
    string? LastError,
    DateTimeOffset? LastErrorAt)
{
    /// <summary>Frames the motion gate kept from analysis because nothing moved (<see cref="CameraHealth.FrameGated"/>).</summary>
    public long FramesGated { get; init; }
}

/// <summary>
/// The live health record of one camera. <see cref="FrameSource"/> updates it; the camera worker
/// reports <see cref="FrameAnalysed"/>; anyone may read <see cref="Snapshot"/>. Thread-safe.
/// </summary>
public sealed class CameraHealth
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private CameraState _state = CameraState.Connecting;
    private DateTimeOffset _since;
    private DateTimeOffset? _lastFrameAt;
    private long _decoded;
    private long _analysed;
    private long _dropped;
    private long _gated;
    private long _reconnects;
    private int _consecutiveFailures;
    private string? _lastError;
    private DateTimeOffset? _lastErrorAt;

    public CameraHealth(string cameraId, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cameraId);
        CameraId = cameraId;
        _time = timeProvider ?? TimeProvider.System;
        _since = _time.GetUtcNow();
    }

    public string CameraId { get; }

    public CameraState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    public CameraHealthSnapshot Snapshot()
    {
        lock (_lock)
        {
            return new CameraHealthSnapshot(
                CameraId, _state, _since, _lastFrameAt, _decoded, _analysed, _dropped, _reconnects, _consecutiveFailures, _lastError, _lastErrorAt)
            {
                FramesGated = Interlocked.Read(ref _gated),
            };
        }
    }

    /// <summary>The consumer finished analysing one frame of this camera.</summary>
    public void FrameAnalysed() => Interlocked.Increment(ref _analysed);

    /// <summary>The consumer's motion gate skipped one frame of this camera (nothing moved).</summary>
    public void FrameGated() => Interlocked.Increment(ref _gated);

    internal void FrameDropped() => Interlocked.Increment(ref _dropped);

    internal void FrameDecoded(DateTimeOffset at)
    {
        lock (_lock)
        {
            _decoded++;
            _lastFrameAt = at;
            _consecutiveFailures = 0;
            Enter(CameraState.Online, at);
        }
    }

    internal void ReconnectStarted()
    {
        lock (_lock)
        {
            _reconnects++;
        }
    }

    internal void Failed(string error)
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            _consecutiveFailures++;
            _lastError = error;
            _lastErrorAt = now;
            Enter(CameraState.Offline, now);
        }
    }

    internal void Stopped()
    {
        lock (_lock)
        {
            Enter(CameraState.Stopped, _time.GetUtcNow());
        }
    }

    private void Enter(CameraState state, DateTimeOffset at)
    {
        if (_state != state)
        {
            _state = state;
            _since = at;
        }
    }
}
