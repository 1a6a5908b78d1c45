using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Evidence;
using CityWatch.Keys;
using CityWatch.Matching;
using CityWatch.Tests.Support;
using Dapper;

namespace CityWatch.Tests.Keys;

/// <summary>
/// The vendor (or anyone) with a copy of the data folder: the database, its WAL, the evidence files. The
/// KEK was never in the folder, so the copy holds no template and no crop in clear, and neither the
/// evidence vault nor the watchlist store opens on it without the KEK, or with another one.
/// </summary>
public sealed class DataFolderCopyTests
{
    [Fact]
    public async Task A_copy_of_the_data_folder_holds_no_template_or_crop_in_clear_and_opens_nothing_without_the_kek()
    {
        var data = TestPaths.NewScratchDirectory();
        var live = TestPaths.NewScratchDirectory();
        var stopped = TestPaths.NewScratchDirectory();
        try
        {
            KeyFolder.Contents contents;
            await using (var server = await RunningServer.StartAsync(dataDirectory: data))
            {
                contents = await KeyFolder.FillAsync(server);
                KeyFolder.Copy(data, live); // taken from under the running server: database, -wal, -shm, evidence
            }

            KeyFolder.Copy(data, stopped);
            var scan = contents.Scan();
            // The scan finds what it looks for (the templates and the crop are what was stored)...
            Assert.NotEmpty(scan.Findings(KeyFolder.Bytes(contents.Templates[1])));
            Assert.NotEmpty(scan.Findings(contents.CropJpeg));
            Assert.NotEmpty(scan.Findings([0, 1, .. contents.CropJpeg.AsSpan(0, 64)]));
            // ...and finds none of it in either copy, WAL included.
            Assert.Contains(Directory.EnumerateFiles(live), f => f.EndsWith("citywatch.db-wal", StringComparison.Ordinal));
            Assert.Empty(scan.Findings(live));
            Assert.Empty(scan.Findings(stopped));
            Assert.Empty(Directory.EnumerateFiles(stopped, "*.key", SearchOption.AllDirectories));

            var database = Path.Combine(stopped, "citywatch.db");
            var sealedCrop = File.ReadAllBytes(Path.Combine(stopped, "evidence", contents.Crop.File));

            // Without the KEK.
            var locked = new CityWatchDatabase(database);
            Assert.Throws<KeyEncryptionKeyRequiredException>(() => EvidenceVault.For(locked).Open(contents.Crop.KeyId, sealedCrop));
            Assert.Throws<KeyEncryptionKeyRequiredException>(() => new WatchlistStore(locked, TimeProvider.System).Templates(contents.WatchlistId));

            // With another KEK.
            var other = new CityWatchDatabase(database, KeyEncryptionKey.Generate());
            Assert.Throws<WrongKeyEncryptionKeyException>(() => EvidenceVault.For(other).Open(contents.Crop.KeyId, sealedCrop));
            Assert.Throws<WrongKeyEncryptionKeyException>(() => new WatchlistStore(other, TimeProvider.System).Templates(contents.WatchlistId));

            // The log still verifies offline, with no KEK at all: its verifier key is stored in clear.
            Assert.True(AuditVerifier.VerifyDatabase(database).Ok);

            // With the KEK the copy opens: the refusals above are the KEK's doing, nothing else's.
            var unlocked = new CityWatchDatabase(database, TestPaths.KekFor(data));
            Assert.Equal(contents.CropJpeg, EvidenceVault.For(unlocked).Open(contents.Crop.KeyId, sealedCrop));
            Assert.Equal(contents.Templates, new WatchlistStore(unlocked, TimeProvider.System).Templates(contents.WatchlistId).Select(t => t.Template));
        }
        finally
        {
            KeyFolder.Delete(data);
            KeyFolder.Delete(live);
            KeyFolder.Delete(stopped);
        }
    }

    [Fact]
    public async Task Relabelling_the_wrapped_keys_for_another_kek_does_not_open_them()
    {
        var data = TestPaths.NewScratchDirectory();
        try
        {
            KeyFolder.Contents contents;
            await using (var server = await RunningServer.StartAsync(dataDirectory: data))
            {
                contents = await KeyFolder.FillAsync(server);
            }

            // The thief's own KEK, written into the copy as if it were the folder's.
            var thief = KeyEncryptionKey.Generate();
            var path = Path.Combine(data, "citywatch.db");
            using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
            {
                connection.Open();
                // The log's key, the evidence master key (which also opens the templates' own keys) and the account-secrets
                // key: a folder whose templates were all enrolled under keys of their own holds no template key.
                Assert.Equal(3, connection.Execute("UPDATE wrapped_keys SET kek_id = @id", new { id = thief.Id }));
            }

            var relabelled = new CityWatchDatabase(path, thief);
            var sealedCrop = File.ReadAllBytes(Path.Combine(data, "evidence", contents.Crop.File));
            Assert.Throws<WrongKeyEncryptionKeyException>(() => EvidenceVault.For(relabelled).Open(contents.Crop.KeyId, sealedCrop));
            Assert.Throws<WrongKeyEncryptionKeyException>(() => new WatchlistStore(relabelled, TimeProvider.System).Templates(contents.WatchlistId));
            await Assert.ThrowsAsync<WrongKeyEncryptionKeyException>(() => RunningServer.StartAsync(dataDirectory: data, kek: thief));
        }
        finally
        {
            KeyFolder.Delete(data);
        }
    }
}
