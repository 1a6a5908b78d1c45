using CityWatch.Audit;
using CityWatch.AuditLog;
using CityWatch.Cli.Audit;
using CityWatch.Data;
using CityWatch.Server.Audit;
using CityWatch.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using CityWatch.Keys;

namespace CityWatch.Tests.Audit;

public sealed class AuditWitnessTests
{
    [Fact]
    public async Task Witness_cosigns_a_growing_log_and_refuses_a_forked_history()
    {
        var directory = TestPaths.NewScratchDirectory();
        using var witnessKey = NoteSigner.Generate("witness.test/w1");
        var witness = new Cosigner(witnessKey);
        var options = new AuditLogOptions { KeyPath = Path.Combine(directory, "log.key") };
        // One log key for both histories: an older data folder's plaintext key file, migrated into each
        // database (wrapped by the same KEK) as it opens. The operator who rewrites a log holds both.
        var kek = KeyEncryptionKey.Generate();
        string logKey;
        using (var signer = NoteSigner.Generate(options.Origin))
        {
            logKey = signer.ExportPrivateKey();
        }

        await File.WriteAllTextAsync(options.KeyPath, logKey);
        options.WitnessKeys.Add(witness.VerifierKey);
        var witnessDirectory = Path.Combine(directory, "witness");
        var statePath = WitnessState.PathIn(witnessDirectory);
        using var http = new HttpClient();
        var output = new StringWriter();

        var honest = new CityWatchDatabase(Path.Combine(directory, "a", "citywatch.db"), kek);
        honest.Migrate(TimeProvider.System);
        await using (var trail = new AuditTrail(honest, TimeProvider.System, options: options))
        {
            await AppendAsync(trail, "honest", 20);
            await using (var host = await StartAsync(honest, trail))
            {
                Assert.Equal(0, await WitnessCommand.RunOnceAsync(http, host.Url, witnessDirectory, witnessKey, null, TimeProvider.System, output, CancellationToken.None));
                var published = SignedNote.Parse(trail.LatestCheckpoint());
                CosignatureVerifier.Parse(witness.VerifierKey).Verify(published);

                using var response = await http.GetAsync(new Uri(host.Url, "audit/checkpoint"));
                Assert.Equal("public, max-age=5", response.Headers.CacheControl?.ToString());
                using var tile = await http.GetAsync(new Uri(host.Url, "audit/tile/0/000.p/20"));
                Assert.Equal(640, (await tile.Content.ReadAsByteArrayAsync()).Length);

                var verification = await AuditCommands.VerifyUrlAsync(host.Url, trail.VerifierKey, 0, null, null, CancellationToken.None);
                Assert.True(verification.Ok, verification.Message);

                await AppendAsync(trail, "honest", 5);
                Assert.Equal(0, await WitnessCommand.RunOnceAsync(http, host.Url, witnessDirectory, witnessKey, null, TimeProvider.System, output, CancellationToken.None));
            }
        }

        // Same log key, different history: what an operator who rewrote the log would serve.
        await File.WriteAllTextAsync(options.KeyPath, logKey);
        var forked = new CityWatchDatabase(Path.Combine(directory, "b", "citywatch.db"), kek);
        forked.Migrate(TimeProvider.System);
        await using (var trail = new AuditTrail(forked, TimeProvider.System, options: options))
        {
            await AppendAsync(trail, "rewritten", 30);
            await using var host = await StartAsync(forked, trail);
            var stateBefore = await File.ReadAllTextAsync(statePath);
            var refusal = new StringWriter();

            Assert.Equal(WitnessCommand.Forked, await WitnessCommand.RunOnceAsync(http, host.Url, witnessDirectory, witnessKey, null, TimeProvider.System, refusal, CancellationToken.None));

            Assert.Contains("fork detected", refusal.ToString(), StringComparison.Ordinal);
            Assert.Equal(stateBefore, await File.ReadAllTextAsync(statePath));
            Assert.Throws<NoteVerificationException>(() => CosignatureVerifier.Parse(witness.VerifierKey).Verify(SignedNote.Parse(trail.LatestCheckpoint())));
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    private static async Task AppendAsync(AuditTrail trail, string actor, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await trail.AppendAsync(new AuditRecord(actor, AuditActions.Analysis, $"act {i}"));
        }
    }

    private static async Task<TestHost> StartAsync(CityWatchDatabase database, AuditTrail trail)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton(database);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(trail);
        builder.Services.AddAudit();
        var app = builder.Build();
        app.MapAuditApi();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestHost(app, new Uri(address + "/"));
    }

    private sealed record TestHost(WebApplication App, Uri Url) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }
}
