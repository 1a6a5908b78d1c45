using System.Globalization;
using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Evidence;
using CityWatch.Identity;
using CityWatch.Investigations;
using CityWatch.Matching;
using CityWatch.Server.Identity;

namespace CityWatch.Server.Alerts;

/// <summary>What a verifier posts: confirm or reject (required), and an optional note.</summary>
internal sealed record DecisionRequest(VerificationDecision? Decision, string? Note);

/// <summary>What an export names: why, and for whom.</summary>
internal sealed record ExportRequest(string? Purpose, string? Recipient);

internal static class AlertApi
{
    /// <summary>A probe photo is capped.</summary>
    public const long MaxPhotoBytes = 20L * 1024 * 1024;

    internal static readonly Role[] Viewers = [Role.Operator, Role.Verifier, Role.Investigator, Role.DataProtectionOfficer];

    /// <summary>The roles that see faces on a candidate: the probe crop and the enrolment photo.</summary>
    internal static readonly Role[] CropViewers = [Role.Operator, Role.Verifier, Role.Investigator];

    public static IEndpointRouteBuilder MapAlertApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/alerts").WithTags("Alerts");
        // Whoever holds the Verifier role sees a candidate they have not decided on as "pending", whichever role they call through.
        group.MapGet("/", (AlertStore store, AlertVerification verification, CameraStore cameras, HttpContext http, int? offset, int? limit, long? cameraId) =>
        {
            var page = store.List(offset ?? 0, limit ?? 50, cameraId, Scope(http, cameras, Viewers));
            return TypedResults.Ok(page with { Items = Blind(http, verification, page.Items, a => a.Id, a => a with { Status = AlertVerification.Pending }) });
        }).Allow(Viewers);
        group.MapGet("/{id:long}", (AlertStore store, AlertVerification verification, CameraStore cameras, HttpContext http, long id) =>
            TypedResults.Ok(Blind(http, verification, [InScope(store.Get(id), http, cameras, Viewers)], a => a.Id, a => a with { Status = AlertVerification.Pending })[0])).Allow(Viewers);
        group.MapGet("/{id:long}/crop", async (AlertStore store, CameraStore cameras, EvidenceAccess evidence, AuditTrail audit, HttpContext http, long id, CancellationToken ct) =>
        {
            var alert = InScope(store.Get(id), http, cameras, Viewers);
            await audit.AppendAsync(
                new AuditRecord(http.User.Name(), AuditActions.AlertView, "crop", alert.LegalBasisId, Parameters: new Dictionary<string, string> { ["alert"] = id.ToString(CultureInfo.InvariantCulture) }),
                ct);
            http.Response.Headers.CacheControl = "no-store";
            return TypedResults.File(await evidence.CropAsync(alert, http.User.Name(), "view", null, ct), "image/jpeg");
        }).Allow(CropViewers);
        // The face crop of the photo the alert's entry was enrolled from, for the same roles and scope as the probe crop;
        // the view's record is staged in the transaction that reads the sealed photo. Nothing of any decision is in it.
        group.MapGet("/{id:long}/enrolment-photo", async (AlertStore store, CameraStore cameras, WatchlistStore watchlists, AuditTrail audit, HttpContext http, long id, CancellationToken ct) =>
        {
            var alert = InScope(store.Get(id), http, cameras, Viewers);
            var actor = http.User.Name();
            (byte[] Jpeg, StagedRecord Logged)? viewed;
            try
            {
                viewed = watchlists.ViewPhoto(alert.EntryId, (connection, transaction) => audit.Stage(connection, transaction, new AuditRecord(
                    actor, AuditActions.AlertView, "enrolment photo", alert.LegalBasisId, Parameters: new Dictionary<string, string>
                    {
                        ["alert"] = id.ToString(CultureInfo.InvariantCulture),
                        ["entry"] = alert.EntryId.ToString(CultureInfo.InvariantCulture),
                    })));
            }
            catch (EvidenceDestroyedException)
            {
                viewed = null; // erased between finding its key and opening it
            }

            if (viewed is not { } photo)
            {
                throw new NotFoundException($"Alert {id} has no enrolment photo: its entry was removed, or enrolled before photos were kept.");
            }

            await audit.CommittedAsync(photo.Logged, ct);
            http.Response.Headers.CacheControl = "no-store";
            return TypedResults.File(photo.Jpeg, "image/jpeg");
        }).Allow(CropViewers);

        // Two-person verification: the verifier's queue hides every other decision; the DPO sees them all.
        group.MapGet("/candidates", (AlertVerification verification, CameraStore cameras, HttpContext http, int? limit) =>
            TypedResults.Ok(verification.Candidates(http.User.Name(), Scope(http, cameras, [Role.Verifier]), limit ?? 100))).Allow(Role.Verifier);
        group.MapPost("/{id:long}/decisions", async (AlertVerification verification, AlertStore store, CameraStore cameras, HttpContext http, long id, DecisionRequest? input, CancellationToken ct) =>
        {
            if (input?.Decision is not { } decision)
            {
                throw new InvalidRequestException("decision must be confirm or reject.");
            }

            InScope(store.Get(id), http, cameras, [Role.Verifier]);
            return TypedResults.Ok(await verification.DecideAsync(id, http.User.Name(), new DecisionInput(decision, input.Note), ct));
        }).Allow(Role.Verifier);
        group.MapGet("/{id:long}/decisions", (AlertVerification verification, AlertStore store, HttpContext http, long id) =>
        {
            if (http.Caller().Has(Role.Verifier) && verification.IsBlind(http.User.Name(), store.Get(id)))
            {
                throw new ForbiddenException($"Alert {id} is a candidate you may still decide on as a verifier: its decisions stay hidden from you until you decide or it is settled.");
            }

            return TypedResults.Ok(verification.Decisions(id));
        }).Allow(Role.DataProtectionOfficer);
        group.MapPost("/{id:long}/export", async (AlertVerification verification, AlertStore store, CameraStore cameras, HttpContext http, long id, ExportRequest? input, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(input?.Purpose) || string.IsNullOrWhiteSpace(input.Recipient))
            {
                throw new InvalidRequestException("An export names its purpose and its recipient.");
            }

            InScope(store.Get(id), http, cameras, [Role.Investigator]);
            var bundle = await verification.ExportAsync(id, http.User.Name(), input.Purpose, input.Recipient, ct);
            http.Response.Headers["X-Manifest-Sha256"] = bundle.ManifestSha256;
            return TypedResults.File(bundle.Zip, "application/zip", bundle.FileName);
        }).Allow(Role.Investigator);

        // Retrospective search over stored evidence: multipart with "photo" and "case".
        app.MapPost("/api/search", async (HttpRequest request, HttpContext http, EvidenceSearch search, AlertVerification verification, CancellationToken ct) =>
        {
            var (photo, form) = await PhotoAsync(request, ct);
            var result = await search.SearchAsync(photo, form["case"].ToString(), http.User.Name(), ct);
            return TypedResults.Ok(result with { Matches = Blind(http, verification, result.Matches, m => m.AlertId, m => m with { Status = AlertVerification.Pending }) });
        }).DisableAntiforgery().Allow(Role.Investigator).WithTags("Alerts");
        return app;
    }

    /// <summary>
    /// What a caller may see of alert-bearing items: for a caller who holds the Verifier role (alongside
    /// any other), each item about a candidate they have not decided on goes through <paramref name="redact"/>.
    /// </summary>
    internal static IReadOnlyList<T> Blind<T>(HttpContext http, AlertVerification verification, IReadOnlyList<T> items, Func<T, long> alertId, Func<T, T> redact) =>
        http.Caller().Has(Role.Verifier) ? verification.Blind(http.User.Name(), items, alertId, redact) : items;

    /// <summary>The "photo" file of a multipart form, read into memory (never written to disk), and the form.</summary>
    internal static async Task<(byte[] Photo, IFormCollection Form)> PhotoAsync(HttpRequest request, CancellationToken ct)
    {
        if (!request.HasFormContentType)
        {
            throw new InvalidRequestException("This takes multipart/form-data with a photo named 'photo'.");
        }

        var form = await request.ReadFormAsync(ct);
        var upload = form.Files.GetFile("photo") ?? throw new InvalidRequestException("No file named 'photo' in the form.");
        if (upload.Length > MaxPhotoBytes)
        {
            throw new InvalidRequestException($"The photo is larger than {MaxPhotoBytes / (1024 * 1024)} MiB.");
        }

        using var memory = new MemoryStream();
        await upload.CopyToAsync(memory, ct);
        return (memory.ToArray(), form);
    }

    /// <summary>
    /// The cameras whose alerts the caller may see through <paramref name="roles"/>: the union of those
    /// roles' camera scopes, or null when one of them is unscoped.
    /// </summary>
    internal static IReadOnlySet<long>? Scope(HttpContext http, CameraStore cameras, Role[] roles)
    {
        var caller = http.Caller();
        var union = new HashSet<long>();
        foreach (var role in roles.Where(caller.Has))
        {
            var scope = caller.CameraScope(role, site => cameras.List(0, CameraStore.MaxPageSize, site).Items.Select(c => c.Id).ToList());
            if (scope is null)
            {
                return null;
            }

            union.UnionWith(scope);
        }

        return union;
    }

    internal static Alert InScope(Alert alert, HttpContext http, CameraStore cameras, Role[] roles) =>
        Scope(http, cameras, roles) is { } scope && (alert.CameraId is not { } camera || !scope.Contains(camera))
            ? throw new ForbiddenException($"Alert {alert.Id} is from a camera outside your scope.")
            : alert;
}
