using System.CommandLine;
using CityWatch.Audit;
using CityWatch.AuditLog;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace CityWatch.Cli.Audit;

/// <summary>
/// <c>citywatch witness --dir DIR --log URL [--listen URL]</c>: an independent witness, run as its own process
/// (ideally by another body, on another machine). Its folder holds its key (<c>witness.key</c>) and its state
/// (<c>state.json</c>: the log key it pinned and the last checkpoint it cosigned). It polls the log's checkpoint,
/// checks that each new one is consistent with what it cosigned before, only then cosigns (tlog-cosignature v1)
/// and hands the cosignature back to the log. A fork or rollback is refused, reported and ends the process.
/// With <c>--listen</c> it also serves its key and its last cosigned checkpoint, so clients can compare.
/// </summary>
internal static class WitnessCommand
{
    public const int Forked = 3;

    internal static Command Create()
    {
        var directory = new Option<DirectoryInfo>("--dir") { Description = "The witness's folder: its key and its state (created if missing)", Required = true };
        var log = new Option<string?>("--log") { Description = "Base URL of the CityWatch server to witness" };
        var listen = new Option<string?>("--listen") { Description = "Serve GET /key and GET /checkpoint (the last cosigned checkpoint) here, e.g. http://127.0.0.1:5090" };
        var name = new Option<string>("--name") { Description = "The witness name used for a new key", DefaultValueFactory = _ => "witness.citywatch.local" };
        var logKey = new Option<string?>("--log-key") { Description = "The log's verifier key; default: trust the key on first use and pin it in the state" };
        var interval = new Option<int>("--interval") { Description = "Seconds between checks; 0 checks once", DefaultValueFactory = _ => 5 };
        var printKey = new Option<bool>("--print-key") { Description = "Create the key if missing, print the witness's verifier key and exit" };
        var command = new Command("witness", "Watch an audit log for forks and cosign consistent checkpoints") { directory, log, listen, name, logKey, interval, printKey };
        command.SetAction(async (ParseResult r, CancellationToken ct) =>
        {
            var folder = r.GetValue(directory)!.FullName;
            using var signer = LoadOrCreateKey(folder, r.GetValue(name)!);
            var verifierKey = new Cosigner(signer).VerifierKey;
            if (r.GetValue(printKey))
            {
                Console.WriteLine(verifierKey);
                return 0;
            }

            if (ParseUrl(r.GetValue(log), "--log") is not { } server)
            {
                return 2;
            }

            Uri? listenUrl = null;
            if (r.GetValue(listen) is { } listenText && (listenUrl = ParseUrl(listenText, "--listen")) is null)
            {
                return 2;
            }

            Console.WriteLine($"Witness key (give this to the log and its clients): {verifierKey}");
            await using var app = listenUrl is null ? null : await ListenAsync(listenUrl, folder, verifierKey, ct);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var seconds = r.GetValue(interval);
            while (true)
            {
                var code = await RunOnceAsync(http, server, folder, signer, r.GetValue(logKey), TimeProvider.System, Console.Out, ct);
                // A refused history ends the witness; a failed fetch (the log restarting) is tried again.
                if (code == Forked || seconds <= 0)
                {
                    return code;
                }

                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(seconds), ct);
                }
                catch (OperationCanceledException)
                {
                    return 0;
                }
            }
        });
        return command;
    }

    /// <summary>An absolute http(s) URL, or null after one line on stderr naming the option.</summary>
    internal static Uri? ParseUrl(string? text, string option)
    {
        if (Uri.TryCreate(text, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps))
        {
            return url;
        }

        Console.Error.WriteLine(text is null ? $"error: {option} URL is required." : $"error: {option} '{text}' is not an http:// or https:// URL.");
        return null;
    }

    /// <summary>One round: fetch, verify, check consistency, cosign, publish. Returns 0, 1 (error) or <see cref="Forked"/>.</summary>
    internal static async Task<int> RunOnceAsync(HttpClient http, Uri log, string directory, NoteSigner witnessKey, string? logKey, TimeProvider time, TextWriter output, CancellationToken ct)
    {
        var client = new AuditLogClient(http, log);
        try
        {
            var state = WitnessState.Read(directory);
            var key = logKey ?? state?.LogKey ?? await client.VerifierKeyAsync(ct);
            if (state is not null && state.LogKey != key)
            {
                await output.WriteLineAsync($"Refused: the log key {key} is not the pinned {state.LogKey}.");
                return Forked;
            }

            var (checkpoint, note) = Checkpoint.Open(await client.CheckpointAsync(ct), NoteVerifier.Parse(key));
            if (state is not null)
            {
                var oldRoot = Convert.FromBase64String(state.Root);
                if (checkpoint.Size < state.Size)
                {
                    await output.WriteLineAsync($"Refused: fork or rollback, the log shrank from size {state.Size} to {checkpoint.Size}.");
                    return Forked;
                }

                try
                {
                    var proof = checkpoint.Size == state.Size ? [] : await client.ConsistencyAsync(state.Size, checkpoint.Size, ct);
                    ProofVerifier.VerifyConsistency(state.Size, checkpoint.Size, oldRoot, checkpoint.RootHash, proof);
                }
                catch (AuditLogException e)
                {
                    await output.WriteLineAsync($"Refused: fork detected, size {checkpoint.Size} is not consistent with the witnessed size {state.Size}: {e.Message}");
                    return Forked;
                }
            }

            var cosignature = new Cosigner(witnessKey).Cosign(note.Text, time.GetUtcNow());
            var cosigned = new SignedNote(note.Text, [.. note.Signatures.Where(s => s.Name == checkpoint.Origin), cosignature]).Format();
            // The state moves on before the log is told: what this witness signed, it must never sign against.
            new WitnessState(key, checkpoint.Size, Convert.ToBase64String(checkpoint.RootHash), cosigned).WriteTo(directory);
            using (var response = await client.PostCosignatureAsync(cosigned, ct))
            {
                if (!response.IsSuccessStatusCode)
                {
                    await output.WriteLineAsync($"The log did not accept the cosignature: HTTP {(int)response.StatusCode}.");
                    return 1;
                }
            }

            await output.WriteLineAsync($"Cosigned {checkpoint.Origin} at size {checkpoint.Size}.");
            return 0;
        }
        catch (Exception e) when (e is AuditLogException or HttpRequestException or FormatException or InvalidRequestException or IOException or TaskCanceledException)
        {
            await output.WriteLineAsync($"Witness check failed: {e.Message.ReplaceLineEndings(" ")}");
            return 1;
        }
    }

    internal static NoteSigner LoadOrCreateKey(string directory, string name)
    {
        var path = Path.Combine(directory, WitnessState.KeyFileName);
        if (File.Exists(path))
        {
            return NoteSigner.FromPrivateKey(File.ReadAllText(path));
        }

        Directory.CreateDirectory(directory);
        var signer = NoteSigner.Generate(name);
        File.WriteAllText(path, signer.ExportPrivateKey());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return signer;
    }

    // The witness's own read side: its key and what it last cosigned, for anyone comparing notes with the log.
    private static async Task<WebApplication> ListenAsync(Uri url, string directory, string verifierKey, CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url.ToString());
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/key", () => Results.Text(verifierKey + "\n", "text/plain; charset=utf-8"));
        app.MapGet("/checkpoint", () => WitnessState.Read(directory)?.Note is { } note
            ? Results.Text(note, "text/plain; charset=utf-8")
            : Results.Problem("This witness has cosigned nothing yet.", statusCode: StatusCodes.Status404NotFound));
        await app.StartAsync(ct);
        return app;
    }
}
