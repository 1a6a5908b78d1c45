using System.CommandLine;
using System.Text.Json;
using CityWatch.AuditLog;

namespace CityWatch.Cli.Audit;

/// <summary>
/// <c>citywatch witness --log URL</c>: an independent witness. It keeps the last checkpoint it saw in a state
/// file, checks that each new checkpoint is consistent with it, and only then cosigns (tlog-cosignature v1)
/// and hands the cosignature back to the log. A fork or rollback is refused and reported.
/// </summary>
internal static class WitnessCommand
{
    public const int Forked = 3;

    internal static Command Create()
    {
        var log = new Option<Uri>("--log") { Description = "Base URL of the CityWatch server to witness", Required = true };
        var state = new Option<FileInfo>("--state") { Description = "Where the witness keeps its last-seen checkpoint", DefaultValueFactory = _ => new FileInfo("witness-state.json") };
        var keyFile = new Option<FileInfo>("--key-file") { Description = "The witness's private key file (created if missing)", DefaultValueFactory = _ => new FileInfo("witness.key") };
        var name = new Option<string>("--name") { Description = "The witness name used for a new key", DefaultValueFactory = _ => "witness.citywatch.local" };
        var logKey = new Option<string?>("--log-key") { Description = "The log's verifier key; default: trust the key on first use and pin it in the state file" };
        var interval = new Option<int>("--interval") { Description = "Seconds between checks; 0 checks once", DefaultValueFactory = _ => 0 };
        var command = new Command("witness", "Watch an audit log for forks and cosign consistent checkpoints") { log, state, keyFile, name, logKey, interval };
        command.SetAction(async (ParseResult r, CancellationToken ct) =>
        {
            using var signer = LoadOrCreateKey(r.GetValue(keyFile)!.FullName, r.GetValue(name)!);
            Console.WriteLine($"Witness key (give this to log clients): {new Cosigner(signer).VerifierKey}");
            using var http = new HttpClient();
            while (true)
            {
                var code = await RunOnceAsync(http, r.GetValue(log)!, r.GetValue(state)!.FullName, signer, r.GetValue(logKey), TimeProvider.System, Console.Out, ct);
                var seconds = r.GetValue(interval);
                if (code != 0 || seconds <= 0)
                {
                    return code;
                }

                await Task.Delay(TimeSpan.FromSeconds(seconds), ct);
            }
        });
        return command;
    }

    /// <summary>One round: fetch, verify, check consistency, cosign, publish. Returns 0, 1 (error) or <see cref="Forked"/>.</summary>
    internal static async Task<int> RunOnceAsync(HttpClient http, Uri log, string statePath, NoteSigner witnessKey, string? logKey, TimeProvider time, TextWriter output, CancellationToken ct)
    {
        var client = new AuditLogClient(http, log);
        var state = File.Exists(statePath) ? JsonSerializer.Deserialize<WitnessState>(await File.ReadAllTextAsync(statePath, ct)) : null;
        try
        {
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
            var cosigned = new SignedNote(note.Text, [.. note.Signatures, cosignature]).Format();
            using (var response = await client.PostCosignatureAsync(cosigned, ct))
            {
                if (!response.IsSuccessStatusCode)
                {
                    await output.WriteLineAsync($"The log did not accept the cosignature: HTTP {(int)response.StatusCode}.");
                }
            }

            var next = new WitnessState(key, checkpoint.Size, Convert.ToBase64String(checkpoint.RootHash));
            var temporary = statePath + ".tmp";
            await File.WriteAllTextAsync(temporary, JsonSerializer.Serialize(next), ct);
            File.Move(temporary, statePath, overwrite: true);
            await output.WriteLineAsync($"Cosigned {checkpoint.Origin} at size {checkpoint.Size}.");
            return 0;
        }
        catch (Exception e) when (e is AuditLogException or HttpRequestException or FormatException)
        {
            await output.WriteLineAsync($"Witness check failed: {e.Message}");
            return 1;
        }
    }

    internal static NoteSigner LoadOrCreateKey(string path, string name)
    {
        if (File.Exists(path))
        {
            return NoteSigner.FromPrivateKey(File.ReadAllText(path));
        }

        var signer = NoteSigner.Generate(name);
        File.WriteAllText(path, signer.ExportPrivateKey());
        return signer;
    }

    internal sealed record WitnessState(string LogKey, long Size, string Root);
}
