using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using CityWatch.Audit;
using CityWatch.AuditLog;
using CityWatch.Data;
using CityWatch.Keys;
using CityWatch.Server;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// <c>citywatch serve --postgres</c>: the real server (Kestrel) on a PostgreSQL database of the class's server, its data
/// folder holding only local files (the erasure-key file, evidence); a password in the connection string refused, one
/// from the environment or a file taken; two servers on one database, the second a hot standby of the audit sequencer.
/// </summary>
public sealed class ServePostgresTests(PostgresFixture postgres, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    private static AuditVerification Verify(RunningServer server)
    {
        var database = server.Services.GetRequiredService<CityWatchDatabase>();
        using var connection = database.Connect();
        return AuditVerifier.Verify(connection, NoteVerifier.Parse(server.Services.GetRequiredService<AuditTrail>().VerifierKey), []);
    }

    private static IReadOnlyList<LoggedAct> Acts(RunningServer server, string action) =>
        server.Services.GetRequiredService<AuditTrail>().Read(0, 100_000, action);

    private static IConfiguration Configuration(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, v.Value))).Build();

    [Fact]
    public async Task A_server_on_a_fresh_database_comes_up_ready_takes_a_camera_and_a_basis_and_its_log_verifies()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        await using var server = await RunningServer.StartAsync(configure: o => o with { Postgres = connectionString });

        using (var ready = await server.Anonymous.GetAsync("/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        var database = server.Services.GetRequiredService<CityWatchDatabase>();
        Assert.True(database.Dialect.IsPostgres);
        var camera = await server.AddCameraAsync("PG-1", null);
        var watchlist = await server.AddWatchlistAsync("PG watchlist");
        var basis = await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);

        using (var connection = database.Connect())
        {
            Assert.Equal(1, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM cameras WHERE code = 'PG-1'"));
            Assert.Equal(1, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM legal_bases WHERE id = @id", new { id = basis.Id }));
        }

        Assert.NotEmpty(Acts(server, AuditActions.CameraChange));
        Assert.NotEmpty(Acts(server, AuditActions.LegalBasisChange));
        var verification = Verify(server);
        Assert.True(verification.Ok, verification.Message);

        // The data folder keeps the local files only: no database file; the erasure-key file (made when evidence is
        // first sealed) is to be there, the only SQLite file in it.
        var data = server.Options.DataDirectory;
        var erasureKeys = Path.Combine(data, PostgresOptions.DefaultErasureKeysName);
        Assert.Equal(erasureKeys, database.ErasureKeys.Path);
        Assert.False(File.Exists(server.Options.DatabasePath));
        Assert.All(Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories), f => Assert.StartsWith(erasureKeys, f, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_watchlisted_person_on_a_live_camera_raises_an_alert_whose_crop_key_is_wrapped_by_an_epoch_kept_off_postgres()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        using var rtsp = await CityWatch.Tests.Ingest.RtspTestServer.StartAsync(TestPaths.Faces("ageitgey", "examples", "short_hamilton_clip.mp4"));
        await using var server = await RunningServer.StartAsync(runCameras: true, configure: o => o with { Postgres = connectionString });
        var camera = await CityWatch.Tests.Recognition.CameraRecognitionTests.WatchedCameraAsync(server, rtsp.Url, "lin_manuel_miranda", "lin-manuel-miranda.png");

        await CityWatch.Tests.Recognition.CameraRecognitionTests.AssertAlertWithCropAsync(server, camera.Id, "lin_manuel_miranda", TimeSpan.FromSeconds(90));

        // Every evidence key in PostgreSQL (the crop, the enrolment photo, the template) names an epoch, and every epoch
        // key is in this server's erasure-key file and nowhere in the database.
        var database = server.Services.GetRequiredService<CityWatchDatabase>();
        using var connection = database.Connect();
        Assert.Equal(0, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM evidence_keys WHERE epoch IS NULL"));
        var epochs = connection.Query<string>("SELECT DISTINCT epoch FROM evidence_keys").ToList();
        Assert.NotEmpty(epochs);
        Assert.All(epochs, epoch => Assert.NotNull(database.ErasureKeys.Get(epoch)));
        Assert.NotEmpty(Acts(server, AuditActions.Alert));
    }

    [Fact]
    public async Task A_password_in_the_connection_string_is_refused_in_one_line()
    {
        const string password = "secret-pg-password";
        var data = TestPaths.NewScratchDirectory();
        try
        {
            var refused = await CliRunner.RunAsync(
                "serve", "--data", data, "--models", TestPaths.Models, "--postgres", $"Host=127.0.0.1;Port=5432;Username=citywatch;Password={password};Database=citywatch");

            Assert.Equal(1, refused.ExitCode);
            var line = Assert.Single(refused.Errors);
            Assert.Contains("must not carry a password", line, StringComparison.Ordinal);
            Assert.Contains("Data__PostgresPassword", line, StringComparison.Ordinal);
            Assert.DoesNotContain(password, line, StringComparison.Ordinal);
            Assert.DoesNotContain(password, refused.Output, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(data, "citywatch.db")));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }

        var worker = await CliRunner.RunAsync("serve", "--models", TestPaths.Models, "--role", "worker", "--worker", "w1", "--nats", "nats://127.0.0.1:4222", "--postgres", "Host=127.0.0.1;Database=citywatch");
        Assert.Equal(1, worker.ExitCode);
        Assert.Contains("takes no --postgres", Assert.Single(worker.Errors), StringComparison.Ordinal);

        var options = new ServerOptions { DataDirectory = "/nonexistent", ModelsDirectory = TestPaths.Models };
        var fromConfiguration = Assert.Throws<ArgumentException>(() => PostgresOptions.From(options, Configuration((PostgresOptions.PostgresKey, $"Host=127.0.0.1;Database=x;Password={password}"))));
        Assert.DoesNotContain(password, fromConfiguration.Message, StringComparison.Ordinal);
        var notOne = Assert.Throws<ArgumentException>(() => PostgresOptions.From(options with { Postgres = $"Host=127.0.0.1;Pasword={password}" }, Configuration()));
        Assert.DoesNotContain(password, notOne.Message, StringComparison.Ordinal);
        Assert.Null(PostgresOptions.From(options, Configuration()));
    }

    [Fact]
    public async Task The_password_comes_from_the_environment_or_a_file()
    {
        const string password = "pg-pass-from-outside";
        var connectionString = await postgres.Server.CreatePasswordDatabaseAsync("citywatch_pw", password);
        var folder = TestPaths.NewScratchDirectory();
        var passwordFile = Path.Combine(folder, "pg-password");
        await File.WriteAllTextAsync(passwordFile, password + "\n");
        var options = new ServerOptions { DataDirectory = folder, ModelsDirectory = TestPaths.Models, Postgres = connectionString };
        try
        {
            var fromEnvironment = PostgresOptions.From(options, Configuration((PostgresOptions.PasswordKey, password)))!;
            var fromFile = PostgresOptions.From(options, Configuration((PostgresOptions.PasswordFileKey, passwordFile)))!;
            var none = PostgresOptions.From(options, Configuration())!;
            foreach (var given in (PostgresOptions[])[fromEnvironment, fromFile])
            {
                Assert.True(given.HasPassword);
                Assert.DoesNotContain(password, given.ToString(), StringComparison.Ordinal);
                await using var source = given.DataSource();
                await using var connection = await source.OpenConnectionAsync();
                Assert.Equal("citywatch_pw", await connection.ExecuteScalarAsync<string>("SELECT current_user"));
            }

            await using (var source = none.DataSource())
            {
                await Assert.ThrowsAnyAsync<NpgsqlException>(async () => await source.OpenConnectionAsync());
            }

            Assert.Throws<ArgumentException>(() => PostgresOptions.From(options, Configuration((PostgresOptions.PasswordKey, password), (PostgresOptions.PasswordFileKey, passwordFile))));

            // The server itself, its password from the file the environment names (Data__PostgresPasswordFile).
            Environment.SetEnvironmentVariable("Data__PostgresPasswordFile", passwordFile);
            try
            {
                await using var server = await RunningServer.StartAsync(configure: o => o with { Postgres = connectionString });
                await server.AddCameraAsync("PW-1", null);
                var verification = Verify(server);
                Assert.True(verification.Ok, verification.Message);
            }
            finally
            {
                Environment.SetEnvironmentVariable("Data__PostgresPasswordFile", null);
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_second_server_on_the_same_database_is_a_hot_standby_of_the_audit_sequencer()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        var kek = KeyEncryptionKey.Generate();
        var standbyData = TestPaths.NewScratchDirectory();
        try
        {
            var leader = await RunningServer.StartAsync(kek: kek, configure: o => o with { Postgres = connectionString });
            var leaderStopped = false;
            try
            {
                var leaderTrail = leader.Services.GetRequiredService<AuditTrail>();
                await RunningServer.WaitUntilAsync(() => Task.FromResult(leaderTrail.IsSequencer), TimeSpan.FromSeconds(30), "the first server to take the sequencer");
                RunningServer.ShareAccounts(leader.Options.DataDirectory, standbyData);
                await using var standby = await RunningServer.StartAsync(dataDirectory: standbyData, kek: kek, configure: o => o with { Postgres = connectionString });
                var standbyTrail = standby.Services.GetRequiredService<AuditTrail>();
                Assert.Equal(leaderTrail.VerifierKey, standbyTrail.VerifierKey);
                Assert.False(standbyTrail.IsSequencer);

                // Acts on both servers land in the one log the leader sequences.
                await leader.AddCameraAsync("HS-A", null);
                await standby.AddCameraAsync("HS-B", null);
                Assert.Equal(["HS-A", "HS-B"], CameraCodes(standby));
                Assert.Equal(CameraCodes(leader), CameraCodes(standby));

                // The leader stops; the standby takes the sequencer and its own appends commit.
                var sinceStop = Stopwatch.StartNew();
                await leader.DisposeAsync();
                leaderStopped = true;
                var stopped = sinceStop.Elapsed;
                await standby.AddCameraAsync("HS-C", null).WaitAsync(TimeSpan.FromSeconds(10));
                var committed = sinceStop.Elapsed;
                output.WriteLine($"leader stopped in {stopped.TotalSeconds:F2} s; the standby's next act committed {committed.TotalSeconds:F2} s after the stop began");
                Assert.True(standbyTrail.IsSequencer);
                Assert.True(committed - stopped < TimeSpan.FromSeconds(10), $"the standby's act took {(committed - stopped).TotalSeconds:F1} s after the leader stopped");

                Assert.Equal(["HS-A", "HS-B", "HS-C"], CameraCodes(standby));
                var acts = standbyTrail.Read(0, 100_000);
                Assert.Equal(Enumerable.Range(0, acts.Count).Select(i => (long)i), acts.Select(a => a.Index));
                var verification = Verify(standby);
                Assert.True(verification.Ok, verification.Message);
            }
            finally
            {
                if (!leaderStopped)
                {
                    await leader.DisposeAsync();
                }
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            Directory.Delete(standbyData, recursive: true);
        }
    }

    [Fact]
    public async Task Two_servers_built_together_on_a_fresh_database_migrate_one_at_a_time_and_share_one_log_key()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        var kek = KeyEncryptionKey.Generate();
        string[] folders = [TestPaths.NewScratchDirectory(), TestPaths.NewScratchDirectory()];
        var apps = await Task.WhenAll(folders.Select(folder => Task.Run(() => CityWatchServer.Build(new ServerOptions
        {
            DataDirectory = Path.Combine(folder, "not-made-yet"),
            Kek = kek,
            ModelsDirectory = TestPaths.Models,
            AssetsDirectory = TestPaths.SharedData,
            Urls = "http://127.0.0.1:0",
            RunCameras = false,
            Postgres = connectionString,
        }))));
        try
        {
            var versions = apps.Select(a => a.Services.GetRequiredService<CityWatchDatabase>().SchemaVersions()).ToList();
            Assert.Equal(versions[0], versions[1]);
            Assert.NotEmpty(versions[0]);
            Assert.Equal(apps[0].Services.GetRequiredService<AuditTrail>().VerifierKey, apps[1].Services.GetRequiredService<AuditTrail>().VerifierKey);
            Assert.All(folders, f => Assert.True(Directory.Exists(Path.Combine(f, "not-made-yet")), "the data folder is made as on SQLite"));
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.DisposeAsync();
            }

            NpgsqlConnection.ClearAllPools();
            foreach (var folder in folders)
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Of_two_servers_started_before_any_account_only_one_set_up_token_creates_the_first_administrator()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        var kek = KeyEncryptionKey.Generate();
        string[] folders = [TestPaths.NewScratchDirectory(), TestPaths.NewScratchDirectory()];
        var apps = new List<Microsoft.AspNetCore.Builder.WebApplication>();
        try
        {
            foreach (var folder in folders)
            {
                var app = CityWatchServer.Build(new ServerOptions
                {
                    DataDirectory = folder,
                    Kek = kek,
                    ModelsDirectory = TestPaths.Models,
                    AssetsDirectory = TestPaths.SharedData,
                    Urls = "http://127.0.0.1:0",
                    RunCameras = false,
                    Postgres = connectionString,
                });
                apps.Add(app);
                await app.StartAsync();
            }

            // Each printed a token: no account existed when either started.
            var tokens = apps.Select(a => a.Services.GetRequiredService<CityWatch.Server.Identity.SetupTokenHolder>().Token).ToList();
            Assert.All(tokens, t => Assert.NotNull(t));

            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < apps.Count; i++)
            {
                using var client = new HttpClient { BaseAddress = new Uri(apps[i].Urls.First()) };
                using var response = await client.PostAsJsonAsync("/api/setup", new
                {
                    token = tokens[i],
                    administrator = new CityWatch.Identity.AccountInput($"admin{i}", $"Person admin{i}", $"ID-admin{i}"),
                    quorum = new[]
                    {
                        new CityWatch.Identity.QuorumMember($"authority{i}", $"Person authority{i}", $"ID-authority{i}", CityWatch.Identity.Role.Authority),
                        new CityWatch.Identity.QuorumMember($"dpo{i}", $"Person dpo{i}", $"ID-dpo{i}", CityWatch.Identity.Role.DataProtectionOfficer),
                    },
                }, ApiCalls.Json);
                statuses.Add(response.StatusCode);
            }

            Assert.True(statuses[0] == HttpStatusCode.OK, $"the first set-up answered {statuses[0]}");
            Assert.True(statuses[1] is HttpStatusCode.Unauthorized or HttpStatusCode.Conflict, $"the second server's token set up a second administrator ({statuses[1]})");
            using var connection = apps[0].Services.GetRequiredService<CityWatchDatabase>().Connect();
            Assert.Equal(3, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM accounts"));
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }

            NpgsqlConnection.ClearAllPools();
            foreach (var folder in folders)
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    // The HS- camera codes whose registration is in the log, in log order.
    private static List<string> CameraCodes(RunningServer server) =>
        [.. Acts(server, AuditActions.CameraChange).Select(a => System.Text.RegularExpressions.Regex.Match(a.Body, "HS-[A-Z]").Value).Where(c => c.Length > 0).Distinct()];
}
