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
    private readonly ConcurrentDictionary<long, Lazy<Gallery>> _galleries = new();

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
        var now = _time.GetUtcNow();
        var found = new List<MatchCandidate>();
        foreach (var watchlistId in grant.WatchlistIds)
        {
            grant.EnsureCovers(watchlistId, now);
            var gallery = _galleries.GetOrAdd(watchlistId, id => new Lazy<Gallery>(() => Gallery.Load(_store, id))).Value;
            gallery.Search(probe, threshold, top, found);
        }

        found.Sort((a, b) => b.Score.CompareTo(a.Score));
        return found.Count > top ? found.GetRange(0, top) : found;
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

    private sealed class Gallery(long watchlistId, WatchlistEntry[] entries, float[] vectors, int dimensions)
    {
        // Candidates beyond `top` taken from the int8 scan before the exact float rescoring, so that a row the
        // quantisation error moved a few places down still makes the final list.
        private const int Margin = 8;

        private readonly Int8Gallery? _codes = entries.Length == 0 ? null : Int8Gallery.Quantise(vectors, dimensions);

        public static Gallery Load(WatchlistStore store, long watchlistId)
        {
            var templates = store.Templates(watchlistId);
            var dimensions = templates.Count == 0 ? 0 : templates[0].Template.Length;
            var vectors = new float[templates.Count * dimensions];
            for (var i = 0; i < templates.Count; i++)
            {
                templates[i].Template.CopyTo(vectors, i * dimensions);
            }

            return new Gallery(watchlistId, templates.Select(t => t.Entry).ToArray(), vectors, dimensions);
        }

        public void Search(ReadOnlySpan<float> probe, float threshold, int top, List<MatchCandidate> found)
        {
            if (_codes is null)
            {
                return;
            }

            if (probe.Length != dimensions)
            {
                throw new InvalidOperationException($"Probe has {probe.Length} dimensions; watchlist {watchlistId} holds {dimensions}-dimensional templates.");
            }

            foreach (var hit in _codes.Search(probe, Math.Max(1, top) + Margin))
            {
                var i = hit.Row;
                var score = Dot(probe, vectors.AsSpan(i * dimensions, dimensions));
                if (score >= threshold)
                {
                    found.Add(new MatchCandidate(watchlistId, entries[i].Id, entries[i].Label, score));
                }
            }
        }
    }
}
