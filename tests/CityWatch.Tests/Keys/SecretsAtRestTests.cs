using System.Net;
using System.Net.Http.Json;
using System.Text;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Identity;
using CityWatch.Keys;
using CityWatch.Tests.Support;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using OtpNet;

namespace CityWatch.Tests.Keys;

/// <summary>
/// The secrets that must be read back (the accounts' TOTP secrets, the identity-reference HMAC key, camera
/// stream passwords) are sealed under keys the KEK wraps: a copy of the data folder holds none of them in
/// clear, in the database, its WAL or anywhere else, and an older folder's clear ones are sealed at start.
/// </summary>
public sealed class SecretsAtRestTests
{
    private const string StreamPassword = "Sup3r-Secret-Stream-Pass";
    private const string StreamUrl = $"rtsp://watcher:{StreamPassword}@127.0.0.1:1/live";

    private static readonly string[] People = ["admin", "authority", "dpo", "operator", "verifier", "verifier2", "investigator"];

    [Fact]
    public async Task A_copy_of_the_data_folder_holds_no_totp_secret_identity_key_or_stream_password_in_clear()
    {
        var data = TestPaths.NewScratchDirectory();
        var live = TestPaths.NewScratchDirectory();
        var stopped = TestPaths.NewScratchDirectory();
        try
        {
            Dictionary<string, string> totp;
            long cameraId;
            await using (var server = await RunningServer.StartAsync(dataDirectory: data))
            {
                cameraId = (await server.AddCameraAsync("CAM-S", StreamUrl, faceRecognition: false)).Id;
                totp = People.ToDictionary(p => p, server.TotpSecret);
                KeyFolder.Copy(data, live); // from under the running server: database, -wal, -shm
            }

            KeyFolder.Copy(data, stopped);
            var database = Path.Combine(stopped, "citywatch.db");
            var scan = Secrets(totp.Values, IdentityKey(database, TestPaths.KekFor(data)));
            // The scan finds what it looks for...
            Assert.NotEmpty(scan.Findings(Encoding.ASCII.GetBytes(totp["operator"])));
            Assert.NotEmpty(scan.Findings(Base32Encoding.ToBytes(totp["operator"])));
            Assert.NotEmpty(scan.Findings(Encoding.ASCII.GetBytes(StreamUrl)));
            // ...and none of it is in either copy.
            Assert.Contains(Directory.EnumerateFiles(live), f => f.EndsWith("citywatch.db-wal", StringComparison.Ordinal));
            Assert.Empty(scan.Findings(live));
            Assert.Empty(scan.Findings(stopped));

            // Without the KEK nothing opens; with it everything does (the refusals are the KEK's doing).
            var operatorId = new IdentityStore(new CityWatchDatabase(database), TimeProvider.System).FindByName("operator")!.Id;
            Assert.Throws<KeyEncryptionKeyRequiredException>(() => new IdentityStore(new CityWatchDatabase(database), TimeProvider.System).Credentials(operatorId));
            var locked = new CameraStore(new CityWatchDatabase(database));
            Assert.Throws<KeyEncryptionKeyRequiredException>(() => locked.IngestUrl(locked.Get(cameraId)));
            var unlocked = new CityWatchDatabase(database, TestPaths.KekFor(data));
            Assert.Equal(totp["operator"], new IdentityStore(unlocked, TimeProvider.System).Credentials(operatorId).TotpSecret);
            var cameras = new CameraStore(unlocked);
            Assert.Equal(StreamUrl, cameras.IngestUrl(cameras.Get(cameraId)));
        }
        finally
        {
            KeyFolder.Delete(data);
            KeyFolder.Delete(live);
            KeyFolder.Delete(stopped);
        }
    }

    [Fact]
    public async Task Secrets_an_older_version_stored_in_clear_are_sealed_at_start_each_with_its_record()
    {
        var data = TestPaths.NewScratchDirectory();
        try
        {
            Dictionary<string, string> totp;
            long since;
            await using (var first = await RunningServer.StartAsync(dataDirectory: data))
            {
                await first.AddCameraAsync("CAM-S", StreamUrl, faceRecognition: false);
                totp = People.ToDictionary(p => p, first.TotpSecret);
                since = first.Services.GetRequiredService<AuditTrail>().Size;
            }

            var kek = TestPaths.KekFor(data);
            var database = Path.Combine(data, "citywatch.db");
            var identityKey = IdentityKey(database, kek);
            MakeOlderVersion(database, kek);
            var scan = Secrets(totp.Values, identityKey);
            Assert.NotEmpty(scan.Findings(File.ReadAllBytes(database))); // the older folder holds them in clear

            await using (var server = await RunningServer.StartAsync(dataDirectory: data))
            {
                // Every account signed in again with its old secret (RunningServer does, on a known folder).
                var migrations = KeyFolder.KeyEvents(server, since).Where(e => e.Action == AuditActions.KeyMigrate).Select(e => e.Key).ToList();
                Assert.Equal([KeyRing.AccountSecrets, KeyRing.StreamCredentials], migrations.Order(StringComparer.Ordinal));
                var cameras = server.Services.GetRequiredService<CameraStore>();
                var camera = Assert.Single(cameras.List(0, 10).Items);
                Assert.True(StreamCredentials.IsSealed(camera.StreamUrl));
                Assert.Equal(StreamUrl, cameras.IngestUrl(camera));

                // The HMAC key is the same one: a second account for a person already known is still refused.
                using var again = await server.Admin.PostAsJsonAsync("/api/accounts", new AccountInput("operator-2", "Person operator", "ID-operator"), ApiCalls.Json);
                Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
            }

            Assert.Equal(identityKey, IdentityKey(database, kek));
            Assert.Empty(scan.Findings(data));
        }
        finally
        {
            KeyFolder.Delete(data);
        }
    }

    // Every TOTP secret as base32 text and as bytes, the stream password and URL, the identity-reference key.
    private static DataFolderScan Secrets(IEnumerable<string> totpSecrets, byte[] identityKey)
    {
        var scan = new DataFolderScan();
        foreach (var secret in totpSecrets)
        {
            scan.Add(Encoding.ASCII.GetBytes(secret), 1);
            scan.Add(Base32Encoding.ToBytes(secret), 1);
        }

        scan.Add(Encoding.ASCII.GetBytes(StreamPassword), 1);
        scan.Add(Encoding.ASCII.GetBytes($"watcher:{StreamPassword}"), 1);
        scan.Add(identityKey, 1);
        return scan;
    }

    private static byte[] AccountSecretsKey(SqliteConnection connection, KeyEncryptionKey kek) =>
        kek.Unwrap(KeyRing.AccountSecrets, connection.QuerySingle<byte[]>("SELECT wrapped FROM wrapped_keys WHERE name = @name", new { name = KeyRing.AccountSecrets }));

    // The identity-reference HMAC key, opened with the KEK (as the test, not a thief, can).
    private static byte[] IdentityKey(string database, KeyEncryptionKey kek)
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        var stored = connection.QuerySingle<byte[]>("SELECT salt FROM identity_salt WHERE id = 1");
        Assert.True(IdentityReferences.IsSealed(stored));
        return Sealing.Open(AccountSecretsKey(connection, kek), stored, Encoding.ASCII.GetBytes(IdentityReferences.KeyBinding));
    }

    // What the version before sealed secrets wrote: the HMAC key, the TOTP secrets and the stream URL in clear.
    private static void MakeOlderVersion(string database, KeyEncryptionKey kek)
    {
        var opened = new CityWatchDatabase(database, kek);
        var clearUrls = new CameraStore(opened).List(0, 100).Items.ToDictionary(c => c.Id, c => new CameraStore(opened).IngestUrl(c));
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        var key = AccountSecretsKey(connection, kek);
        var salt = connection.QuerySingle<byte[]>("SELECT salt FROM identity_salt WHERE id = 1");
        connection.Execute("UPDATE identity_salt SET salt = @clear", new { clear = Sealing.Open(key, salt, Encoding.ASCII.GetBytes(IdentityReferences.KeyBinding)) });
        foreach (var (id, secret) in connection.Query<(long, string)>("SELECT id, totp_secret FROM accounts WHERE totp_secret IS NOT NULL").ToList())
        {
            connection.Execute("UPDATE accounts SET totp_secret = @clear WHERE id = @id", new { id, clear = Sealing.OpenText(key, secret, IdentityStore.AccountBinding(id)) });
        }

        foreach (var (id, url) in clearUrls)
        {
            connection.Execute("UPDATE cameras SET stream_url = @url WHERE id = @id", new { id, url });
        }

        connection.Execute("PRAGMA wal_checkpoint(TRUNCATE)");
    }
}
