using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace CityWatch.ScaleOut;

/// <summary>A nats-server user: its name and password (random, from <see cref="NatsAccess.NewUser"/>).</summary>
public sealed record NatsUser(string Name, string Password)
{
    /// <summary>The name only: a record prints every member, and the password must not reach a log line or an exception message.</summary>
    public override string ToString() => Name;
}

/// <summary>
/// Who may do what on a city's nats-server: the <c>authorization</c> block of its configuration, with one user for
/// the server role and one per worker, and no anonymous access. A worker may publish only on its own subjects
/// (its audit events, its candidates, its grant and gallery requests), read and write the two lease buckets, and
/// receive only on its own inbox prefix (<see cref="InboxPrefix"/>). It may not read, delete, purge or reconfigure
/// the event and candidate streams, nor consume them, nor subscribe to anything another worker or the server
/// sends or receives. So the subject an event arrives on names the worker that sent it, which the ingests rely on.
/// </summary>
/// <remarks>
/// Without this, anyone who reached nats-server could publish a candidate on a worker's subject, or read every
/// candidate (scores, watchlist entries, cameras) by consuming the stream. Password users, not NATS accounts or
/// JWTs, because one server role and its workers are one trust domain that the configuration file describes whole;
/// nats-server 2.9 (Debian's) reads this block as it is.
/// </remarks>
public static class NatsAccess
{
    /// <summary>The server role's user.</summary>
    public const string ServerUser = "citywatch-server";

    /// <summary>bcrypt's cost for the stored hashes: nats-server checks one at every connect, and a worker connects once (and again after an outage).</summary>
    public const int BcryptCost = 10;

    private static readonly string[] Streams = [AuditPublisher.DefaultStream, WorkerProtocol.CandidateStream];

    private static readonly string[] Buckets = [CameraLeases.DefaultBucket, CameraLeaseKeeper.LiveBucket];

    /// <summary>A user with a fresh random password (32 random bytes, hex).</summary>
    public static NatsUser NewUser(string name) => new(name, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));

    /// <summary>The inbox prefix a worker's connection must use: its replies arrive there, and only it may subscribe to it.</summary>
    public static string InboxPrefix(string worker) => "_INBOX_" + WorkerProtocol.CheckedWorker(worker);

    /// <summary>
    /// The <c>authorization { ... }</c> block for nats-server's configuration file. It holds each password's bcrypt hash
    /// (cost <see cref="BcryptCost"/>), which nats-server checks a connecting client's password against, not the
    /// password: whoever reads the file (or a copy of the server's disk) cannot connect as a worker with what is in it.
    /// </summary>
    public static string Authorization(NatsUser server, IEnumerable<NatsUser> workers)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(workers);
        var text = new StringBuilder();
        text.AppendLine("authorization {");
        text.AppendLine("  users = [");
        text.AppendLine(CultureInfo.InvariantCulture, $"    {{ user: {Quoted(server.Name)}, password: {Quoted(Hashed(server))} }}");
        foreach (var worker in workers)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"    {{ user: {Quoted(worker.Name)}, password: {Quoted(Hashed(worker))}, permissions: {WorkerPermissions(worker.Name)} }}");
        }

        text.AppendLine("  ]");
        text.AppendLine("}");
        return text.ToString();
    }

    private static string Hashed(NatsUser user) => BCrypt.Net.BCrypt.HashPassword(user.Password, BcryptCost);

    private static string WorkerPermissions(string worker)
    {
        List<string> publish =
        [
            AuditPublisher.Subject(worker),
            WorkerProtocol.CandidateSubject(worker),
            WorkerProtocol.GrantSubject(worker),
            WorkerProtocol.GallerySubject(worker),
            WorkerProtocol.RegisterSubject,
            .. Buckets.Select(b => $"$KV.{b}.>"),
            // The JetStream API, less what follows in deny: stream info, key reads and watches, stream creation.
            "$JS.API.>",
            "$JS.FC.>",
        ];
        List<string> deny =
        [
            "$JS.API.STREAM.DELETE.>",
            "$JS.API.STREAM.PURGE.>",
            "$JS.API.STREAM.UPDATE.>",
            "$JS.API.STREAM.MSG.DELETE.>",
            "$JS.API.STREAM.SNAPSHOT.>",
            "$JS.API.STREAM.RESTORE.>",
            "$JS.API.ACCOUNT.PURGE.>",
        ];
        foreach (var stream in Streams)
        {
            deny.AddRange(
            [
                $"$JS.API.STREAM.MSG.GET.{stream}",
                $"$JS.API.DIRECT.GET.{stream}",
                $"$JS.API.DIRECT.GET.{stream}.>",
                $"$JS.API.CONSUMER.*.{stream}",
                $"$JS.API.CONSUMER.*.{stream}.>",
                $"$JS.API.CONSUMER.*.*.{stream}.>",
            ]);
        }

        return "{ publish: { allow: " + List(publish) + ", deny: " + List(deny) + " }, subscribe: { allow: " + List([InboxPrefix(worker) + ".>"]) + " } }";
    }

    private static string List(IEnumerable<string> subjects) => "[" + string.Join(", ", subjects.Select(Quoted)) + "]";

    // nats-server's configuration strings: double-quoted, with backslash and quote escaped.
    private static string Quoted(string value) => "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
