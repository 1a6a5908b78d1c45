using System.CommandLine;
using CityWatch.Audit;
using CityWatch.AuditLog;
using Spectre.Console;

namespace CityWatch.Cli.Audit;

/// <summary><c>citywatch audit verify</c>: checks a log, from its URL or its database file, and names the first bad index.</summary>
internal static class AuditCommands
{
    internal static Command Create()
    {
        var audit = new Command("audit", "Inspect and verify the tamper-evident audit log");
        var url = new Option<string?>("--url") { Description = "Base URL of a CityWatch server, e.g. http://127.0.0.1:5000" };
        var database = new Option<FileInfo?>("--db") { Description = "A CityWatch database file to verify offline" };
        var key = new Option<string?>("--key") { Description = "The log's verifier key (name+id+key); default: the key file next to the database, or the server's /audit/key" };
        var from = new Option<long>("--from") { Description = "First leaf index to check entries from", DefaultValueFactory = _ => 0 };
        var to = new Option<long?>("--to") { Description = "Check entries up to (not including) this index" };
        var witnessState = new Option<DirectoryInfo?>("--witness-state") { Description = "A witness's folder: the log must extend the checkpoint that witness last cosigned" };
        var witnessKey = new Option<string?>("--witness-key") { Description = "A witness's verifier key: the log must extend the latest checkpoint it cosigned" };
        var verify = new Command("verify", "Verify the whole log or a range: hashes, tree, signed and witnessed checkpoints") { url, database, key, from, to, witnessState, witnessKey };
        verify.SetAction(async (ParseResult r, CancellationToken ct) =>
        {
            var file = r.GetValue(database);
            var server = r.GetValue(url);
            if ((file is null) == (server is null))
            {
                Console.Error.WriteLine("Give exactly one of --url or --db.");
                return 2;
            }

            Uri? serverUrl = null;
            if (server is not null && (serverUrl = WitnessCommand.ParseUrl(server, "--url")) is null)
            {
                return 2;
            }

            var state = r.GetValue(witnessState)?.FullName;
            var witness = r.GetValue(witnessKey);
            try
            {
                var result = file is not null
                    ? await WithProgressAsync(progress => Task.FromResult(AuditVerifier.VerifyDatabase(file.FullName, r.GetValue(key), r.GetValue(from), r.GetValue(to), progress, state, witness)))
                    : await WithProgressAsync(progress => VerifyUrlAsync(serverUrl!, r.GetValue(key), r.GetValue(from), r.GetValue(to), progress, ct, state, witness));
                Console.WriteLine(result.Message);
                return result.Ok ? 0 : 1;
            }
            catch (Exception e) when (e is AuditLogException or HttpRequestException or NotFoundException or InvalidRequestException or IOException or TaskCanceledException or System.Text.Json.JsonException)
            {
                Console.Error.WriteLine($"Verification failed: {e.Message}");
                return 1;
            }
        });
        audit.Subcommands.Add(verify);
        return audit;
    }

    /// <summary>Verifies a served log from its tiles: level-0 tiles must rebuild the signed root, entries must hash to them.</summary>
    internal static async Task<AuditVerification> VerifyUrlAsync(Uri server, string? verifierKey, long from, long? to, IProgress<long>? progress, CancellationToken ct, string? witnessState = null, string? witnessKey = null)
    {
        using var http = new HttpClient();
        var client = new AuditLogClient(http, server);
        if (verifierKey is null)
        {
            verifierKey = await client.VerifierKeyAsync(ct);
            Console.Error.WriteLine($"Warning: trusting the key the server presents ({verifierKey}); pass --key to pin it.");
        }

        var logKey = NoteVerifier.Parse(verifierKey);
        var (checkpoint, _) = Checkpoint.Open(await client.CheckpointAsync(ct), logKey);
        var anchors = new List<WitnessedCheckpoint>();
        if (witnessState is not null)
        {
            anchors.Add(WitnessState.RequiredAnchorIn(witnessState, logKey));
        }

        if (witnessKey is not null)
        {
            var witness = CosignatureVerifier.Parse(witnessKey);
            var served = (await client.WitnessedAsync(ct)).FirstOrDefault(w => w.Witness == witness.Name);
            if (served is null)
            {
                return Bad(0, $"The log serves no checkpoint cosigned by the witness {witness.Name}.");
            }

            var (cosigned, note) = Checkpoint.Open(served.Note, logKey);
            witness.Verify(note);
            anchors.Add(new WitnessedCheckpoint($"the checkpoint the witness {witness.Name} cosigned", cosigned.Size, cosigned.RootHash));
        }

        foreach (var anchor in anchors)
        {
            if (anchor.Size > checkpoint.Size)
            {
                return Bad(checkpoint.Size, $"The log is shorter than {anchor.Source}: it serves {checkpoint.Size} leaves, the witness saw {anchor.Size}. It was cut back.");
            }

            try
            {
                var proof = anchor.Size == checkpoint.Size ? [] : await client.ConsistencyAsync(anchor.Size, checkpoint.Size, ct);
                ProofVerifier.VerifyConsistency(anchor.Size, checkpoint.Size, anchor.Root, checkpoint.RootHash, proof);
            }
            catch (AuditLogException e)
            {
                return Bad(anchor.Size, $"The log is not consistent with {anchor.Source}: it was forked or altered ({e.Message}).");
            }
        }

        var end = Math.Min(to ?? checkpoint.Size, checkpoint.Size);
        var tree = new CompactRange();
        for (long n = 0; n * TileId.FullWidth < checkpoint.Size; n++)
        {
            var tile = TileId.ForTree(0, n, checkpoint.Size);
            var hashes = Tiles.Split(await client.TileAsync(tile, ct));
            if (hashes.Count != tile.Width)
            {
                return Bad(n * TileId.FullWidth, $"Tile {tile.Path()} holds {hashes.Count} hashes, not {tile.Width}.");
            }

            var first = n * TileId.FullWidth;
            if (first + tile.Width > from && first < end)
            {
                var entries = EntryBundle.Decode(await client.TileAsync(tile with { Level = -1 }, ct));
                for (var i = 0; i < tile.Width; i++)
                {
                    var index = first + i;
                    if (index < from || index >= end)
                    {
                        continue;
                    }

                    if (i >= entries.Count || !Rfc6962.HashLeaf(entries[i]).AsSpan().SequenceEqual(hashes[i]))
                    {
                        return Bad(index, $"Leaf {index} does not match its logged hash.");
                    }
                }
            }

            foreach (var hash in hashes)
            {
                tree.Append(hash);
            }

            progress?.Report(tree.Size);
        }

        return tree.Root().AsSpan().SequenceEqual(checkpoint.RootHash)
            ? new AuditVerification(true, checkpoint.Size, null, $"Verified {checkpoint.Size} leaves against the signed checkpoint; entries [{from}, {end}) checked.")
            : Bad(0, "The served tiles do not rebuild the signed root.");

        static AuditVerification Bad(long index, string message) => new(false, index, index, $"First bad index {index}: {message}");
    }

    private static async Task<AuditVerification> WithProgressAsync(Func<IProgress<long>, Task<AuditVerification>> run)
    {
        if (Console.IsOutputRedirected)
        {
            return await run(new Progress<long>());
        }

        AuditVerification? result = null;
        await AnsiConsole.Progress().StartAsync(async context =>
        {
            var task = context.AddTask("Verifying audit log", maxValue: 1);
            result = await run(new Progress<long>(done =>
            {
                task.MaxValue = Math.Max(task.MaxValue, done);
                task.Value = done;
            }));
            task.Value = task.MaxValue;
        });
        return result!;
    }
}
