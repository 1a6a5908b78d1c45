using System.Globalization;
using CityWatch.ScaleOut;

namespace CityWatch.Server.ScaleOut;

/// <summary>
/// The scale-out settings as the server runs them: each from its <see cref="ServerOptions"/> value (a CLI flag) when
/// set, else from configuration (<c>ScaleOut:Nats</c>, <c>ScaleOut:Worker</c>, <c>ScaleOut:LeaseTtl</c> as
/// <c>hh:mm:ss[.fff]</c>; environment <c>ScaleOut__Worker</c> and so on), else the default. A worker name needs a NATS URL.
/// The link to NATS (<see cref="Link"/>): the URL without credentials, the user (<c>--nats-user</c>, <c>ScaleOut:NatsUser</c>)
/// with its password from <c>ScaleOut:NatsPassword</c> (the environment, <c>ScaleOut__NatsPassword</c>) or from the file
/// <c>ScaleOut:NatsPasswordFile</c> names, never a flag, and the CA file (<c>--nats-ca</c>, <c>ScaleOut:NatsCaFile</c>)
/// that makes TLS required; see <see cref="NatsLink"/>.
/// </summary>
public sealed record ScaleOutOptions(string? NatsUrl, string? Worker, TimeSpan LeaseTtl)
{
    public const string RoleKey = "ScaleOut:Role";
    public const string NatsKey = "ScaleOut:Nats";
    public const string WorkerKey = "ScaleOut:Worker";
    public const string LeaseTtlKey = "ScaleOut:LeaseTtl";
    public const string NatsUserKey = "ScaleOut:NatsUser";
    public const string NatsPasswordKey = "ScaleOut:NatsPassword";
    public const string NatsPasswordFileKey = "ScaleOut:NatsPasswordFile";
    public const string NatsCaFileKey = "ScaleOut:NatsCaFile";

    public static readonly TimeSpan DefaultLeaseTtl = TimeSpan.FromSeconds(6);
    public static readonly TimeSpan MinLeaseTtl = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxLeaseTtl = TimeSpan.FromMinutes(5);

    /// <summary>Resolves and checks the settings; a bad one throws <see cref="ArgumentException"/> with a one-line reason.</summary>
    public static ScaleOutOptions From(ServerOptions options, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configuration);
        var nats = Blank(options.NatsUrl) ?? Blank(configuration[NatsKey]);
        var caFile = Blank(options.NatsCaFile) ?? Blank(configuration[NatsCaFileKey]);
        NatsUser? user = null;
        if (nats is not null)
        {
            if (!(Uri.TryCreate(nats, UriKind.Absolute, out var uri) && uri.Scheme is "nats" or "tls"))
            {
                // Not echoed where it may carry a password.
                throw new ArgumentException(nats.Contains('@', StringComparison.Ordinal) ? $"--nats must be a nats:// URL ({NatsKey} too)" : $"--nats must be a nats:// URL ({NatsKey} too), not '{nats}'");
            }

            try
            {
                NatsLink.Check(nats, caFile);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"--nats ({NatsKey}): {e.Message}");
            }

            if (caFile is not null)
            {
                caFile = Path.GetFullPath(caFile);
                if (!File.Exists(caFile))
                {
                    throw new ArgumentException($"--nats-ca ({NatsCaFileKey}): no such file {caFile}");
                }
            }

            user = NatsUserFrom(Blank(options.NatsUser) ?? Blank(configuration[NatsUserKey]), configuration);
        }

        var worker = Blank(options.Worker) ?? Blank(configuration[WorkerKey]);
        if (worker is not null && !CameraLeaseKeeper.IsValidWorkerName(worker))
        {
            throw new ArgumentException($"--worker ({WorkerKey}) '{worker}' is not a usable worker name: letters, digits, '-' and '_' only, at most 64");
        }

        if (worker is not null && nats is null)
        {
            throw new ArgumentException($"--worker ({WorkerKey}) needs --nats ({NatsKey}): the leases live in NATS");
        }

        var ttl = options.LeaseTtl ?? (Blank(configuration[LeaseTtlKey]) is { } text
            ? (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var parsed) ? parsed : throw new ArgumentException($"{LeaseTtlKey} must be a time span such as 00:00:06, not '{text}'"))
            : DefaultLeaseTtl);
        if (ttl < MinLeaseTtl || ttl > MaxLeaseTtl)
        {
            throw new ArgumentException($"--lease-ttl-s ({LeaseTtlKey}) must be between {MinLeaseTtl.TotalSeconds:0} s and {MaxLeaseTtl.TotalSeconds:0} s, not {ttl.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
        }

        var roleText = Blank(options.Role) ?? Blank(configuration[RoleKey]) ?? "all";
        var role = roleText switch
        {
            "all" => ServerRole.All,
            "server" => ServerRole.Server,
            "worker" => ServerRole.Worker,
            _ => throw new ArgumentException($"--role ({RoleKey}) must be all, server or worker, not '{roleText}'"),
        };
        if (role == ServerRole.Server && nats is null)
        {
            throw new ArgumentException($"--role server needs --nats ({NatsKey}): its workers reach it there");
        }

        if (role == ServerRole.Worker && (nats is null || worker is null))
        {
            throw new ArgumentException($"--role worker needs --nats ({NatsKey}) and --worker ({WorkerKey}): it runs the cameras it leases there");
        }

        if (role == ServerRole.Server && worker is not null)
        {
            throw new ArgumentException($"--role server runs no cameras, so it takes no --worker ({WorkerKey})");
        }

        return new ScaleOutOptions(nats, worker, ttl) { Role = role, User = user, NatsCaFile = caFile };
    }

    /// <summary>Which part of CityWatch this process runs (<c>--role</c>, <c>ScaleOut:Role</c>); default <see cref="ServerRole.All"/>.</summary>
    public ServerRole Role { get; init; } = ServerRole.All;

    /// <summary>The NATS user this process connects as; null: anonymous (a nats-server without an <c>authorization</c> block).</summary>
    public NatsUser? User { get; init; }

    /// <summary>The CA file (a full path) nats-server's certificate must chain to; null: no TLS, a loopback URL only.</summary>
    public string? NatsCaFile { get; init; }

    /// <summary>How to reach NATS, for every connection this process opens; null without a URL.</summary>
    public NatsLink? Link => NatsUrl is { } url ? new NatsLink(url, User, NatsCaFile) : null;

    // The password never comes from a flag (ps shows those): the environment, or a file only its owner reads.
    private static NatsUser? NatsUserFrom(string? name, IConfiguration configuration)
    {
        var password = configuration[NatsPasswordKey] is { Length: > 0 } given ? given : null;
        var file = Blank(configuration[NatsPasswordFileKey]);
        if (password is not null && file is not null)
        {
            throw new ArgumentException($"give the NATS password in {NatsPasswordKey} or in the file {NatsPasswordFileKey} names, not both");
        }

        if (file is not null)
        {
            try
            {
                password = File.ReadAllText(file).TrimEnd('\r', '\n');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"{NatsPasswordFileKey}: cannot read {Path.GetFullPath(file)} ({e.Message})");
            }

            if (password.Length == 0)
            {
                throw new ArgumentException($"{NatsPasswordFileKey}: {Path.GetFullPath(file)} is empty");
            }
        }

        return (name, password) switch
        {
            (null, null) => null,
            (null, _) => throw new ArgumentException($"a NATS password needs its user: --nats-user ({NatsUserKey})"),
            (_, null) => throw new ArgumentException($"--nats-user ({NatsUserKey}) needs its password in {NatsPasswordKey} (environment ScaleOut__NatsPassword) or a file named by {NatsPasswordFileKey}"),
            _ => new NatsUser(name, password),
        };
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

/// <summary>What a <c>serve</c> process runs.</summary>
public enum ServerRole
{
    /// <summary>Everything in one process, as before the roles were split (the default).</summary>
    All,

    /// <summary>The register, the policy engine, the stores and the audit log, answering its workers over NATS; no cameras.</summary>
    Server,

    /// <summary>Cameras and recognition only, against a server over NATS (<see cref="WorkerHost"/>): no database, no data folder, no key-encryption key.</summary>
    Worker,
}
