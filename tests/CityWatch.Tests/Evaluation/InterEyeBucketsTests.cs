using CityWatch.Evaluation;

namespace CityWatch.Tests.Evaluation;

public sealed class InterEyeBucketsTests
{
    [Fact]
    public void Pairs_fall_in_the_bucket_of_their_smaller_face_and_are_counted_at_the_threshold()
    {
        // Genuine: two large pairs above the threshold, one tiny pair below it; impostor: one tiny pair above it.
        float[] genuine = [0.6f, 0.5f, 0.2f];
        float[] genuineEyes = [30, 24, 7];
        float[] impostor = [0.1f, 0.45f, 0.0f];
        float[] impostorEyes = [40, 7.9f, 11.9f];

        var buckets = InterEyeBuckets.Compute(genuine, genuineEyes, impostor, impostorEyes, 0.4f, [0, 8, 12, 24]);

        Assert.Equal([0f, 8f, 12f, 24f], buckets.Select(b => b.From));
        Assert.Equal([8f, 12f, 24f, (float?)null], buckets.Select(b => b.To));
        var tiny = buckets[0];
        Assert.Equal((1, 1), (tiny.Genuine, tiny.Impostor));
        Assert.Equal(0.0, tiny.Auc);
        Assert.Equal(0.0, tiny.Tar);
        Assert.Equal(1.0, tiny.Far);
        Assert.Equal((0, 1), (buckets[1].Genuine, buckets[1].Impostor));
        Assert.Null(buckets[1].Tar);
        Assert.Null(buckets[1].Auc);
        Assert.Equal(0.0, buckets[1].Far);
        Assert.Equal((0, 0), (buckets[2].Genuine, buckets[2].Impostor));
        var large = buckets[3];
        Assert.Equal((2, 1), (large.Genuine, large.Impostor));
        Assert.Equal(1.0, large.Auc);
        Assert.Equal(1.0, large.Tar);
        Assert.Equal(0.55, large.MeanGenuine!.Value, 5);
    }

    [Fact]
    public void A_score_without_its_eye_distance_is_refused()
    {
        Assert.Throws<ArgumentException>(() => InterEyeBuckets.Compute([0.5f], [], [0.1f], [10], 0.4f));
    }
}
