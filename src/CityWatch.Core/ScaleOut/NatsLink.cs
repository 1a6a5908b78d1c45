using System.Net;
using NATS.Client.Core;

namespace CityWatch.ScaleOut;

/// <summary>
/// How a CityWatch process reaches its city's nats-server: the URL (no credentials in it), the user it connects as
/// (<see cref="NatsUser"/>, or none where nats-server takes anonymous clients) and the CA file its certificate must
/// chain to. <see cref="Options"/> is the one place a <see cref="NatsOpts"/> is made from them, for every connection
/// (server, worker, sim), so that none can forget TLS or put the password back in a URL.
/// </summary>
/// <remarks>
/// With a CA file, TLS is required (<see cref="TlsMode.Require"/>): a nats-server without TLS, or whose certificate
/// does not chain to that CA or does not name the URL's host, is refused; the password then travels only inside TLS.
/// Without one, only a loopback host is allowed (<see cref="Check"/>), over plain TCP as before: nothing leaves the
/// box, and the single-box tests and a one-box city keep working without certificates.
/// </remarks>
public sealed record NatsLink(string Url, NatsUser? User = null, string? CaFile = null)
{
    /// <summary>The options for one connection named <paramref name="name"/>, replies to <paramref name="inboxPrefix"/> (NATS.Net's default where null).</summary>
    public NatsOpts Options(string name, string? inboxPrefix = null)
    {
        Check(Url, CaFile);
        var options = new NatsOpts
        {
            Url = Url,
            Name = name,
            AuthOpts = User is { } user ? NatsAuthOpts.Default with { Username = user.Name, Password = user.Password } : NatsAuthOpts.Default,
            TlsOpts = CaFile is { } ca ? NatsTlsOpts.Default with { Mode = TlsMode.Require, CaFile = ca } : NatsTlsOpts.Default,
        };
        return inboxPrefix is null ? options : options with { InboxPrefix = inboxPrefix };
    }

    /// <summary>
    /// Refuses, with a one-line <see cref="ArgumentException"/> that does not repeat the URL (it may hold a password), a
    /// URL that is not <c>nats://</c> or <c>tls://</c>, one that carries a user or password, and one to a host other than
    /// loopback without a CA file.
    /// </summary>
    public static void Check(string url, string? caFile)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("nats" or "tls"))
        {
            throw new ArgumentException(url.Contains('@', StringComparison.Ordinal)
                ? "the NATS URL must be nats://host:port or tls://host:port"
                : $"the NATS URL must be nats://host:port or tls://host:port, not '{url}'");
        }

        if (uri.UserInfo.Length > 0)
        {
            // Not echoed: a URL with a password in it is on a command line or in a file already, and need not be in the log too.
            throw new ArgumentException("the NATS URL must not carry a user or password: give the user in ScaleOut:NatsUser and the password in ScaleOut:NatsPassword (environment ScaleOut__NatsPassword) or a file named by ScaleOut:NatsPasswordFile");
        }

        if (caFile is null && !IsLoopback(uri))
        {
            throw new ArgumentException($"a NATS server on {uri.Host} needs TLS: give the CA file its certificate chains to (--nats-ca, ScaleOut:NatsCaFile); only a loopback link may go without");
        }
    }

    /// <summary>The URL and the CA file; never the password.</summary>
    public override string ToString() => $"{Url} as {User?.Name ?? "anonymous"}{(CaFile is null ? " (no TLS: loopback)" : $" (TLS, CA {CaFile})")}";

    private static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
}
