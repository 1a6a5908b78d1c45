using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Security.Cryptography;
using CityWatch.Alerts;
using CityWatch.Cameras;
using CityWatch.Grants;
using CityWatch.Identity;
using CityWatch.Ingest;
using CityWatch.Investigations;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Server.Alerts;
using CityWatch.Server.Identity;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace CityWatch.Server.Investigations;

/// <summary>
/// Retrospective analysis as a job: <c>POST /api/analyses</c> takes the media (a multipart file, a raw
/// body, or the <c>url</c> of a recording the city holds), checks the policy before reading a byte,
/// streams an upload to a file in the server's upload folder (never whole in memory, at most
/// <see cref="ServerOptions.MaxUploadBytes"/>), queues the job and answers 202. The job is polled at
/// <c>GET /api/analyses/{id}</c>, followed by server-sent events at <c>/events</c>, stopped by <c>/cancel</c>.
/// </summary>
internal static class AnalysisJobApi
{
    // Room for the multipart boundary and part headers around the file itself.
    private const long MultipartOverhead = 64 * 1024;

    public static IEndpointRouteBuilder MapAnalysisJobApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/analyses").WithTags("Investigations");
        group.MapPost("/", CreateAsync).DisableAntiforgery().Allow(Role.Investigator);
        group.MapGet("/", (AnalysisJobStore jobs, CaseStore cases, CameraStore cameras, HttpContext http, int? limit) =>
        {
            var scope = Scope(http, cameras);
            return TypedResults.Ok(jobs.List(Math.Clamp(limit ?? 100, 1, 1000)).Where(j => Sees(scope, cases, j)).ToList());
        }).Allow(Role.Investigator);
        group.MapGet("/{id:long}", (AnalysisJobStore jobs, CaseStore cases, CameraStore cameras, HttpContext http, long id) =>
            TypedResults.Ok(InScope(jobs.Get(id), http, cases, cameras))).Allow(Role.Investigator);
        group.MapGet("/{id:long}/events", (AnalysisJobStore jobs, CaseStore cases, CameraStore cameras, HttpContext http, long id, CancellationToken ct) =>
        {
            var first = InScope(jobs.Get(id), http, cases, cameras); // 404 or 403 before the stream starts
            return TypedResults.ServerSentEvents(EventsAsync(jobs, first, ct));
        }).Allow(Role.Investigator);
        group.MapGet("/{id:long}/candidates", (AnalysisJobStore jobs, AlertStore alerts, CaseStore cases, CameraStore cameras, HttpContext http, long id) =>
        {
            InScope(jobs.Get(id), http, cases, cameras);
            // Each candidate as /api/alerts shows it: one without a camera in the caller's scope is left out.
            var scope = Scope(http, cameras);
            return TypedResults.Ok(alerts.ForJob(id).Where(a => scope is null || (a.CameraId is { } camera && scope.Contains(camera))).ToList());
        }).Allow(Role.Investigator);
        group.MapPost("/{id:long}/cancel", (AnalysisJobRunner runner, AnalysisJobStore jobs, CaseStore cases, CameraStore cameras, HttpContext http, long id) =>
        {
            InScope(jobs.Get(id), http, cases, cameras);
            return TypedResults.Ok(runner.Cancel(id));
        }).Allow(Role.Investigator);
        return app;
    }

    private static async Task<IResult> CreateAsync(
        HttpRequest request,
        ClaimsPrincipal user,
        ServerOptions options,
        PolicyEngine policy,
        WatchlistStore watchlists,
        AnalysisJobStore jobs,
        AnalysisJobRunner runner,
        string watchlist,
        string? @case,
        string? url,
        string? name,
        double? fps,
        int? width,
        CancellationToken ct)
    {
        var list = watchlists.GetByName(watchlist);
        var ingest = new IngestOptions { AnalysisFps = fps ?? 2, Width = width ?? 640 }.Validate();
        // The policy first: a refused analysis reads no media and stores nothing.
        var grant = await policy.RequireAsync(new PolicyRequest(user.Name(), ProcessingPurpose.Retrospective, null, [list.Id], @case), ct);
        string path;
        string source;
        string sha256;
        var owned = false;
        if (url is not null)
        {
            if (request.ContentLength is > 0)
            {
                throw new InvalidRequestException("Give either a 'url' or a body, not both.");
            }

            (path, source) = Recording(url, options);
            await using var file = File.OpenRead(path);
            sha256 = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
        }
        else
        {
            (path, source, sha256) = await ReceiveAsync(request, options, name, ct);
            owned = true;
        }

        try
        {
            var job = await jobs.CreateAsync(new NewAnalysisJob(@case!, list.Id, source, path, owned, ingest.AnalysisFps, ingest.Width, sha256), grant.LegalBasisId, user.Name(), ct);
            runner.Enqueue(job.Id);
            return TypedResults.Accepted($"/api/analyses/{job.Id}", job);
        }
        catch when (owned)
        {
            File.Delete(path);
            throw;
        }
    }

    // The investigator's camera scope, as /api/alerts reads it (null: every camera).
    internal static IReadOnlySet<long>? Scope(HttpContext http, CameraStore cameras) => AlertApi.Scope(http, cameras, [Role.Investigator]);

    /// <summary>
    /// Whether a caller with <paramref name="scope"/> may see a job: an unscoped investigator sees every job, as
    /// the case register shows every case; a camera-scoped one sees the jobs of cases whose cameras all lie in
    /// their scope (a case that names no camera, or one outside it, is another investigator's).
    /// </summary>
    internal static bool Sees(IReadOnlySet<long>? scope, CaseStore cases, AnalysisJob job) =>
        scope is null || (cases.Find(job.CaseNumber) is { CameraIds.Count: > 0 } found && found.CameraIds.All(scope.Contains));

    /// <summary>The job, or a 403 (recorded like every refusal) when its case lies outside the caller's camera scope.</summary>
    internal static AnalysisJob InScope(AnalysisJob job, HttpContext http, CaseStore cases, CameraStore cameras) =>
        Sees(Scope(http, cameras), cases, job)
            ? job
            : throw new ForbiddenException($"Analysis job {job.Id} is of case {job.CaseNumber}, whose cameras lie outside your scope.");

    /// <summary>Streams the upload (the first file of a multipart form, or the raw body) to a new file; the file is gone if anything fails.</summary>
    private static async Task<(string Path, string Source, string Sha256)> ReceiveAsync(HttpRequest request, ServerOptions options, string? name, CancellationToken ct)
    {
        var limit = options.MaxUploadBytes;
        var tooLarge = $"The upload is larger than the limit of {limit} bytes ({limit / (1024.0 * 1024):0.#} MiB, ServerOptions.MaxUploadBytes).";
        if (request.ContentLength is { } length && length > limit + MultipartOverhead)
        {
            throw new BadHttpRequestException(tooLarge, StatusCodes.Status413PayloadTooLarge);
        }

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = limit + MultipartOverhead;
        }

        Stream body = request.Body;
        var fileName = name;
        MultipartSection? section = null;
        if (MediaTypeHeaderValue.TryParse(request.ContentType, out var type) && type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            var boundary = HeaderUtilities.RemoveQuotes(type.Boundary).Value
                ?? throw new InvalidRequestException("The multipart body has no boundary.");
            var reader = new MultipartReader(boundary, request.Body) { BodyLengthLimit = null };
            while ((section = await reader.ReadNextSectionAsync(ct)) is not null)
            {
                if (ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) && disposition.IsFileDisposition())
                {
                    fileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                    body = section.Body;
                    break;
                }
            }

            if (section is null)
            {
                throw new InvalidRequestException("The multipart body holds no file.");
            }
        }

        fileName = Path.GetFileName(fileName ?? "");
        if (fileName.Length == 0)
        {
            throw new InvalidRequestException("Name the upload: a multipart file with a file name, or ?name=clip.mp4 with a raw body.");
        }

        Directory.CreateDirectory(options.UploadDirectory);
        var path = Path.Combine(options.UploadDirectory, $"{Guid.NewGuid():N}{Path.GetExtension(fileName).ToLowerInvariant()}");
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                long written = 0;
                int read;
                while ((read = await ReadAsync(body, buffer, tooLarge, ct)) > 0)
                {
                    written += read;
                    if (written > limit)
                    {
                        throw new BadHttpRequestException(tooLarge, StatusCodes.Status413PayloadTooLarge);
                    }

                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), ct);
                }

                if (written == 0)
                {
                    throw new InvalidRequestException("The upload is empty.");
                }
            }

            return (path, fileName, Convert.ToHexStringLower(hash.GetHashAndReset()));
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    // Kestrel's own refusal past the body limit names its internal limit: say ours instead.
    private static async Task<int> ReadAsync(Stream body, byte[] buffer, string tooLarge, CancellationToken ct)
    {
        try
        {
            return await body.ReadAsync(buffer, ct);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new BadHttpRequestException(tooLarge, StatusCodes.Status413PayloadTooLarge, e);
        }
    }

    /// <summary>A recording the city holds: a file (file:// URL or path) inside <see cref="ServerOptions.RecordingsDirectory"/>.</summary>
    private static (string Path, string Source) Recording(string url, ServerOptions options)
    {
        if (options.RecordingsDirectory is not { } root)
        {
            throw new InvalidRequestException("This server holds no recordings (RecordingsDirectory is not set): upload the file instead.");
        }

        var path = Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.IsFile ? uri.LocalPath
            : url.Contains("://", StringComparison.Ordinal) ? throw new InvalidRequestException("'url' must be a file:// URL or a path of a recording inside the recordings folder.")
            : Path.Combine(root, url);
        var full = Path.GetFullPath(path);
        var folder = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)) + Path.DirectorySeparatorChar;
        if (!full.StartsWith(folder, StringComparison.Ordinal))
        {
            throw new InvalidRequestException("'url' names a file outside the recordings folder.");
        }

        if (!File.Exists(full))
        {
            throw new NotFoundException($"No recording {Path.GetRelativePath(folder, full)}.");
        }

        return (full, Path.GetRelativePath(folder, full));
    }

    private static async IAsyncEnumerable<SseItem<AnalysisJob>> EventsAsync(AnalysisJobStore jobs, AnalysisJob first, [EnumeratorCancellation] CancellationToken ct)
    {
        var job = first;
        AnalysisJob? sent = null;
        while (true)
        {
            if (job != sent)
            {
                yield return new SseItem<AnalysisJob>(job, job.IsFinal ? "end" : "progress");
                sent = job;
            }

            if (job.IsFinal)
            {
                yield break;
            }

            await Task.Delay(250, ct);
            job = jobs.Get(job.Id);
        }
    }
}
