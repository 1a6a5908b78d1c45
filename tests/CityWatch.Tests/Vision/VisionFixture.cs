using CityWatch.Grants;
using CityWatch.Policy;
using CityWatch.Tests.Support;
using CityWatch.Vision;

namespace CityWatch.Tests.Vision;

/// <summary>
/// One pipeline on the project's verified models (TestPaths.Models), with a live grant from a real policy
/// engine whose fake clock stands still, shared by the vision tests (loading the models takes a while).
/// A missing model fails with "run `./citywatch models fetch`".
/// </summary>
public sealed class VisionFixture : IAsyncLifetime, IDisposable
{
    private FacePipeline? pipeline;
    private ProcessingGrant? grant;

    public TestCity City { get; } = new();

    internal FacePipeline Pipeline => pipeline ?? throw new InvalidOperationException("Not initialised.");

    public ProcessingGrant Grant => grant ?? throw new InvalidOperationException("Not initialised.");

    public static VisionOptions Options => new() { ModelDirectory = TestPaths.Models };

    public async Task InitializeAsync()
    {
        pipeline = new FacePipeline(Options, City.Time);
        grant = await City.LiveGrantAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        pipeline?.Dispose();
        City.Dispose();
    }

    /// <summary>The biggest face in the photo, embedded.</summary>
    internal EmbeddedFace? LargestFace(BgrImage image) =>
        Pipeline.DetectAndEmbed(Grant, image).MaxBy(f => f.Face.Box.Area);
}

[CollectionDefinition(Name)]
public sealed class VisionCollection : ICollectionFixture<VisionFixture>
{
    public const string Name = "Vision models";
}
