using System.Security.Claims;
using CityWatch.Audit;
using CityWatch.Identity;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Server.Identity;

namespace CityWatch.Server.Matching;

internal static class WatchlistApi
{
    /// <summary>Enrolment photos are small portraits; anything larger is refused before it is read.</summary>
    public const long MaxPhotoBytes = 20 * 1024 * 1024;

    /// <summary>Who may read the watchlists and their entries (the console's watchlist pages admit the same).</summary>
    internal static readonly Role[] Viewers = [Role.Operator, Role.Investigator, Role.Verifier, Role.Authority, Role.DataProtectionOfficer];

    /// <summary>Who may approve a watchlist as it stands (G5), here and in the console.</summary>
    internal static readonly Role[] Approvers = [Role.Investigator, Role.Authority];

    public static IEndpointRouteBuilder MapWatchlistApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/watchlists").WithTags("Watchlists");
        group.MapGet("/", (WatchlistStore store) => TypedResults.Ok(store.List())).Allow(Viewers);
        group.MapGet("/{id:long}", (WatchlistStore store, long id) => TypedResults.Ok(store.Get(id))).Allow(Viewers);
        group.MapGet("/{id:long}/entries", (WatchlistStore store, long id) => TypedResults.Ok(store.Entries(id))).Allow(Viewers);
        group.MapPost("/", async (WatchlistStore store, AuditTrail audit, ClaimsPrincipal user, WatchlistInput input, CancellationToken ct) =>
        {
            var watchlist = store.Create(input, user.Name());
            await audit.AppendAsync(
                new AuditRecord(user.Name(), AuditActions.WatchlistCreate, "created", Parameters: WatchlistStore.DisplayParameters(watchlist.Id, watchlist.Colour, watchlist.Sound)),
                ct);
            return TypedResults.Created($"/api/watchlists/{watchlist.Id}", watchlist);
        }).Allow(Role.Investigator);
        // How its alerts show in the console's queue (colour, tone): the role that creates watchlists sets it, and it is logged.
        group.MapPut("/{id:long}/display", async (WatchlistStore store, AuditTrail audit, ClaimsPrincipal user, long id, WatchlistDisplayInput input, CancellationToken ct) =>
            TypedResults.Ok(await store.SetDisplayAsync(id, input, user.Name(), audit, ct))).Allow(Role.Investigator);

        // multipart/form-data: label, category, imageSource, optional expiresAt, and one or more files named "photo".
        group.MapPost("/{id:long}/entries", async (Enrolment enrolment, HttpRequest request, ClaimsPrincipal user, long id, CancellationToken ct) =>
        {
            if (!request.HasFormContentType)
            {
                throw new InvalidRequestException("Enrolment takes multipart/form-data with label, category, imageSource and one or more 'photo' files.");
            }

            var form = await request.ReadFormAsync(ct);
            var photos = new List<EnrolmentPhoto>();
            foreach (var file in form.Files)
            {
                if (file.Length > MaxPhotoBytes)
                {
                    throw new InvalidRequestException($"Photo '{file.FileName}' is larger than {MaxPhotoBytes / (1024 * 1024)} MiB.");
                }

                using var buffer = new MemoryStream();
                await file.CopyToAsync(buffer, ct);
                photos.Add(new EnrolmentPhoto(file.FileName, buffer.ToArray()));
            }

            DateTimeOffset? expires = null;
            if (!string.IsNullOrWhiteSpace(form["expiresAt"]))
            {
                expires = DateTimeOffset.TryParse(form["expiresAt"], System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed)
                    ? parsed
                    : throw new InvalidRequestException("'expiresAt' is not a date and time.");
            }

            var input = new EntryInput(form["label"].ToString(), form["category"].ToString(), form["imageSource"].ToString(), expires);
            var entry = await enrolment.EnrolAsync(id, input, photos, user.Name(), ct);
            return TypedResults.Created($"/api/watchlists/{id}/entries/{entry.Id}", entry);
        }).DisableAntiforgery().Allow(Role.Investigator);
        // G5: a second account (not the last changer, not an enroller of a pending entry) approves the list as it stands.
        group.MapPost("/{id:long}/approve", async (Enrolment enrolment, ClaimsPrincipal user, long id, CancellationToken ct) =>
            TypedResults.Ok(await enrolment.ApproveAsync(id, user.Name(), ct))).Allow(Approvers);
        group.MapDelete("/{id:long}/entries/{entryId:long}", async (Enrolment enrolment, ClaimsPrincipal user, long id, long entryId, CancellationToken ct) =>
        {
            await enrolment.RemoveAsync(id, entryId, user.Name(), ct);
            return TypedResults.NoContent();
        }).Allow(Role.Investigator);
        return app;
    }
}
