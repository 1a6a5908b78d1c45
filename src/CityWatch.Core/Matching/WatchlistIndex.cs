using System.Collections.Concurrent;
using System.Numerics;
using CityWatch.Grants;

namespace CityWatch.Matching;

/// <summary>A watchlist entry whose template scored at or above the threshold against a probe.</summary>
public sealed record MatchCandidate(long WatchlistId, long EntryId, string Label, float Score);

/// <summary>
/// The in-memory matching index: per watchlist, every template quantised into an <see cref="Int8Gallery"/>
/// (int8 codes, a scale per row) that an exact SIMD scan across cores searches for the best candidates; those
/// few are then scored again on the float templates, so a reported score (and the threshold decision) is the
/// exact cosine. It is reloaded from the store when a watchlist changes. Searching needs a grant that covers
/// the watchlist.
/// </summary>
public sealed class WatchlistIndex
{
    private readonly WatchlistStore _store;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<long, Lazy<TemplateGallery>> _galleries = new();

    public WatchlistIndex(WatchlistStore store, TimeProvider time)
    {
        _store = store;
        _time = time;
        _store.Changed += id => _galleries.TryRemove(id, out _);
    }

    /// <summary>
    /// The best candidates (up to <paramref name="top"/>) at or above <paramref name="threshold"/> over the
    /// grant's watchlists, best first. An empty result means the face matched nothing.
    /// </summary>
    public IReadOnlyList<MatchCandidate> Search(ProcessingGrant grant, ReadOnlySpan<float> probe, float threshold, int top = 3)
    {
        ArgumentNullException.ThrowIfNull(grant);
        return TemplateGallery.Search(
            grant, _time.GetUtcNow(), id => _galleries.GetOrAdd(id, w => new Lazy<TemplateGallery>(() => TemplateGallery.Load(_store, w))).Value, probe, threshold, top);
    }

    /// <summary>Cosine similarity of two L2-normalised vectors.</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"Vectors differ in length ({a.Length} and {b.Length}).");
        }

        var sum = Vector<float>.Zero;
        var i = 0;
        for (; i <= a.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            sum += new Vector<float>(a[i..]) * new Vector<float>(b[i..]);
        }

        var total = Vector.Sum(sum);
        for (; i < a.Length; i++)
        {
            total += a[i] * b[i];
        }

        return total;
    }
}
