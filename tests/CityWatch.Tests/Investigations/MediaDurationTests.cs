using CityWatch.Investigations;

namespace CityWatch.Tests.Investigations;

/// <summary>The parser of ffprobe's duration line (recorded outputs of ffprobe 5.1 on a file, a stream and nothing).</summary>
public sealed class MediaDurationTests
{
    [Fact]
    public void A_file_s_duration_is_read_in_seconds() =>
        Assert.Equal(TimeSpan.FromSeconds(37.5), MediaDuration.Parse("37.500000\n"));

    [Theory]
    [InlineData("N/A\n")]
    [InlineData("")]
    [InlineData("0.000000\n")]
    public void No_usable_duration_gives_none(string output) => Assert.Null(MediaDuration.Parse(output));
}
