using CityWatch.Server.Identity;
using CityWatch.Audit;
using CityWatch.AuditLog;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CityWatch.Server.Audit;

/// <summary>
/// The public, sign-in-free read side of the audit log (C2SP tlog-tiles layout under <c>/audit</c>) and
/// the endpoint where witnesses hand back their cosignatures. Everything here is cacheable: full tiles
/// forever, the checkpoint and partial tiles for a few seconds.
/// </summary>
public static class AuditApi
{
    private const string Immutable = "public, max-age=31536000, immutable";
    private const string Fresh = "public, max-age=5";

    /// <summary>Registers the audit log options (and the trail itself if the host has not).</summary>
    public static IServiceCollection AddAudit(this IServiceCollection services, Action<AuditLogOptions>? configure = null)
    {
        var options = new AuditLogOptions();
        configure?.Invoke(options);
        services.TryAddSingleton(options);
        services.TryAddSingleton(sp => new AuditTrail(
            sp.GetRequiredService<CityWatch.Data.CityWatchDatabase>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<Func<IReadOnlyList<CommittedState>>>(),
            sp.GetRequiredService<AuditLogOptions>()));
        return services;
    }

    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        var audit = app.MapGroup("/audit").Public();
        audit.MapGet("/checkpoint", (AuditTrail trail, HttpContext http) =>
        {
            http.Response.Headers.CacheControl = Fresh;
            return TypedResults.Text(trail.LatestCheckpoint(), "text/plain; charset=utf-8");
        });
        audit.MapGet("/witnessed", (AuditTrail trail, HttpContext http) =>
        {
            http.Response.Headers.CacheControl = Fresh;
            return TypedResults.Ok(trail.Witnessed());
        });
        audit.MapGet("/key", (AuditTrail trail, HttpContext http) =>
        {
            http.Response.Headers.CacheControl = Fresh;
            return TypedResults.Text(trail.VerifierKey + "\n", "text/plain; charset=utf-8");
        });
        audit.MapGet("/tile/{**path}", GetTile);
        audit.MapGet("/entries", (AuditTrail trail, HttpContext http, long start = 0, int count = 100) =>
        {
            if (start < 0 || count is < 1 or > 1000)
            {
                return Results.Problem("start must be ≥ 0 and count 1..1000.", statusCode: 400);
            }

            http.Response.Headers.CacheControl = Fresh;
            return Results.Ok(trail.ReadSigned(start, count));
        });
        // One leaf's bytes exactly as hashed into the tree (what the portal's in-browser check hashes); a leaf never changes.
        audit.MapGet("/leaf/{index:long}", (AuditTrail trail, HttpContext http, long index) =>
        {
            var leaf = index < 0 ? [] : trail.ReadEntries(index, 1);
            if (leaf.Count == 0)
            {
                return Results.Problem($"The log has no entry {index}.", statusCode: 404);
            }

            http.Response.Headers.CacheControl = Immutable;
            return Results.File(leaf[0], "application/octet-stream");
        });
        audit.MapGet("/proof/inclusion", (AuditTrail trail, HttpContext http, long index, long size) =>
            Proof(http, () => trail.InclusionProof(index, size)));
        audit.MapGet("/proof/consistency", (AuditTrail trail, HttpContext http, long old, long size) =>
            Proof(http, () => trail.ConsistencyProof(old, size)));
        audit.MapPost("/cosignature", async (AuditTrail trail, HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            var note = await reader.ReadToEndAsync(request.HttpContext.RequestAborted);
            try
            {
                return Results.Ok(new { stored = trail.AddCosignatures(note) });
            }
            catch (ConflictException e)
            {
                return Results.Problem(e.Message, statusCode: 409);
            }
            catch (InvalidRequestException e)
            {
                return Results.Problem(e.Message, statusCode: 400);
            }
        });
        // The openings of one entry's commitments, for the oversight roles only; each opening is itself logged
        // before it is shown.
        app.MapGet("/api/audit/entries/{id:long}/opening", async (AuditTrail trail, System.Security.Claims.ClaimsPrincipal user, long id, CancellationToken ct) =>
        {
            var index = id;
            var openings = trail.Openings(index);
            await trail.AppendAsync(
                new AuditRecord(user.Name(), AuditActions.Opening, "opened", Parameters: new Dictionary<string, string>
                {
                    ["index"] = index.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["fields"] = string.Join(",", openings.Select(o => o.Field)),
                }),
                ct);
            return TypedResults.Ok(openings);
        }).Allow(CityWatch.Identity.Role.DataProtectionOfficer, CityWatch.Identity.Role.Authority);
        return app;
    }

    private static Results<FileContentHttpResult, ProblemHttpResult> GetTile(AuditTrail trail, HttpContext http, string path)
    {
        try
        {
            var tile = TileId.Parse("tile/" + path);
            var content = tile.Level < 0 ? trail.ReadEntryBundle(tile) : trail.ReadTile(tile);
            http.Response.Headers.CacheControl = tile.IsPartial ? Fresh : Immutable;
            return TypedResults.File(content, "application/octet-stream");
        }
        catch (MalformedTileException e)
        {
            return TypedResults.Problem(e.Message, statusCode: 400);
        }
        catch (NotFoundException e)
        {
            return TypedResults.Problem(e.Message, statusCode: 404);
        }
    }

    private static IResult Proof(HttpContext http, Func<IReadOnlyList<byte[]>> build)
    {
        try
        {
            var hashes = build();
            http.Response.Headers.CacheControl = Immutable;
            return TypedResults.Text(string.Concat(hashes.Select(h => Convert.ToBase64String(h) + "\n")), "text/plain; charset=utf-8");
        }
        catch (InvalidProofException e)
        {
            return Results.Problem(e.Message, statusCode: 400);
        }
        catch (NotFoundException e)
        {
            return Results.Problem(e.Message, statusCode: 404);
        }
    }
}
