using System.CommandLine;
using CityWatch.Server;
using CityWatch.Server.Demo;
using CityWatch.Server.Identity;
using CityWatch.Server.ScaleOut;
using Microsoft.Extensions.Hosting;

namespace CityWatch.Cli.Hosting;

internal static class ServeCommand
{
    public static Command Create()
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen", DefaultValueFactory = _ => ServerOptions.DefaultUrls };
        var demo = new Option<bool>("--demo") { Description = "Seed and run the demo city (800 sites, 1,000 cameras, a demonstration legal basis)" };
        var assets = new Option<string>("--assets") { Description = "The folder of verified demo assets", DefaultValueFactory = _ => Path.Combine(".data", "assets") };
        var oidcAuthority = new Option<string?>("--oidc-authority") { Description = "The city's OpenID Connect provider (optional); the client secret comes from CITYWATCH_OIDC_SECRET" };
        var oidcClient = new Option<string>("--oidc-client-id") { Description = "CityWatch's client id at the provider", DefaultValueFactory = _ => "citywatch" };
        var witnessKeys = new Option<string[]>("--witness-key") { Description = "A witness's verifier key whose cosignatures the log accepts and keeps (repeatable)", AllowMultipleArgumentsPerToken = true };
        var witnessStates = new Option<string[]>("--witness-state") { Description = "A witness folder whose state the log is checked against at start (repeatable)", AllowMultipleArgumentsPerToken = true };
        var maxUpload = new Option<long>("--max-upload-mib") { Description = "The largest media file an analysis job accepts by upload, in MiB", DefaultValueFactory = _ => 4096 };
        var recordings = new Option<string?>("--recordings") { Description = "The folder of recordings the city holds, which `analyze --url` may name (default: none)" };
        var nats = new Option<string?>("--nats") { Description = "A NATS server with JetStream (nats://127.0.0.1:4222, no user or password in it): this server takes its workers' audit events into its log, and with --worker holds camera leases there (default: ScaleOut:Nats, else none)" };
        var natsCa = new Option<string?>("--nats-ca") { Description = "The CA file (PEM) the NATS server's certificate must chain to: every NATS connection then requires TLS; without it only a loopback NATS URL is accepted (default: ScaleOut:NatsCaFile, else none)" };
        var natsUser = new Option<string?>("--nats-user") { Description = "The NATS user to connect as; its password comes from ScaleOut:NatsPassword (environment ScaleOut__NatsPassword) or the file ScaleOut:NatsPasswordFile names, never a flag (default: ScaleOut:NatsUser, else anonymous)" };
        var worker = new Option<string?>("--worker") { Description = "This process's name as one of several workers: cameras run here only while it holds their lease in NATS (needs --nats; default: ScaleOut:Worker, else none)" };
        var leaseTtl = new Option<double?>("--lease-ttl-s") { Description = "The camera lease TTL in seconds, the same for every worker (default: ScaleOut:LeaseTtl, else 6)" };
        var role = new Option<string?>("--role") { Description = "all (one process: API, policy, ingest, recognition), server (answers its workers over NATS and runs no cameras; needs --nats) or worker (cameras and recognition against a server over NATS, no data folder or key-encryption key; needs --nats, --worker and ScaleOut:GrantKey) (default: ScaleOut:Role, else all)" };
        var replay = new Option<string?>("--replay") { Description = "Worker role only, a simulation: every camera this worker runs plays this video (decoded once, held in memory) instead of its stream; leases, grants and analysis as for a stream (default: none)" };
        var postgres = new Option<string?>("--postgres") { Description = "The server's database on PostgreSQL: an Npgsql connection string (Host=127.0.0.1;Port=5432;Username=citywatch;Database=citywatch) with no password in it; the password comes from Data:PostgresPassword (environment Data__PostgresPassword) or the file Data:PostgresPasswordFile names, never a flag (default: Data:Postgres, else the SQLite file in the data folder)" };
        var erasureKeys = new Option<string?>("--erasure-keys") { Description = "With --postgres: this server's own erasure-key file, on its local disk, never in PostgreSQL (default: Data:ErasureKeys, else citywatch.erasure-keys.db in the data folder)" };
        var demoStreaming = new Option<int>("--demo-streaming") { Description = "With --demo: how many of the demo's cameras stream the demo video with face recognition allowed (citywatch sim uses more)", DefaultValueFactory = _ => DemoInventory.Streaming };
        var command = new Command("serve", "Run CityWatch: API, policy, ingest, recognition and alerts in one process. Every flag is also a setting (--max-upload-mib: Serve:MaxUploadMib in appsettings.json, or the environment variable Serve__MaxUploadMib); a flag wins") { urls, role, demo, assets, oidcAuthority, oidcClient, witnessKeys, witnessStates, maxUpload, recordings, nats, natsCa, natsUser, postgres, erasureKeys, worker, leaseTtl, replay, demoStreaming, CliCommon.Data, CliCommon.Models, CliCommon.KekFile, CliCommon.KekShares };
        command.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            var settings = new ServeSettings(result, ServeSettings.Load());
            var data = Path.GetFullPath(settings.Value(CliCommon.Data));
            var options = new ServerOptions
            {
                Urls = settings.Value(urls),
                Demo = settings.Value(demo),
                DemoStreaming = settings.Value(demoStreaming) is >= 1 and <= DemoInventory.Cameras and var streamingCount ? streamingCount : throw new ArgumentException($"--demo-streaming ({ServeSettings.Key(demoStreaming)}) must be from 1 to {DemoInventory.Cameras}"),
                WitnessKeys = settings.Values(witnessKeys),
                WitnessStates = [.. settings.Values(witnessStates).Select(Path.GetFullPath)],
                DataDirectory = data,
                ModelsDirectory = Path.GetFullPath(settings.Value(CliCommon.Models)),
                AssetsDirectory = Path.GetFullPath(settings.Value(assets)),
                MaxUploadBytes = settings.Value(maxUpload) is > 0 and var mib ? mib * 1024 * 1024 : throw new ArgumentException($"--max-upload-mib ({ServeSettings.Key(maxUpload)}) must be positive"),
                // Checked, with the configuration's ScaleOut values, by ScaleOutOptions.From as the server is built.
                Role = result.GetValue(role),
                NatsUrl = result.GetValue(nats),
                NatsCaFile = result.GetValue(natsCa),
                NatsUser = result.GetValue(natsUser),
                // Checked, with the configuration's Data values and the password, by PostgresOptions.From as the server is built.
                Postgres = result.GetValue(postgres),
                ErasureKeys = result.GetValue(erasureKeys),
                Worker = result.GetValue(worker),
                LeaseTtl = result.GetValue(leaseTtl) is { } seconds
                    ? (double.IsFinite(seconds) && seconds > 0 ? TimeSpan.FromSeconds(seconds) : throw new ArgumentException($"--lease-ttl-s must be a positive number of seconds, not {seconds}"))
                    : null,
                RecordingsDirectory = settings.Value(recordings) is { Length: > 0 } folder ? Path.GetFullPath(folder) : null,
                Oidc = settings.Value(oidcAuthority) is { Length: > 0 } authority
                    ? new OidcOptions(authority, settings.Value(oidcClient), Environment.GetEnvironmentVariable("CITYWATCH_OIDC_SECRET") ?? throw new InvalidOperationException("set CITYWATCH_OIDC_SECRET to the client secret"))
                    : null,
            };
            if (ScaleOutOptions.From(options, ServeSettings.Load()).Role == ServerRole.Worker)
            {
                // A worker stores nothing: no data folder, no key-encryption key, no database.
                if (options.Postgres is not null || options.ErasureKeys is not null)
                {
                    throw new ArgumentException("--role worker stores nothing: it takes no --postgres or --erasure-keys (its server has the database)");
                }

                var replayFile = settings.Value(replay) is { Length: > 0 } clip ? Path.GetFullPath(clip) : null;
                if (replayFile is not null && !File.Exists(replayFile))
                {
                    throw new ArgumentException($"--replay: no such file {replayFile}");
                }

                using var worker = WorkerHost.Build(WorkerHostOptions.From(options, ServeSettings.Load()) with { Replay = replayFile });
                await worker.StartAsync(cancellationToken);
                await worker.WaitForShutdownAsync(cancellationToken);
                return 0;
            }

            // A password in --postgres is refused before the key-encryption key is asked for.
            _ = PostgresOptions.From(options, ServeSettings.Load());
            options = options with { Kek = CliCommon.Kek(settings.Value(CliCommon.KekFile), settings.Values(CliCommon.KekShares), data) };
            await using var app = CityWatchServer.Build(options);
            await app.StartAsync(cancellationToken);
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        }));
        return command;
    }
}
