using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Evidence;
using CityWatch.Matching;
using CityWatch.Tests.Support;
using CityWatch.Tests.Verification;
using Dapper;

namespace CityWatch.Tests.Matching;

/// <summary>
/// The enrolment photo kept with a watchlist entry: sealed under its own evidence key, read only in a
/// transaction that stages the view's record, and destroyed (its key gone) by every path that deletes the entry.
/// </summary>
public sealed class EnrolmentPhotoStoreTests
{
    private static readonly byte[] Jpeg = EvidenceFixture.PhotoCrop("obama.jpg");

    [Fact]
    public async Task A_stored_photo_is_sealed_at_rest_and_opens_only_with_its_view_staged_in_the_reading_transaction()
    {
        using var city = new TestCity();
        var entry = Entry(city, "sought");

        var (stored, keyId) = Row(city, entry.Id);
        Assert.Equal("CWE1"u8.ToArray(), stored![..4]);
        Assert.False(stored.AsSpan().IndexOf(Jpeg.AsSpan(0, 64)) >= 0, "the photo's bytes are not stored in clear");
        Assert.True(EvidenceVault.For(city.Database).Exists(keyId!));
        Assert.True(city.Watchlists.HasPhoto(entry.Id));

        var before = city.Audit.Read(0, 1000, AuditActions.AlertView).Count;
        var viewed = city.Watchlists.ViewPhoto(entry.Id, (connection, transaction) =>
            city.Audit.Stage(connection, transaction, new AuditRecord("verifier", AuditActions.AlertView, "enrolment photo")));
        Assert.NotNull(viewed);
        await city.Audit.CommittedAsync(viewed.Value.Logged);

        Assert.Equal(Jpeg, viewed.Value.Jpeg);
        Assert.Equal(before + 1, city.Audit.Read(0, 1000, AuditActions.AlertView).Count);
    }

    [Fact]
    public async Task Removing_an_entry_by_hand_by_expiry_or_with_its_basis_destroys_its_photo_key_and_nothing_is_read_or_logged_after()
    {
        using var city = new TestCity();
        city.EnsureWatchlists([1]);
        var basis = await city.ActiveBasisAsync([], [1], CityWatch.Grants.ProcessingPurpose.Enrolment);
        var removed = Entry(city, "removed");
        var expired = Entry(city, "expired", city.Time.GetUtcNow().AddHours(1));
        var underBasis = Entry(city, "under basis", legalBasisId: basis.Id);
        var kept = Entry(city, "kept");
        var keys = new[] { removed, expired, underBasis, kept }.ToDictionary(e => e.Id, e => Row(city, e.Id).Key!);

        city.Watchlists.RemoveEntry(removed.WatchlistId, removed.Id, "investigator");
        city.Watchlists.RemoveExpired(city.Time.GetUtcNow().AddHours(2), "system");
        using (var connection = city.Database.Open())
        using (var transaction = connection.BeginTransaction())
        {
            city.Watchlists.RemoveUnderBasis(connection, transaction, basis.Id, "system");
            transaction.Commit();
        }

        var vault = EvidenceVault.For(city.Database);
        foreach (var gone in new[] { removed, expired, underBasis })
        {
            Assert.False(vault.Exists(keys[gone.Id]), $"the photo key of entry {gone.Label} is destroyed");
            Assert.False(city.Watchlists.HasPhoto(gone.Id));
            var staged = 0;
            Assert.Null(city.Watchlists.ViewPhoto(gone.Id, (c, t) => { staged++; return city.Audit.Stage(c, t, new AuditRecord("v", AuditActions.AlertView, "x")); }));
            Assert.Equal(0, staged);
        }

        Assert.True(vault.Exists(keys[kept.Id]));
        Assert.True(city.Watchlists.HasPhoto(kept.Id));
    }

    private static WatchlistEntry Entry(TestCity city, string label, DateTimeOffset? expires = null, long? legalBasisId = null)
    {
        city.EnsureWatchlists([1]);
        var entry = city.Watchlists.AddEntry(1, new EntryInput(label, "test", "synthetic", expires), "test", [1, 0], [1], "investigator", legalBasisId);
        using var connection = city.Database.Open();
        using var transaction = connection.BeginTransaction();
        city.Watchlists.StorePhoto(connection, transaction, entry.Id, Jpeg);
        transaction.Commit();
        return entry;
    }

    private static (byte[]? Photo, string? Key) Row(TestCity city, long entryId)
    {
        using var connection = city.Database.Open();
        return connection.QuerySingle<(byte[]?, string?)>("SELECT photo, photo_key FROM watchlist_entries WHERE id = @entryId", new { entryId });
    }
}
