using CityWatch.Grants;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Matching;

public sealed class WatchlistIndexTests : IDisposable
{
    private readonly TestCity _city = new();

    public void Dispose() => _city.Dispose();

    [Fact]
    public async Task The_closest_entry_above_the_threshold_is_the_first_candidate()
    {
        var store = new WatchlistStore(_city.Database, _city.Time);
        var list = store.Create(new WatchlistInput("wanted", ""), "tester");
        store.AddEntry(list.Id, new EntryInput("alice", "test", "synthetic"), "test", Unit(1, 0, 0, 0), [1], "tester");
        store.AddEntry(list.Id, new EntryInput("bob", "test", "synthetic"), "test", Unit(0, 1, 0, 0), [2], "tester");
        var index = new WatchlistIndex(store, _city.Time);
        var grant = await _city.LiveGrantAsync(list.Id);

        var candidates = index.Search(grant, Unit(0.9f, 0.3f, 0, 0), threshold: 0.2f);

        Assert.Equal(["alice", "bob"], candidates.Select(c => c.Label));
        Assert.True(candidates[0].Score > candidates[1].Score);
        Assert.Empty(index.Search(grant, Unit(0, 0, 1, 0), threshold: 0.2f));
    }

    [Fact]
    public async Task A_new_enrolment_is_searchable_at_once()
    {
        var store = new WatchlistStore(_city.Database, _city.Time);
        var list = store.Create(new WatchlistInput("wanted", ""), "tester");
        var index = new WatchlistIndex(store, _city.Time);
        var grant = await _city.LiveGrantAsync(list.Id);
        Assert.Empty(index.Search(grant, Unit(1, 0, 0, 0), 0.5f));

        store.AddEntry(list.Id, new EntryInput("alice", "test", "synthetic"), "test", Unit(1, 0, 0, 0), [1], "tester");

        Assert.Single(index.Search(grant, Unit(1, 0, 0, 0), 0.5f));
    }

    [Fact]
    public async Task Searching_with_an_expired_grant_fails()
    {
        var store = new WatchlistStore(_city.Database, _city.Time);
        var list = store.Create(new WatchlistInput("wanted", ""), "tester");
        var index = new WatchlistIndex(store, _city.Time);
        var grant = await _city.LiveGrantAsync(list.Id);

        _city.Time.Advance(PolicyEngine.GrantLifetime);

        Assert.Throws<GrantExpiredException>(() => index.Search(grant, Unit(1, 0, 0, 0), 0.5f));
    }

    [Fact]
    public void The_digest_changes_with_every_enrolment_and_removal()
    {
        var store = new WatchlistStore(_city.Database, _city.Time);
        var list = store.Create(new WatchlistInput("wanted", ""), "tester");
        var empty = store.Digests().Single();

        var entry = store.AddEntry(list.Id, new EntryInput("alice", "test", "synthetic"), "test", Unit(1, 0, 0, 0), [1], "tester");
        var one = store.Digests().Single();
        store.RemoveEntry(list.Id, entry.Id);
        var removed = store.Digests().Single();

        Assert.Equal(0, empty.Count);
        Assert.Equal(1, one.Count);
        Assert.NotEqual(empty.RootHash, one.RootHash);
        Assert.Equal(empty.RootHash, removed.RootHash);
    }

    [Fact]
    public void Dot_product_matches_the_scalar_sum_for_odd_lengths()
    {
        var random = new Random(5);
        var a = Enumerable.Range(0, 515).Select(_ => (float)random.NextDouble()).ToArray();
        var b = Enumerable.Range(0, 515).Select(_ => (float)random.NextDouble()).ToArray();

        var expected = a.Zip(b, (x, y) => (double)x * y).Sum();

        Assert.Equal(expected, WatchlistIndex.Dot(a, b), 3);
    }

    private static float[] Unit(params float[] v)
    {
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }
}
