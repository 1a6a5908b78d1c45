namespace CityWatch.Recognition.Tracking;

/// <summary>
/// A track's template: the embeddings of its best frames (the top <see cref="Capacity"/> by quality score)
/// and their quality-weighted fusion, the weighted mean of the unit vectors normalised again. The fused
/// template changes only when a face enters the top frames, and that is when it is matched again. It lives
/// in memory only and is cleared when the track ends.
/// </summary>
public sealed class TrackTemplate
{
    private readonly List<(float Quality, float[] Embedding)> kept;
    private float[]? fused;

    public TrackTemplate(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        kept = new List<(float, float[])>(capacity);
    }

    /// <summary>How many frames the template fuses at most.</summary>
    public int Capacity { get; }

    /// <summary>How many frames it fuses now.</summary>
    public int Count => kept.Count;

    /// <summary>The best quality score among the kept frames; -1 before any.</summary>
    public float BestQuality => kept.Count == 0 ? -1 : kept[0].Quality;

    /// <summary>The fused template (unit length); null before any frame and after <see cref="Clear"/>.</summary>
    public float[]? Fused => fused;

    /// <summary>Whether a face of this quality would enter the kept frames (there is room, or it beats the worst kept).</summary>
    public bool Admits(float quality) => kept.Count < Capacity || quality > kept[^1].Quality;

    /// <summary>
    /// Offers a frame's embedding. True when it entered the kept frames, so the fused template changed (the
    /// worst kept frame may have left); false when it was no better than any of them and nothing changed.
    /// </summary>
    public bool Add(float[] embedding, float quality)
    {
        ArgumentNullException.ThrowIfNull(embedding);
        if (!Admits(quality))
        {
            return false;
        }

        if (kept.Count == Capacity)
        {
            kept.RemoveAt(kept.Count - 1);
        }

        var at = kept.FindIndex(k => quality > k.Quality);
        kept.Insert(at < 0 ? kept.Count : at, (quality, embedding));
        fused = Fuse(kept);
        return true;
    }

    /// <summary>Drops every embedding (the track ended).</summary>
    public void Clear()
    {
        kept.Clear();
        fused = null;
    }

    // Weighted by quality (a face of quality 0 still counts a little, so that the sum never vanishes), each
    // vector made unit first, the mean made unit again: cosine scores against it stay comparable to one face's.
    private static float[] Fuse(List<(float Quality, float[] Embedding)> frames)
    {
        var length = frames[0].Embedding.Length;
        var sum = new float[length];
        foreach (var (quality, embedding) in frames)
        {
            if (embedding.Length != length)
            {
                throw new ArgumentException($"Embeddings of {embedding.Length} and {length} values cannot be fused.", nameof(frames));
            }

            var weight = (Math.Max(quality, 0) + 1e-3f) / Norm(embedding);
            for (var i = 0; i < length; i++)
            {
                sum[i] += weight * embedding[i];
            }
        }

        var norm = Norm(sum);
        for (var i = 0; i < length; i++)
        {
            sum[i] /= norm;
        }

        return sum;
    }

    // The vector's length; 1 for a zero vector, which is left as it is.
    private static float Norm(float[] vector)
    {
        var squares = 0f;
        foreach (var value in vector)
        {
            squares += value * value;
        }

        return MathF.Sqrt(squares) is var norm && norm > 0 ? norm : 1;
    }
}
