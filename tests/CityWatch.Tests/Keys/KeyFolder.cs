using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Identity;
using CityWatch.Keys;
using CityWatch.Matching;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Keys;

/// <summary>A data folder with people enrolled and an alert with a real crop, made through a real server; and what the keys tests read from it.</summary>
internal static class KeyFolder
{
    public static string Photo(string name) => TestPaths.Faces("ageitgey", "examples", name);

    /// <summary>Two people enrolled on a watchlist and one alert with a photo crop; returns what a thief would want.</summary>
    public static async Task<Contents> FillAsync(RunningServer server)
    {
        var watchlist = await server.AddWatchlistAsync("sought");
        var camera = await server.AddCameraAsync("CAM-1", null);
        await server.AddActiveBasisAsync([camera.Id], [watchlist.Id]);
        (await server.EnrolAsync(watchlist.Id, "obama", Photo("obama.jpg"))).EnsureSuccessStatusCode();
        (await server.EnrolAsync(watchlist.Id, "biden", Photo("biden.jpg"))).EnsureSuccessStatusCode();
        var templates = server.Services.GetRequiredService<WatchlistStore>().Templates(watchlist.Id).Select(t => t.Template).ToList();
        var crop = EvidenceFixture.PhotoCrop("obama.jpg");
        var alert = server.AddAlert(crop, camera.Id, watchlist.Id);
        var alerts = server.Services.GetRequiredService<AlertStore>();
        Assert.Equal(crop, alerts.Crop(alert.Id));
        return new Contents(watchlist.Id, alert.Id, alerts.CropLocation(alert.Id), templates, crop);
    }

    public static byte[] Bytes(float[] template) => MemoryMarshal.AsBytes(template.AsSpan()).ToArray();

    public static void Copy(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            // Shared read: the live database is open; this is how anyone with read access takes a copy.
            using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var copy = File.Create(target);
            source.CopyTo(copy);
        }
    }

    /// <summary>The key events recorded (from leaf <paramref name="since"/> on), as (action, key, reason).</summary>
    public static IReadOnlyList<(string Action, string Key, string Reason)> KeyEvents(RunningServer server, long since = 0) =>
        server.Services.GetRequiredService<AuditTrail>().Read(since, 100_000)
            .Where(a => a.Action is AuditActions.KeyUnwrap or AuditActions.KeyMigrate)
            .Select(a => JsonSerializer.Deserialize<AuditRecord>(a.Body)!)
            .Select(r => (r.Action, r.Parameters!["key"], r.Parameters["reason"]))
            .ToList();

    /// <summary>
    /// Turns a data folder back into what the version before wrapped keys wrote: the log key and the
    /// evidence master key as plaintext files next to the database, templates as plain floats (an entry sealed
    /// under a key of its own loses that key: the older version had none), the TOTP secrets and the
    /// identity-reference key in clear, no <c>wrapped_keys</c> table.
    /// </summary>
    public static void MakeOlderVersion(string data, KeyEncryptionKey kek)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "citywatch.db")};Pooling=False");
        connection.Open();
        var keys = connection.Query<(string Name, byte[] Wrapped)>("SELECT name, wrapped FROM wrapped_keys")
            .ToDictionary(r => r.Name, r => kek.Unwrap(r.Name, r.Wrapped));
        File.WriteAllBytes(Path.Combine(data, KeyRing.LegacyAuditKeyFile), keys[KeyRing.AuditSigning]);
        File.WriteAllBytes(Path.Combine(data, KeyRing.LegacyEvidenceKeyFile), keys[KeyRing.EvidenceMaster]);
        foreach (var (id, template, templateKey) in connection.Query<(long, byte[], string?)>("SELECT id, template, template_key FROM watchlist_entries").ToList())
        {
            var binding = Encoding.ASCII.GetBytes($"watchlist-entry/{id}");
            var plain = templateKey is null
                ? Sealing.Open(keys[KeyRing.Template], template, binding)
                : OpenEvidence(keys[KeyRing.EvidenceMaster], connection, templateKey, template)[binding.Length..];
            connection.Execute("UPDATE watchlist_entries SET template = @plain, template_key = NULL WHERE id = @id", new { id, plain });
            connection.Execute("DELETE FROM evidence_keys WHERE key_id = @templateKey", new { templateKey });
        }

        // That version also kept the identity-reference key and the TOTP secrets in clear.
        var accountKey = keys[KeyRing.AccountSecrets];
        var salt = connection.QuerySingle<byte[]>("SELECT salt FROM identity_salt WHERE id = 1");
        connection.Execute("UPDATE identity_salt SET salt = @clear", new { clear = Sealing.Open(accountKey, salt, Encoding.ASCII.GetBytes(IdentityReferences.KeyBinding)) });
        foreach (var (id, secret) in connection.Query<(long, string)>("SELECT id, totp_secret FROM accounts WHERE totp_secret IS NOT NULL").ToList())
        {
            connection.Execute("UPDATE accounts SET totp_secret = @clear WHERE id = @id", new { id, clear = Sealing.OpenText(accountKey, secret, IdentityStore.AccountBinding(id)) });
        }

        connection.Execute("DROP TABLE wrapped_keys");
    }

    // An evidence item as EvidenceVault seals it ("CWE1", nonce, tag, ciphertext; the key id the associated data), its
    // key wrapped by its erasure epoch's key (associated data "key id@epoch"), which the erasure-key file beside the
    // database holds wrapped by the master key (associated data "epoch:" and the epoch).
    private static byte[] OpenEvidence(byte[] master, SqliteConnection connection, string keyId, byte[] item)
    {
        static byte[] Decrypt(byte[] key, byte[] sealedItem, string associated)
        {
            var plaintext = new byte[sealedItem.Length - 32];
            using var aes = new System.Security.Cryptography.AesGcm(key, 16);
            aes.Decrypt(sealedItem.AsSpan(4, 12), sealedItem.AsSpan(32), sealedItem.AsSpan(16, 16), plaintext, Encoding.UTF8.GetBytes(associated));
            return plaintext;
        }

        var (wrapped, epoch) = connection.QuerySingle<(byte[], string)>("SELECT wrapped, epoch FROM evidence_keys WHERE key_id = @keyId", new { keyId });
        var erasureFile = Path.ChangeExtension(connection.DataSource, null) + CityWatchDatabase.ErasureKeysSuffix;
        using var erasure = new SqliteConnection($"Data Source={erasureFile};Mode=ReadOnly;Pooling=False");
        erasure.Open();
        var epochKey = Decrypt(master, erasure.QuerySingle<byte[]>("SELECT wrapped FROM erasure_keys WHERE id = @epoch", new { epoch }), "epoch:" + epoch);
        return Decrypt(Decrypt(epochKey, wrapped, $"{keyId}@{epoch}"), item, keyId);
    }

    public static void Delete(string data)
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(data, recursive: true);
        TestPaths.DeleteKekOf(data);
    }

    internal sealed record Contents(long WatchlistId, long AlertId, (string File, string KeyId) Crop, IReadOnlyList<float[]> Templates, byte[] CropJpeg)
    {
        /// <summary>A scan for these templates' and this crop's bytes (and any JPEG start).</summary>
        public DataFolderScan Scan()
        {
            var scan = new DataFolderScan();
            foreach (var template in Templates)
            {
                scan.Add(Bytes(template), sizeof(float));
            }

            scan.Add(CropJpeg, 1);
            return scan;
        }
    }
}
