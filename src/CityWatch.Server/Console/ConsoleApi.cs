using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using CityWatch.Alerts;
using CityWatch.Cameras;
using CityWatch.Identity;
using CityWatch.Matching;
using CityWatch.Policy;
using CityWatch.Server.Alerts;
using CityWatch.Server.Identity;
using CityWatch.Server.Matching;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CityWatch.Server.OperatorConsole;

/// <summary>
/// The operator console: server-rendered pages under <c>/console</c> for signed-in staff. Every page and
/// action admits exactly the roles of the API endpoint it stands for and calls the same stores and checks
/// (camera scope, blind verification); forms carry an antiforgery token that is checked on every post.
/// A browser that is not signed in is sent to the sign-in page; any other client gets the API's 401.
/// </summary>
internal static class ConsoleApi
{
    public const string SignInPath = "/console/sign-in";

    /// <summary>
    /// The alert stream looks again at the viewer's queue when the alert store says something changed
    /// (<see cref="AlertStore.NextChange"/>), and at the latest after this long: what the viewer may see also
    /// depends on their camera scope and roles, which change elsewhere.
    /// </summary>
    public static readonly TimeSpan QueueFallback = TimeSpan.FromSeconds(30);

    private const int QueueSize = 100;

    private static readonly Role[] Overseers = [Role.Operator, Role.Authority, Role.DataProtectionOfficer];

    /// <summary>After authentication: a signed-out browser asking for a console page is redirected to sign in, and sees nothing of the page.</summary>
    public static WebApplication UseConsoleSignIn(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            var request = context.Request;
            if (request.Path.StartsWithSegments("/console") && !request.Path.StartsWithSegments(SignInPath)
                && context.User.Identity?.IsAuthenticated != true && HttpMethods.IsGet(request.Method)
                && request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
            {
                context.Response.Redirect(SignInPath);
                return Task.CompletedTask;
            }

            return next(context);
        });
        return app;
    }

    public static IEndpointRouteBuilder MapConsole(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").WithTags("Console").DisableAntiforgery();
        console.MapGet("/sign-in", (IAntiforgery antiforgery, HttpContext http) =>
        {
            var tokens = antiforgery.GetAndStoreTokens(http);
            return Page<SignInPage>(http, new SignInPageModel(tokens.FormFieldName, tokens.RequestToken!, null, null));
        }).Public();
        console.MapPost("/sign-in", async Task<IResult> (SignInService signIn, IdentityStore identities, IAntiforgery antiforgery, HttpContext http, CancellationToken ct) =>
        {
            var form = await FormAsync(antiforgery, http);
            var username = form["username"].ToString();
            try
            {
                var signedIn = await signIn.SignInAsync(username, form["password"].ToString(), form["totp"].ToString(), http.Connection.RemoteIpAddress?.ToString() ?? "unknown", ct);
                Access.SetSessionCookie(http, signedIn);
                var caller = identities.CallerForSession(signedIn.Token);
                return TypedResults.Redirect(caller is not null && SeesAlerts(caller) ? "/console/alerts" : "/console/deployments");
            }
            catch (UnauthorizedException)
            {
                var tokens = antiforgery.GetAndStoreTokens(http);
                http.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return Page<SignInPage>(http, new SignInPageModel(tokens.FormFieldName, tokens.RequestToken!, username, "Sign-in failed: the username, password or code is wrong, or the account is locked."));
            }
        }).Public().RequireRateLimiting(Access.SignInLimit);
        console.MapPost("/sign-out", async (IdentityStore store, IAntiforgery antiforgery, HttpContext http) =>
        {
            await FormAsync(antiforgery, http);
            if (http.Request.Cookies[Access.SessionCookie] is { Length: > 0 } token)
            {
                store.RevokeSession(token);
            }

            http.Response.Cookies.Delete(Access.SessionCookie);
            return TypedResults.Redirect(SignInPath);
        }).Allow();

        console.MapGet("/alerts", (AlertStore store, AlertVerification verification, CameraStore cameras, WatchlistStore watchlists, IAntiforgery antiforgery, HttpContext http) =>
            Page<AlertsPage>(http, new AlertsPageModel(Viewer(antiforgery, http), Queue(store, verification, cameras, watchlists, http)))).Allow(AlertApi.Viewers);
        console.MapGet("/alerts/stream", (AlertStore store, AlertVerification verification, CameraStore cameras, WatchlistStore watchlists, ILoggerFactory logs, HttpContext http, CancellationToken ct) =>
        {
            if (!http.Request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidRequestException("This is an event stream: open it with EventSource (Accept: text/event-stream).");
            }

            return TypedResults.ServerSentEvents(QueueUpdates(store, verification, cameras, watchlists, logs, http, ct));
        }).Allow(AlertApi.Viewers);
        console.MapGet("/alerts/{id:long}", (AlertStore store, AlertVerification verification, CameraStore cameras, WatchlistStore watchlists, IAntiforgery antiforgery, HttpContext http, long id) =>
        {
            var caller = http.Caller();
            var alert = AlertApi.InScope(store.Get(id), http, cameras, AlertApi.Viewers);
            var shown = AlertApi.Blind(http, verification, [alert], a => a.Id, a => a with { Status = AlertVerification.Pending, SettledAt = null })[0];
            var verifier = caller.Has(Role.Verifier);
            var undecided = verifier && verification.IsBlind(http.User.Name(), alert);
            var next = verifier ? verification.Candidates(http.User.Name(), AlertApi.Scope(http, cameras, [Role.Verifier]), 2).Select(c => (long?)c.Id).FirstOrDefault(c => c != id) : null;
            var showsCrop = AlertApi.CropViewers.Any(caller.Has);
            return Page<CandidatePage>(http, new CandidatePageModel(
                Viewer(antiforgery, http), new QueueAlert(shown, CameraName(cameras, alert.CameraId), Shown(watchlists.List(), alert.WatchlistId)),
                ShowsCrop: showsCrop, HasEnrolmentPhoto: showsCrop && watchlists.HasPhoto(alert.EntryId),
                CanDecide: undecided, DecidedByViewer: verifier && !undecided && verification.Decisions(id).Any(d => d.Account == http.User.Name()), next));
        }).Allow(AlertApi.Viewers);
        console.MapPost("/alerts/{id:long}/decision", async Task<IResult> (AlertVerification verification, AlertStore store, CameraStore cameras, IAntiforgery antiforgery, HttpContext http, long id, CancellationToken ct) =>
        {
            var form = await FormAsync(antiforgery, http);
            if (!Enum.TryParse<VerificationDecision>(form["decision"].ToString(), ignoreCase: true, out var decision) || !Enum.IsDefined(decision))
            {
                throw new InvalidRequestException("decision must be confirm or reject.");
            }

            AlertApi.InScope(store.Get(id), http, cameras, [Role.Verifier]);
            try
            {
                await verification.DecideAsync(id, http.User.Name(), new DecisionInput(decision), ct);
            }
            catch (ConflictException refused)
            {
                http.Response.StatusCode = StatusCodes.Status409Conflict;
                return Page<MessagePage>(http, new MessagePageModel(Viewer(antiforgery, http), "Decision refused", refused.Message, "/console/alerts", "Back to the alerts"));
            }

            var next = verification.Candidates(http.User.Name(), AlertApi.Scope(http, cameras, [Role.Verifier]), 1).FirstOrDefault();
            return TypedResults.Redirect(next is null ? "/console/alerts" : $"/console/alerts/{next.Id}");
        }).Allow(Role.Verifier);

        console.MapGet("/deployments", (DeploymentStore deployments, LegalBasisStore bases, CameraStore cameras, IAntiforgery antiforgery, HttpContext http) =>
        {
            var caller = http.Caller();
            var rows = deployments.List().OrderByDescending(d => d.Running).ThenByDescending(d => d.Id)
                .Select(d => new ConsoleDeployment(d, bases.Get(d.LegalBasisId).Title, d.CameraIds.Select(c => CameraName(cameras, c)).ToList()))
                .ToList();
            return Page<DeploymentsPage>(http, new DeploymentsPageModel(Viewer(antiforgery, http), rows, Overseers.Any(caller.Has)));
        }).Allow(Access.Staff);
        console.MapPost("/deployments/{id:long}/stop", async (DeploymentStore deployments, IAntiforgery antiforgery, HttpContext http, long id, CancellationToken ct) =>
        {
            var form = await FormAsync(antiforgery, http);
            var user = http.User;
            var overseer = user.IsInRole(nameof(Role.Authority)) || user.IsInRole(nameof(Role.DataProtectionOfficer));
            var reason = form["reason"].ToString();
            await deployments.StopAsync(id, user.Name(), overseer, string.IsNullOrWhiteSpace(reason) ? null : reason, ct);
            return TypedResults.Redirect("/console/deployments");
        }).Allow(Overseers);
        return app;
    }

    /// <summary>The posted form, after its antiforgery token (field and cookie) has been checked.</summary>
    internal static async Task<IFormCollection> FormAsync(IAntiforgery antiforgery, HttpContext http)
    {
        if (!http.Request.HasFormContentType)
        {
            throw new InvalidRequestException("The console's forms post application/x-www-form-urlencoded.");
        }

        try
        {
            await antiforgery.ValidateRequestAsync(http);
        }
        catch (AntiforgeryValidationException)
        {
            throw new InvalidRequestException("The form's antiforgery token is missing or wrong: reload the page and try again.");
        }

        return await http.Request.ReadFormAsync(http.RequestAborted);
    }

    internal static ConsoleViewer Viewer(IAntiforgery antiforgery, HttpContext http)
    {
        var tokens = antiforgery.GetAndStoreTokens(http);
        var caller = http.Caller();
        return new ConsoleViewer(
            http.User.Name(), caller.Roles.Select(r => r.Role.ToString()).Distinct().ToList(), SeesAlerts(caller), WatchlistApi.Viewers.Any(caller.Has), tokens.FormFieldName, tokens.RequestToken!,
            ConsoleCasesApi.Readers.Any(caller.Has), caller.Has(Role.Investigator));
    }

    /// <summary>
    /// Every registered camera as a form offers it (code and name, by id), read page by page so that a city with more
    /// cameras than one page holds can still choose each of them: a form names a camera by choice, never by typed id.
    /// </summary>
    internal static List<CaseCamera> CameraChoices(CameraStore cameras)
    {
        var choices = new List<CaseCamera>();
        for (var offset = 0; ; offset += CameraStore.MaxPageSize)
        {
            var page = cameras.List(offset, CameraStore.MaxPageSize, null);
            choices.AddRange(page.Items.Select(c => new CaseCamera(c.Id, $"{c.Code} ({c.Name})")));
            if (page.Items.Count < CameraStore.MaxPageSize || choices.Count >= page.Total)
            {
                return choices;
            }
        }
    }

    /// <summary>Whether the caller's roles admit the alert pages (as they admit <c>GET /api/alerts</c>).</summary>
    private static bool SeesAlerts(Caller caller) => AlertApi.Viewers.Any(caller.Has);

    /// <summary>The alerts the caller may see, exactly as <c>GET /api/alerts</c> shows them (scope, blind), grouped by track.</summary>
    private static List<QueueGroup> Queue(AlertStore store, AlertVerification verification, CameraStore cameras, WatchlistStore watchlists, HttpContext http)
    {
        var page = store.List(0, QueueSize, null, AlertApi.Scope(http, cameras, AlertApi.Viewers));
        var shown = AlertApi.Blind(http, verification, page.Items, a => a.Id, a => a with { Status = AlertVerification.Pending, SettledAt = null });
        var names = new Dictionary<long, string>();
        IReadOnlyList<Watchlist> lists = shown.Count == 0 ? [] : watchlists.List();
        return shown
            .GroupBy(a => a.TrackId ?? $"single-{a.Id}")
            .Select(g => new QueueGroup(g.Key.StartsWith("single-", StringComparison.Ordinal) ? $"of alert {g.First().Id}" : g.Key[..Math.Min(8, g.Key.Length)],
                g.OrderByDescending(a => a.Id).Select(a => new QueueAlert(a, a.CameraId is { } c ? names.TryGetValue(c, out var n) ? n : names[c] = CameraName(cameras, c) : "no camera (uploaded)", Shown(lists, a.WatchlistId))).ToList()))
            .OrderByDescending(g => g.Alerts[0].Alert.Id)
            .ToList();
    }

    /// <summary>The queue again, as HTML, whenever what the caller may see of it changes (told by the store); until the browser goes.</summary>
    private static async IAsyncEnumerable<SseItem<string>> QueueUpdates(
        AlertStore store, AlertVerification verification, CameraStore cameras, WatchlistStore watchlists, ILoggerFactory logs, HttpContext http, [EnumeratorCancellation] CancellationToken ct)
    {
        string? last = null;
        await using var renderer = new HtmlRenderer(http.RequestServices, logs);
        while (!ct.IsCancellationRequested)
        {
            var changed = store.NextChange; // before reading, so that a change while rendering is not missed
            var groups = Queue(store, verification, cameras, watchlists, http);
            var fingerprint = string.Join(';', groups.SelectMany(g => g.Alerts).Select(a => $"{a.Alert.Id}:{a.Alert.Status}:{a.Alert.TrackId}:{a.Watchlist}"));
            if (fingerprint != last)
            {
                var html = await renderer.Dispatcher.InvokeAsync(async () =>
                    (await renderer.RenderComponentAsync<AlertQueue>(ParameterView.FromDictionary(new Dictionary<string, object?> { ["Groups"] = groups }))).ToHtmlString());
                if (last is not null)
                {
                    yield return new SseItem<string>(html.ReplaceLineEndings(" "), "queue");
                }

                last = fingerprint;
            }

            try
            {
                await changed.WaitAsync(QueueFallback, ct);
            }
            catch (TimeoutException)
            {
                // No change in the store: look anyway (scope or roles may have changed).
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }

    /// <summary>How the queue marks an alert of this watchlist; one since removed keeps the default colour and no tone.</summary>
    private static QueueWatchlist Shown(IReadOnlyList<Watchlist> watchlists, long id) =>
        watchlists.FirstOrDefault(w => w.Id == id) is { } watchlist
            ? new QueueWatchlist(watchlist.Name, watchlist.Colour, watchlist.Sound)
            : new QueueWatchlist($"watchlist {id} (removed)", WatchlistColours.Default, Sound: false);

    private static string CameraName(CameraStore cameras, long? id)
    {
        if (id is not { } cameraId)
        {
            return "no camera (uploaded)";
        }

        try
        {
            var camera = cameras.Get(cameraId);
            return $"{camera.Code} ({camera.Name})";
        }
        catch (NotFoundException)
        {
            return $"camera {cameraId} (removed)";
        }
    }

    /// <summary>A console page: personal, so never cached.</summary>
    internal static RazorComponentResult<TPage> Page<TPage>(HttpContext http, object model)
        where TPage : IComponent
    {
        http.Response.Headers.CacheControl = "no-store";
        return new RazorComponentResult<TPage>(new Dictionary<string, object?> { ["Model"] = model });
    }
}
