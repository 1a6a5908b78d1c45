using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Keys;
using CityWatch.Matching;
using CityWatch.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Tests.Keys;

/// <summary>The server and the KEK at start: refused without it or with the wrong one; every unwrap logged; older folders migrated.</summary>
public sealed class KeyStartupTests
{
    [Fact]
    public async Task Serve_refuses_to_start_without_a_kek_with_a_wrong_one_or_with_one_inside_the_data_folder()
    {
        var data = TestPaths.NewScratchDirectory();
        var elsewhere = TestPaths.NewScratchDirectory();
        try
        {
            long size;
            await using (var server = await RunningServer.StartAsync(dataDirectory: data))
            {
                await server.AddWatchlistAsync("sought");
                size = server.Services.GetRequiredService<AuditTrail>().Size;
            }

            var wrong = Path.Combine(elsewhere, "wrong.kek");
            KeyEncryptionKey.Generate().WriteTo(wrong);
            var inside = Path.Combine(data, "kek");
            KeyEncryptionKey.Generate().WriteTo(inside);
            string[] serve = ["serve", "--data", data, "--models", TestPaths.Models, "--urls", "http://127.0.0.1:0"];

            var none = await CliRunner.RunAsync(serve);
            var mistaken = await CliRunner.RunAsync([.. serve, "--kek-file", wrong]);
            var misplaced = await CliRunner.RunAsync([.. serve, "--kek-file", inside]);

            Assert.Equal(1, none.ExitCode);
            Assert.StartsWith("error: no key-encryption key", Assert.Single(none.Errors), StringComparison.Ordinal);
            Assert.Equal(1, mistaken.ExitCode);
            Assert.StartsWith("error: wrong key-encryption key", Assert.Single(mistaken.Errors), StringComparison.Ordinal);
            Assert.Equal(1, misplaced.ExitCode);
            Assert.Contains("is inside the data folder", Assert.Single(misplaced.Errors), StringComparison.Ordinal);
            await Assert.ThrowsAsync<WrongKeyEncryptionKeyException>(() => RunningServer.StartAsync(dataDirectory: data, kek: KeyEncryptionKey.Generate()));

            // The refused starts wrote nothing: a log cannot be signed without the key the KEK protects.
            // They are reported on stderr and in the exit code, and the folder's own log is as it was.
            var verification = AuditVerifier.VerifyDatabase(Path.Combine(data, "citywatch.db"));
            Assert.True(verification.Ok, verification.Message);
            Assert.Equal(size, verification.Size);
        }
        finally
        {
            KeyFolder.Delete(data);
            KeyFolder.Delete(elsewhere);
        }
    }

    [Fact]
    public async Task The_unwrap_of_each_key_is_recorded_once_at_start_or_at_its_first_use()
    {
        var data = TestPaths.NewScratchDirectory();
        try
        {
            KeyFolder.Contents contents;
            long since;
            await using (var first = await RunningServer.StartAsync(dataDirectory: data))
            {
                contents = await KeyFolder.FillAsync(first);
                // The log key was created here, not unwrapped: a new key was never in anyone's hands.
                Assert.DoesNotContain(KeyFolder.KeyEvents(first), e => e.Key == KeyRing.AuditSigning);
                since = first.Services.GetRequiredService<AuditTrail>().Size;
            }

            await using var server = await RunningServer.StartAsync(dataDirectory: data);
            // The restarted server signs its accounts in again: one unwrap of the account-secrets key for
            // their TOTP codes, once for the process.
            var atStart = KeyFolder.KeyEvents(server, since);
            Assert.Single(atStart, e => e.Key == KeyRing.AccountSecrets && e.Reason.StartsWith("sign-in", StringComparison.Ordinal));
            var logKey = Assert.Single(atStart, e => e.Key != KeyRing.AccountSecrets);
            Assert.Equal((AuditActions.KeyUnwrap, KeyRing.AuditSigning), (logKey.Action, logKey.Key));
            Assert.StartsWith("start-up", logKey.Reason, StringComparison.Ordinal);

            using (var crop = await server.Operator.GetAsync($"/api/alerts/{contents.AlertId}/crop"))
            {
                crop.EnsureSuccessStatusCode();
                Assert.Equal(contents.CropJpeg, await crop.Content.ReadAsByteArrayAsync());
            }

            (await server.Operator.GetAsync($"/api/alerts/{contents.AlertId}/crop")).Dispose();
            server.Services.GetRequiredService<WatchlistStore>().Templates(contents.WatchlistId);
            server.Services.GetRequiredService<WatchlistStore>().Templates(contents.WatchlistId);

            // The templates open under their entries' own evidence keys, through the master key the crop's read unwrapped:
            // the folder's template key, which seals only templates of older versions, is never unwrapped.
            var events = KeyFolder.KeyEvents(server, since).Where(e => e.Key != KeyRing.AccountSecrets).ToList();
            Assert.Equal(2, events.Count);
            Assert.Contains((AuditActions.KeyUnwrap, KeyRing.EvidenceMaster, "evidence read"), events);
            Assert.DoesNotContain(events, e => e.Key == KeyRing.Template);
            Assert.All(events, e => Assert.DoesNotContain(server.Options.Kek!.ToBase64(), e.Reason, StringComparison.Ordinal));
            Assert.Equal(0, server.Services.GetRequiredService<CityWatch.Data.CityWatchDatabase>().Keys.PendingEvents);
        }
        finally
        {
            KeyFolder.Delete(data);
        }
    }

    [Fact]
    public async Task Sealing_evidence_after_a_restart_records_the_unwrap_with_the_sealed_crop_and_only_once()
    {
        var data = TestPaths.NewScratchDirectory();
        try
        {
            KeyFolder.Contents contents;
            long since;
            await using (var first = await RunningServer.StartAsync(dataDirectory: data))
            {
                contents = await KeyFolder.FillAsync(first);
                since = first.Services.GetRequiredService<AuditTrail>().Size;
            }

            await using var server = await RunningServer.StartAsync(dataDirectory: data);
            var trail = server.Services.GetRequiredService<AuditTrail>();
            var alerts = server.Services.GetRequiredService<AlertStore>();

            // The first seal after the start unwraps the master key inside the alert's own transaction: the
            // record is staged there and is in the log once that transaction has committed.
            var sealedFirst = CityWatch.Tests.Verification.EvidenceFixture.AddAlert(server, contents.CropJpeg);
            await trail.FlushAsync();
            var sealedSecond = CityWatch.Tests.Verification.EvidenceFixture.AddAlert(server, contents.CropJpeg);
            await trail.FlushAsync();

            var evidence = KeyFolder.KeyEvents(server, since).Where(e => e.Key == KeyRing.EvidenceMaster).ToList();
            Assert.Equal([(AuditActions.KeyUnwrap, KeyRing.EvidenceMaster, "evidence seal")], evidence);
            Assert.Equal(contents.CropJpeg, alerts.Crop(sealedFirst.Id));
            Assert.Equal(contents.CropJpeg, alerts.Crop(sealedSecond.Id));
            Assert.Single(KeyFolder.KeyEvents(server, since), e => e.Key == KeyRing.EvidenceMaster);
        }
        finally
        {
            KeyFolder.Delete(data);
        }
    }

    [Fact]
    public async Task An_older_data_folder_opens_its_plaintext_keys_are_wrapped_and_deleted_and_its_log_still_verifies()
    {
        var data = TestPaths.NewScratchDirectory();
        try
        {
            KeyFolder.Contents contents;
            string verifierKey;
            await using (var first = await RunningServer.StartAsync(dataDirectory: data))
            {
                contents = await KeyFolder.FillAsync(first);
                verifierKey = first.Services.GetRequiredService<AuditTrail>().VerifierKey;
            }

            KeyFolder.MakeOlderVersion(data, TestPaths.KekFor(data));
            var database = Path.Combine(data, "citywatch.db");
            Assert.True(File.Exists(Path.Combine(data, KeyRing.LegacyAuditKeyFile)));
            Assert.NotEmpty(contents.Scan().Findings(File.ReadAllBytes(database)));
            Assert.True(AuditVerifier.VerifyDatabase(database).Ok); // as the older version verified: with the key file

            // The upgrade runs with a KEK of its own: nothing about it comes from the old folder.
            TestPaths.DeleteKekOf(data);
            await using (var server = await RunningServer.StartAsync(dataDirectory: data))
            {
                Assert.Empty(Directory.EnumerateFiles(data, "*.key", SearchOption.AllDirectories));
                Assert.Equal(verifierKey, server.Services.GetRequiredService<AuditTrail>().VerifierKey);
                Assert.Equal(contents.CropJpeg, server.Services.GetRequiredService<AlertStore>().Crop(contents.AlertId));
                Assert.Equal(contents.Templates, server.Services.GetRequiredService<WatchlistStore>().Templates(contents.WatchlistId).Select(t => t.Template));
                var migrated = KeyFolder.KeyEvents(server).Where(e => e.Action == AuditActions.KeyMigrate).Select(e => e.Key);
                // The two key files, the templates and the account secrets sealed (each migration and its record in one transaction).
                Assert.Equal([KeyRing.AccountSecrets, KeyRing.AuditSigning, KeyRing.EvidenceMaster, KeyRing.Template], migrated.Order(StringComparer.Ordinal));
            }

            var verification = AuditVerifier.VerifyDatabase(database, verifierKey);
            Assert.True(verification.Ok, verification.Message);
            Assert.True(AuditVerifier.VerifyDatabase(database).Ok);
            Assert.Empty(contents.Scan().Findings(data));
        }
        finally
        {
            KeyFolder.Delete(data);
        }
    }
}
