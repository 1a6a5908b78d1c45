using Cloud.Unum.USearch;

namespace CityWatch.Matching;

/// <summary>
/// An approximate index for galleries too large for an exact scan within the latency budget: an HNSW graph
/// (USearch) over the gallery's own int8 codes walks to a short list of candidates, which are then scored
/// exactly against the <see cref="Int8Gallery"/> rows, so the reported scores are those of the exact search
/// and only a candidate the graph never reached can be missed (recall is measured against exact search by
/// `citywatch bench match`).
/// </summary>
public sealed class ApproximateIndex : IDisposable
{
    private readonly Int8Gallery _gallery;
    private readonly USearchIndex _graph;
    private readonly int _candidates;

    private ApproximateIndex(Int8Gallery gallery, USearchIndex graph, int candidates)
    {
        _gallery = gallery;
        _graph = graph;
        _candidates = candidates;
    }

    /// <summary>
    /// Builds the graph over every row of <paramref name="gallery"/>. <paramref name="candidates"/> is how many
    /// the graph proposes per search before the exact rescoring; more costs time and buys recall.
    /// </summary>
    public static ApproximateIndex Build(Int8Gallery gallery, int candidates = 16, int connectivity = 16, int expansionAdd = 128, int expansionSearch = 64)
    {
        ArgumentNullException.ThrowIfNull(gallery);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(candidates);
        var graph = new USearchIndex(MetricKind.Cos, ScalarKind.Int8, (ulong)gallery.Dimensions, (ulong)connectivity, (ulong)expansionAdd, (ulong)expansionSearch);
        try
        {
            // Cosine does not depend on a row's scale, so the codes go in as they are; one batch reserves once.
            var keys = new ulong[gallery.Count];
            var rows = new sbyte[gallery.Count][];
            for (var i = 0; i < gallery.Count; i++)
            {
                keys[i] = (ulong)i;
                rows[i] = gallery.Codes(i).ToArray();
            }

            graph.Add(keys, rows);
            return new ApproximateIndex(gallery, graph, candidates);
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The <paramref name="top"/> best rows the graph reaches for <paramref name="probe"/>, best first, scored exactly.
    /// <paramref name="candidates"/> (default: the number given to <see cref="Build"/>) is how many rows the graph proposes: USearch
    /// walks with a beam of at least that many (its expansion is the larger of the two), so more candidates buy
    /// recall at the cost of time without rebuilding the graph.
    /// </summary>
    public GalleryHit[] Search(ReadOnlySpan<float> probe, int top, int? candidates = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(top);
        var wanted = candidates ?? _candidates;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(wanted);
        var codes = new sbyte[_gallery.Stride];
        Int8Gallery.QuantiseVector(probe, codes);
        var found = _graph.Search(codes[.._gallery.Dimensions], Math.Max(top, wanted), out var keys, out _);
        var rows = new int[found];
        for (var i = 0; i < found; i++)
        {
            rows[i] = (int)keys[i];
        }

        var scored = _gallery.Score(probe, rows);
        Array.Sort(scored, (a, b) => b.Score.CompareTo(a.Score));
        return scored.Length > top ? scored[..top] : scored;
    }

    public void Dispose() => _graph.Dispose();
}
