using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Identity;
using CityWatch.Investigations;
using CityWatch.Keys;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Recognition;
using CityWatch.Vision;
using CityWatch.Server.Alerts;
using CityWatch.Server.Audit;
using CityWatch.Server.Cameras;
using CityWatch.Server.Cases;
using CityWatch.Server.Demo;
using CityWatch.Server.Identity;
using CityWatch.Server.Investigations;
using CityWatch.Server.Matching;
using CityWatch.Server.OperatorConsole;
using CityWatch.Server.Policy;
using CityWatch.Server.Portal;
using CityWatch.Server.Recognition;
using CityWatch.Server.ScaleOut;
using CityWatch.Server.Settings;
using CityWatch.Server.Transparency;
using CityWatch.Server.SubjectAccess;
using CityWatch.Server.Vision;
using CityWatch.Settings;

namespace CityWatch.Server;

/// <summary>The server, one process with every role: read top to bottom, it is the table of contents.</summary>
public static class CityWatchServer
{
    public static WebApplication Build(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Kek is null)
        {
            throw new KeyEncryptionKeyRequiredException(
                $"no key-encryption key: give --kek-file FILE (outside the data folder), --kek-shares-from FILE... or set {KeyEncryptionKey.EnvironmentVariable}");
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = typeof(CityWatchServer).Assembly.GetName().Name, ContentRootPath = AppContext.BaseDirectory });
        var scaleOut = ScaleOutOptions.From(options, builder.Configuration);
        var postgres = PostgresOptions.From(options, builder.Configuration);
        if (scaleOut.Role == ServerRole.Worker)
        {
            throw new ArgumentException("the worker role is its own host (WorkerHost), not this server");
        }

        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new EnumNames()));
        builder.WebHost.UseUrls(options.Urls);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("System.Net.Http", LogLevel.Warning);

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<Readiness>();
        builder.Services.AddSingleton<SetupTokenHolder>();
        builder.Services.AddProblemMapping();
        builder.Services.AddApiDescription();
        builder.Services.AddCityWatchCore(options, postgres);
        builder.Services.AddIdentity(new CityWatch.Identity.IdentityOptions { InvitationLifetime = options.InvitationLifetime });
        builder.Services.AddSameOriginGuard();
        builder.Services.AddOidcSignIn(options.Oidc);
        builder.Services.AddScaleOut(scaleOut);
        // The server role runs no cameras: its workers do.
        builder.Services.AddCameraMonitoring(scaleOut.Role == ServerRole.Server ? options with { RunCameras = false } : options);
        builder.Services.AddVerificationAndRetention();
        builder.Services.AddInvestigations();
        builder.Services.AddPortal(options, builder.Configuration);
        if (options.Demo)
        {
            builder.Services.AddHostedService<DemoCity>();
        }

        var app = builder.Build();
        if (postgres is not null)
        {
            app.Logger.LogInformation("The database is on PostgreSQL: {Database}", postgres);
            if (File.Exists(options.DatabasePath))
            {
                // Nothing is copied from it: a city moving to PostgreSQL starts there, and this file stays as it was.
                app.Logger.LogWarning("The data folder holds a SQLite database, {File}, which this server does not use: it runs on PostgreSQL", options.DatabasePath);
            }
        }

        OpenKeys(app);
        CheckAuditLog(app);
        app.UseSecurityHeaders();
        app.UsePortalAssets();
        app.UseProblemMapping();
        app.UseAuthentication();
        app.UseConsoleSignIn();
        app.UseSameOriginGuard();
        app.UseNotFoundForUnknownPaths();
        app.UseAuthorization();
        app.UseRateLimiter();
        Readiness.MapHealth(app);
        app.MapApiDescription();
        app.MapIdentityApi();
        app.MapAntiforgery();
        app.MapOidcSignIn(options.Oidc);
        app.MapEdgeApi();
        app.MapCameraApi();
        app.MapLegalBasisApi();
        app.MapDeploymentApi();
        app.MapCaseApi();
        app.MapWatchlistApi();
        app.MapAlertApi();
        app.MapSubjectAccessApi();
        app.MapAnalysisApi();
        app.MapAnalysisJobApi();
        app.MapModelCardApi();
        app.MapSettingsApi();
        app.MapReportApi();
        app.MapAuditApi();
        app.MapPortal();
        app.MapConsole();
        app.MapConsoleBases();
        app.MapConsoleCameras();
        app.MapConsoleReports();
        app.MapConsoleWatchlists();
        app.MapConsoleAudit();
        app.MapConsoleSettings();
        app.MapConsoleCases();
        app.MapConsoleJobs();

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            // No default password: while no account exists, a one-time token creates the first administrator.
            if (app.Services.GetRequiredService<SetupTokenHolder>().Token is { } token)
            {
                if (!options.Demo)
                {
                    Console.WriteLine($"CityWatch has no accounts yet. Create the first administrator with this one-time set-up token: {token}");
                    Console.WriteLine($"  ./citywatch users setup --token {token} --username NAME --server {app.Urls.FirstOrDefault()}");
                }
            }

            if (!options.Demo)
            {
                app.Services.GetRequiredService<Readiness>().MarkReady();
            }
        });

        return app;
    }

    // The keys open at start, before anything listens: the log's signing key is unwrapped (a wrong KEK
    // stops here), an older data folder's plaintext key files, templates, account secrets and stream credentials are wrapped and sealed, and
    // every unwrap so far goes into the log as it opens.
    private static void OpenKeys(WebApplication app)
    {
        try
        {
            var audit = app.Services.GetRequiredService<AuditTrail>();
            app.Services.GetRequiredService<WatchlistStore>().SealPlaintextTemplatesAsync(audit).GetAwaiter().GetResult();
            app.Services.GetRequiredService<IdentityStore>().SealClearSecretsAsync(audit).GetAwaiter().GetResult();
            app.Services.GetRequiredService<CameraRegister>().SealClearCredentialsAsync().GetAwaiter().GetResult();
        }
        catch
        {
            ((IDisposable)app).Dispose();
            throw;
        }
    }

    // The log was checked against the latest witnessed checkpoint as it opened: on a log that is shorter,
    // forked or altered the server still starts (so the public can read what is there and staff can
    // investigate), but it is not ready and the policy engine grants nothing.
    private static void CheckAuditLog(WebApplication app)
    {
        if (app.Services.GetRequiredService<AuditTrail>().StartupFailure is { } failure)
        {
            app.Logger.LogCritical("The audit log failed its start-up check; biometric processing is refused: {Failure}", failure);
            app.Services.GetRequiredService<Readiness>().MarkFailed($"The audit log failed its start-up check: {failure}");
        }
    }

    /// <summary>
    /// The core services, shared by the server and the CLI's offline commands: the database is the data folder's
    /// SQLite file, or with <paramref name="postgres"/> a PostgreSQL database behind one <see cref="Npgsql.NpgsqlDataSource"/>
    /// (a singleton the container disposes with the host, closing its pool) with this server's local erasure-key file.
    /// </summary>
    public static IServiceCollection AddCityWatchCore(this IServiceCollection services, ServerOptions options, PostgresOptions? postgres = null)
    {
        services.AddSingleton(options.Time);
        if (postgres is not null)
        {
            services.AddSingleton(_ => postgres.DataSource());
        }

        services.AddSingleton(sp =>
        {
            if (postgres is null)
            {
                var file = new CityWatchDatabase(options.DatabasePath, options.Kek);
                file.Migrate(options.Time);
                return file;
            }

            // The SQLite constructor made the data folder; here nothing else would, and the evidence, the uploads,
            // the erasure-key file and the demo's accounts file are still kept in it.
            Directory.CreateDirectory(options.DataDirectory);
            var dataSource = sp.GetRequiredService<Npgsql.NpgsqlDataSource>();
            var database = CityWatchDatabase.OnPostgres(dataSource, options.Kek, postgres.ErasureKeyFile);
            MigrateOneAtATime(dataSource, database, options.Time);
            return database;
        });
        services.AddSingleton<Func<IReadOnlyList<CommittedState>>>(sp =>
        {
            var watchlists = sp.GetRequiredService<WatchlistStore>();
            return () => watchlists.Digests().Select(d => new CommittedState($"watchlist/{d.WatchlistId}", d.Count, d.RootHash)).ToList();
        });
        services.AddAudit(audit =>
        {
            foreach (var key in options.WitnessKeys)
            {
                audit.WitnessKeys.Add(key);
            }

            foreach (var directory in options.WitnessStates)
            {
                audit.WitnessStates.Add(directory);
            }
        });
        services.AddPolicy();
        services.AddSingleton<CameraStore>();
        services.AddSingleton<CameraUptime>();
        services.AddSingleton<WatchlistStore>();
        services.AddSingleton<WatchlistIndex>();
        services.AddSingleton(sp => new AlertStore(sp.GetRequiredService<CityWatchDatabase>(), options.EvidenceDirectory));
        var vision = new VisionOptions { ModelDirectory = options.ModelsDirectory, Detector = options.Detector, Embedder = options.Embedder };
        vision.Validate();
        services.AddSingleton(vision);
        services.AddSingleton<SettingsStore>();
        services.AddSingleton<SettingProposals>();
        services.AddSingleton<CityWatch.Transparency.Reports>();
        services.AddSingleton<FacePipeline>();
        services.AddSingleton<Enrolment>();
        return services;
    }

    /// <summary>The session advisory lock ("CWMIGRAT") a server holds on PostgreSQL while it migrates the schema.</summary>
    public const long MigrationLockKey = 0x43_57_4D_49_47_52_41_54;

    // Servers of one city started together on a fresh (or older) PostgreSQL database would each create the same
    // tables and one would fail on them: they migrate one at a time, the later finding the schema at its version.
    // The lock is held on a connection of its own (Migrate opens another) and released before that goes back to the pool.
    private static void MigrateOneAtATime(Npgsql.NpgsqlDataSource dataSource, CityWatchDatabase database, TimeProvider time)
    {
        using var gate = dataSource.OpenConnection();
        using (var take = gate.CreateCommand())
        {
            take.CommandText = $"SELECT pg_advisory_lock({MigrationLockKey})";
            take.ExecuteNonQuery();
        }

        try
        {
            database.Migrate(time);
        }
        finally
        {
            using var release = gate.CreateCommand();
            release.CommandText = $"SELECT pg_advisory_unlock({MigrationLockKey})";
            release.ExecuteNonQuery();
        }
    }

    /// <summary>One ingest and recognition worker per streaming camera, and the frame analyzer they share.</summary>
    private static IServiceCollection AddCameraMonitoring(this IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton(sp =>
        {
            var settings = sp.GetRequiredService<SettingsStore>();
            var embedder = sp.GetRequiredService<VisionOptions>().Embedder;
            return new RecognitionOptions { ThresholdSource = () => settings.OperatingThreshold(embedder) };
        });
        services.AddSingleton<FrameAnalyzer>();
        services.AddSingleton<MediaAnalyzer>();
        services.AddSingleton(sp => new CameraMonitor(
            new RegisterCameras(sp.GetRequiredService<CameraStore>()),
            sp.GetRequiredService<CameraUptime>(),
            sp,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<CameraMonitor>>(),
            options.RunCameras,
            sp.GetService<CityWatch.ScaleOut.CameraLeaseKeeper>()));
        services.AddHostedService(sp => sp.GetRequiredService<CameraMonitor>());
        return services;
    }
}
