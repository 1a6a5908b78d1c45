using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CityWatch.Cli.Bench;

/// <summary>
/// A stand-in network camera for <c>bench latency</c>: a multipart JPEG stream over HTTP (what many IP cameras
/// serve at <c>/video.mjpg</c>) on 127.0.0.1, <see cref="FramesPerSecond"/> frames a second, every client the
/// same picture. The bench changes the picture with <see cref="ShowAsync"/> and learns when the first frame that
/// carries it left for the clients: that is the frame's capture time, the start of every latency it measures.
/// ffmpeg reads the stream as a camera (it gives MJPEG without timestamps 25 frames a second, so the stream runs at 25).
/// </summary>
internal sealed class MjpegCamera : IAsyncDisposable
{
    public const int FramesPerSecond = 25;

    private const string Boundary = "citywatchframe";

    private readonly TcpListener _listener;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<NetworkStream> _clients = [];
    private readonly Task _accepting;
    private readonly Task _sending;
    private byte[] _picture;
    private TaskCompletionSource<DateTimeOffset>? _shown;

    private MjpegCamera(byte[] picture, TimeProvider time)
    {
        _picture = picture;
        _time = time;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = Task.Run(AcceptAsync);
        _sending = Task.Run(SendAsync);
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture)}/video.mjpg";

    /// <summary>Starts serving <paramref name="picture"/> (a JPEG) to whoever connects.</summary>
    public static MjpegCamera Start(byte[] picture, TimeProvider time) => new(picture, time);

    /// <summary>From the next frame on, the stream shows <paramref name="picture"/>; completes with the time that frame was sent (read just before writing it).</summary>
    public Task<DateTimeOffset> ShowAsync(byte[] picture, CancellationToken cancellationToken)
    {
        var shown = new TaskCompletionSource<DateTimeOffset>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _picture = picture;
            _shown?.TrySetCanceled(CancellationToken.None);
            _shown = shown;
        }

        return shown.Task.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await Task.WhenAll(_accepting, _sending);
        lock (_lock)
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }

            _clients.Clear();
            _shown?.TrySetCanceled(CancellationToken.None);
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            client.NoDelay = true;
            var stream = client.GetStream();
            try
            {
                await ReadRequestAsync(stream, _stop.Token);
                var header = $"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary={Boundary}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(header), _stop.Token);
                lock (_lock)
                {
                    _clients.Add(stream);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
            {
                stream.Dispose();
            }
        }
    }

    // The request line and headers, up to the blank line; what was asked does not matter (one stream).
    private static async Task ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        var seen = 0;
        while (seen < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(seen), cancellationToken);
            if (read == 0)
            {
                throw new IOException("the client closed before its request ended");
            }

            seen += read;
            if (buffer.AsSpan(0, seen).IndexOf("\r\n\r\n"u8) >= 0)
            {
                return;
            }
        }

        throw new IOException("request headers too long");
    }

    private async Task SendAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / FramesPerSecond), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                byte[] picture;
                TaskCompletionSource<DateTimeOffset>? shown;
                NetworkStream[] clients;
                lock (_lock)
                {
                    picture = _picture;
                    shown = _shown;
                    clients = [.. _clients];
                }

                var part = Part(picture);
                var sentAt = _time.GetUtcNow();
                var delivered = 0;
                foreach (var client in clients)
                {
                    try
                    {
                        await client.WriteAsync(part, _stop.Token);
                        delivered++;
                    }
                    catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                    {
                        // That client went (ffprobe, or ffmpeg restarting): the others go on.
                        lock (_lock)
                        {
                            _clients.Remove(client);
                        }

                        client.Dispose();
                    }
                }

                if (shown is not null && delivered > 0)
                {
                    lock (_lock)
                    {
                        if (ReferenceEquals(_shown, shown))
                        {
                            _shown = null;
                        }
                    }

                    shown.TrySetResult(sentAt);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private static byte[] Part(byte[] jpeg)
    {
        var head = Encoding.ASCII.GetBytes($"--{Boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {jpeg.Length.ToString(CultureInfo.InvariantCulture)}\r\n\r\n");
        var part = new byte[head.Length + jpeg.Length + 2];
        head.CopyTo(part, 0);
        jpeg.CopyTo(part, head.Length);
        "\r\n"u8.CopyTo(part.AsSpan(head.Length + jpeg.Length));
        return part;
    }
}
