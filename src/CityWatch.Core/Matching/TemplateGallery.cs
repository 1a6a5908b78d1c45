using CityWatch.Grants;

namespace CityWatch.Matching;

/// <summary>
/// One watchlist's templates as the matcher searches them: quantised into an <see cref="Int8Gallery"/> that an exact SIMD
/// scan searches for the best rows, which are then scored again on the float templates, so a reported score (and the
/// threshold decision) is the exact cosine. Built from the store (<see cref="WatchlistIndex"/>) or from a gallery released
/// to a worker (<c>ScaleOut.ReleasedGallery</c>); it lives only in memory.
/// </summary>
internal sealed class TemplateGallery
{
    // Candidates beyond `top` taken from the int8 scan before the exact float rescoring, so that a row the
    // quantisation error moved a few places down still makes the final list.
    private const int Margin = 8;

    private readonly long _watchlistId;
    private readonly long[] _entryIds;
    private readonly string[] _labels;
    private readonly float[] _vectors;
    private readonly int _dimensions;
    private readonly Int8Gallery? _codes;

    /// <param name="vectors">The unit templates, one row of <paramref name="dimensions"/> per entry, in entry order.</param>
    public TemplateGallery(long watchlistId, long[] entryIds, string[] labels, float[] vectors, int dimensions)
    {
        ArgumentNullException.ThrowIfNull(entryIds);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(vectors);
        if (labels.Length != entryIds.Length || vectors.Length != entryIds.Length * dimensions)
        {
            throw new ArgumentException($"Watchlist {watchlistId}: {entryIds.Length} entries, {labels.Length} labels and {vectors.Length} values of {dimensions} dimensions do not agree.");
        }

        _watchlistId = watchlistId;
        _entryIds = entryIds;
        _labels = labels;
        _vectors = vectors;
        _dimensions = dimensions;
        _codes = entryIds.Length == 0 ? null : Int8Gallery.Quantise(vectors, dimensions);
    }

    public long WatchlistId => _watchlistId;

    public int Count => _entryIds.Length;

    internal static TemplateGallery Load(WatchlistStore store, long watchlistId)
    {
        var templates = store.Templates(watchlistId);
        var dimensions = templates.Count == 0 ? 0 : templates[0].Template.Length;
        var vectors = new float[templates.Count * dimensions];
        for (var i = 0; i < templates.Count; i++)
        {
            templates[i].Template.CopyTo(vectors, i * dimensions);
        }

        return new TemplateGallery(watchlistId, templates.Select(t => t.Entry.Id).ToArray(), templates.Select(t => t.Entry.Label).ToArray(), vectors, dimensions);
    }

    /// <summary>
    /// The best candidates (up to <paramref name="top"/>) at or above <paramref name="threshold"/> over the grant's
    /// watchlists, best first, each watchlist's gallery from <paramref name="galleryOf"/> (null: none held, nothing found there).
    /// The grant must be valid at <paramref name="now"/> and cover each watchlist.
    /// </summary>
    public static IReadOnlyList<MatchCandidate> Search(
        ProcessingGrant grant, DateTimeOffset now, Func<long, TemplateGallery?> galleryOf, ReadOnlySpan<float> probe, float threshold, int top)
    {
        ArgumentNullException.ThrowIfNull(grant);
        ArgumentNullException.ThrowIfNull(galleryOf);
        var found = new List<MatchCandidate>();
        foreach (var watchlistId in grant.WatchlistIds)
        {
            grant.EnsureCovers(watchlistId, now);
            galleryOf(watchlistId)?.Search(probe, threshold, top, found);
        }

        found.Sort((a, b) => b.Score.CompareTo(a.Score));
        return found.Count > top ? found.GetRange(0, top) : found;
    }

    private void Search(ReadOnlySpan<float> probe, float threshold, int top, List<MatchCandidate> found)
    {
        if (_codes is null)
        {
            return;
        }

        if (probe.Length != _dimensions)
        {
            throw new InvalidOperationException($"Probe has {probe.Length} dimensions; watchlist {_watchlistId} holds {_dimensions}-dimensional templates.");
        }

        foreach (var hit in _codes.Search(probe, Math.Max(1, top) + Margin))
        {
            var i = hit.Row;
            var score = WatchlistIndex.Dot(probe, _vectors.AsSpan(i * _dimensions, _dimensions));
            if (score >= threshold)
            {
                found.Add(new MatchCandidate(_watchlistId, _entryIds[i], _labels[i], score));
            }
        }
    }
}
