using System.Globalization;
using CityWatch.ScaleOut;

namespace CityWatch.Server.ScaleOut;

/// <summary>
/// The scale-out settings as the server runs them: each from its <see cref="ServerOptions"/> value (a CLI flag) when
/// set, else from configuration (<c>ScaleOut:Nats</c>, <c>ScaleOut:Worker</c>, <c>ScaleOut:LeaseTtl</c> as
/// <c>hh:mm:ss[.fff]</c>; environment <c>ScaleOut__Worker</c> and so on), else the default. A worker name needs a NATS URL.
/// </summary>
public sealed record ScaleOutOptions(string? NatsUrl, string? Worker, TimeSpan LeaseTtl)
{
    public const string RoleKey = "ScaleOut:Role";
    public const string NatsKey = "ScaleOut:Nats";
    public const string WorkerKey = "ScaleOut:Worker";
    public const string LeaseTtlKey = "ScaleOut:LeaseTtl";

    public static readonly TimeSpan DefaultLeaseTtl = TimeSpan.FromSeconds(6);
    public static readonly TimeSpan MinLeaseTtl = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxLeaseTtl = TimeSpan.FromMinutes(5);

    /// <summary>Resolves and checks the settings; a bad one throws <see cref="ArgumentException"/> with a one-line reason.</summary>
    public static ScaleOutOptions From(ServerOptions options, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configuration);
        var nats = Blank(options.NatsUrl) ?? Blank(configuration[NatsKey]);
        if (nats is not null && !(Uri.TryCreate(nats, UriKind.Absolute, out var uri) && uri.Scheme is "nats" or "tls"))
        {
            throw new ArgumentException($"--nats must be a nats:// URL ({NatsKey} too), not '{nats}'");
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

        return new ScaleOutOptions(nats, worker, ttl) { Role = role };
    }

    /// <summary>Which part of CityWatch this process runs (<c>--role</c>, <c>ScaleOut:Role</c>); default <see cref="ServerRole.All"/>.</summary>
    public ServerRole Role { get; init; } = ServerRole.All;

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
