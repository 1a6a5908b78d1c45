using CityWatch.Server.Identity;
using CityWatch.Identity;
using System.Security.Claims;
using CityWatch.Ingest;
using CityWatch.Matching;
using CityWatch.Recognition;

namespace CityWatch.Server.Recognition;

internal static class AnalysisApi
{
    /// <summary>Supplied media is capped; a city analysing longer footage splits it.</summary>
    public const long MaxUploadBytes = 512L * 1024 * 1024;

    public static IEndpointRouteBuilder MapAnalysisApi(this IEndpointRouteBuilder app)
    {
        // multipart/form-data with one file named "file"; query: watchlist (name), case, fps, width.
        // The upload lives in a temporary file for the analysis and is deleted afterwards, whatever happens.
        app.MapPost("/api/analyze", async (HttpRequest request, ClaimsPrincipal user, MediaAnalyzer analyzer, WatchlistStore watchlists, string watchlist, string? @case, double? fps, int? width, CancellationToken ct) =>
        {
            if (!request.HasFormContentType)
            {
                throw new InvalidRequestException("Analysis takes multipart/form-data with one file named 'file'.");
            }

            var form = await request.ReadFormAsync(ct);
            var upload = form.Files.GetFile("file") ?? throw new InvalidRequestException("No file named 'file' in the form.");
            if (upload.Length > MaxUploadBytes)
            {
                throw new InvalidRequestException($"The file is larger than {MaxUploadBytes / (1024 * 1024)} MiB.");
            }

            var list = watchlists.GetByName(watchlist);
            var extension = Path.GetExtension(upload.FileName);
            var temporary = Path.Combine(Path.GetTempPath(), $"citywatch-analysis-{Guid.NewGuid():N}{extension}");
            try
            {
                await using (var file = File.Create(temporary))
                {
                    await upload.CopyToAsync(file, ct);
                }

                var options = new IngestOptions { AnalysisFps = fps ?? 2, Width = width ?? 640 }.Validate();
                var report = await analyzer.AnalyzeAsync(temporary, list.Id, @case, user.Name(), options, null, ct, Path.GetFileName(upload.FileName));
                return TypedResults.Ok(report);
            }
            finally
            {
                File.Delete(temporary);
            }
        }).DisableAntiforgery().Allow(Role.Investigator).WithTags("Recognition");
        return app;
    }
}
