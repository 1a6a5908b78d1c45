using System.Security.Cryptography.X509Certificates;
using CityWatch.ScaleOut;
using CityWatch.Server;
using CityWatch.Server.ScaleOut;
using CityWatch.Tests.Support;
using Microsoft.Extensions.Configuration;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace CityWatch.Tests.ScaleOut;

/// <summary>
/// The links to nats-server (<see cref="NatsLink"/>): against a real nats-server with TLS and users, a client given the
/// CA and its user in <see cref="NatsOpts.AuthOpts"/> connects over TLS and works (publish, a KV bucket); a client that
/// speaks plain TCP, trusts another CA or trusts only the system's is refused. A URL that carries a user or password is
/// refused (by the link, by the options, by <c>serve</c> on one line without repeating the password), a non-loopback URL
/// needs a CA file, and the password comes from the environment or a file, never from a URL or a flag.
/// </summary>
public sealed class NatsTlsTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private readonly NatsUser _server = NatsAccess.NewUser(NatsAccess.ServerUser);
    private readonly NatsUser _worker = NatsAccess.NewUser("worker-t");
    private readonly string _scratch = TestPaths.NewScratchDirectory();
    private NatsServer _nats = null!;

    public async Task InitializeAsync() => _nats = await NatsServer.StartTlsAsync(NatsAccess.Authorization(_server, [_worker]));

    public Task DisposeAsync()
    {
        _nats.Dispose();
        Directory.Delete(_scratch, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_client_given_the_ca_and_its_user_connects_over_tls_and_publishes_and_uses_a_bucket()
    {
        await using var nats = new NatsConnection(_nats.Link(_server).Options("tls-test"));
        await nats.ConnectAsync().AsTask().WaitAsync(Deadline);

        // The server said TLS is required, and this connection got through: it spoke TLS, and its certificate checked.
        Assert.Equal(NatsConnectionState.Open, nats.ConnectionState);
        Assert.True(nats.ServerInfo?.TlsRequired, "nats-server should require TLS");

        await using (var subscription = await nats.SubscribeCoreAsync<string>("tls.test"))
        {
            await nats.PublishAsync("tls.test", "over tls");
            using var wait = new CancellationTokenSource(Deadline);
            var message = await subscription.Msgs.ReadAsync(wait.Token);
            Assert.Equal("over tls", message.Data);
        }

        var kv = new NatsKVContext(new NatsJSContext(nats));
        var bucket = await kv.CreateStoreAsync(new NatsKVConfig("tls-bucket"));
        await bucket.PutAsync("key", "value");
        Assert.Equal("value", (await bucket.GetEntryAsync<string>("key")).Value);
    }

    [Fact]
    public async Task A_worker_over_its_link_gets_its_own_inbox_and_the_lease_bucket()
    {
        // The worker's own user and inbox prefix over TLS, as WorkerService opens it: the permissions still hold.
        await using var nats = new NatsConnection(_nats.Link(_worker).Options("citywatch-worker-worker-t", NatsAccess.InboxPrefix(_worker.Name)));
        await nats.ConnectAsync().AsTask().WaitAsync(Deadline);
        await using var server = new NatsConnection(_nats.Link(_server).Options("server"));
        var kv = new NatsKVContext(new NatsJSContext(server));
        await kv.CreateStoreAsync(new NatsKVConfig(CameraLeases.DefaultBucket));

        var bucket = await new NatsKVContext(new NatsJSContext(nats)).GetStoreAsync(CameraLeases.DefaultBucket);
        await bucket.PutAsync("cam-1", "worker-t");
        Assert.Equal("worker-t", (await bucket.GetEntryAsync<string>("cam-1")).Value);
    }

    [Fact]
    public async Task A_client_that_speaks_plain_tcp_is_refused()
    {
        var plain = _nats.Link(_server).Options("plain") with { TlsOpts = NatsTlsOpts.Default with { Mode = TlsMode.Disable }, MaxReconnectRetry = 0 };
        await using var nats = new NatsConnection(plain);

        await Assert.ThrowsAnyAsync<NatsException>(async () => await nats.ConnectAsync().AsTask().WaitAsync(Deadline));
        Assert.NotEqual(NatsConnectionState.Open, nats.ConnectionState);
    }

    [Fact]
    public async Task Nats_server_itself_refuses_the_protocol_in_plain_tcp()
    {
        // Not the client library declining: a raw socket that sends CONNECT (with a valid user) and PING unencrypted
        // gets no PONG; nats-server expects a TLS handshake after its INFO and drops the connection.
        using var tcp = new System.Net.Sockets.TcpClient();
        var port = new Uri(_nats.Url).Port;
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port).WaitAsync(Deadline);
        var stream = tcp.GetStream();
        using var reader = new StreamReader(stream);
        var info = await reader.ReadLineAsync().WaitAsync(Deadline);
        Assert.StartsWith("INFO ", info, StringComparison.Ordinal);
        Assert.Contains("\"tls_required\":true", info, StringComparison.Ordinal);

        var connect = $"CONNECT {{\"user\":\"{_server.Name}\",\"pass\":\"{_server.Password}\",\"verbose\":true,\"tls_required\":false}}\r\nPING\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(connect));
        var answered = new List<string>();
        try
        {
            while (await reader.ReadLineAsync().WaitAsync(Deadline) is { } line)
            {
                answered.Add(line);
            }
        }
        catch (IOException)
        {
            // reset by the server
        }

        Assert.DoesNotContain(answered, line => line.StartsWith("PONG", StringComparison.Ordinal) || line.StartsWith("+OK", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_that_trusts_another_ca_or_only_the_systems_is_refused()
    {
        // Another throwaway CA, with a certificate for the same address: the server's certificate does not chain to it.
        var other = NatsCertificates.Write(_scratch, System.Net.IPAddress.Loopback, TimeSpan.FromHours(1), TimeProvider.System);
        Assert.NotEqual(File.ReadAllText(other.CaFile), File.ReadAllText(_nats.CaFile!));
        await using var wrongCa = new NatsConnection(new NatsLink(_nats.Url, _server, other.CaFile).Options("wrong-ca") with { MaxReconnectRetry = 0 });
        await Assert.ThrowsAnyAsync<NatsException>(async () => await wrongCa.ConnectAsync().AsTask().WaitAsync(Deadline));
        Assert.NotEqual(NatsConnectionState.Open, wrongCa.ConnectionState);

        // No CA file (a loopback URL is allowed without one): the upgrade to TLS checks against the system's roots, and fails.
        await using var noCa = new NatsConnection(new NatsLink(_nats.Url, _server).Options("no-ca") with { MaxReconnectRetry = 0 });
        await Assert.ThrowsAnyAsync<NatsException>(async () => await noCa.ConnectAsync().AsTask().WaitAsync(Deadline));
    }

    [Fact]
    public void The_certificates_are_p256_for_127_0_0_1_short_lived_and_the_key_only_its_owners()
    {
        var files = _nats.Tls!;
        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(files.CaFile));
        using var server = X509Certificate2.CreateFromPem(File.ReadAllText(files.CertFile));

        Assert.Equal(ca.Subject, server.Issuer);
        Assert.True(server.MatchesHostname("127.0.0.1"));
        Assert.Equal("1.2.840.10045.2.1", server.PublicKey.Oid.Value);
        Assert.NotNull(server.GetECDsaPublicKey());
        Assert.Equal(256, server.GetECDsaPublicKey()!.KeySize);
        Assert.True(server.NotAfter - server.NotBefore <= TimeSpan.FromHours(2));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(files.KeyFile));
        }

        // The CA's key is not written anywhere: only the server's key is.
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(files.KeyFile)!, "*key*"));
        Assert.DoesNotContain("PRIVATE KEY", File.ReadAllText(files.CaFile), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nats://citywatch-server:secret-password@127.0.0.1:4222")]
    [InlineData("nats://only-a-user@127.0.0.1:4222")]
    [InlineData("tls://citywatch-server:secret-password@nats.example:4222")]
    public void A_url_with_a_user_or_password_is_refused_without_repeating_it(string url)
    {
        var checkedUrl = Assert.Throws<ArgumentException>(() => NatsLink.Check(url, _nats.CaFile));
        var options = Assert.Throws<ArgumentException>(() => new NatsLink(url, null, _nats.CaFile).Options("x"));
        var resolved = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(new ServerOptions { DataDirectory = "unused", ModelsDirectory = "unused", NatsUrl = url, NatsCaFile = _nats.CaFile }, Configuration()));

        foreach (var refused in (ArgumentException[])[checkedUrl, options, resolved])
        {
            Assert.Contains("must not carry a user or password", refused.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("secret-password", refused.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Serve_refuses_a_url_with_a_password_on_one_line_and_exit_1()
    {
        var refused = await CliRunner.RunAsync("serve", "--models", TestPaths.Models, "--role", "worker", "--worker", "w1", "--nats", "nats://w1:secret-password@127.0.0.1:4222");

        Assert.Equal(1, refused.ExitCode);
        var line = Assert.Single(refused.Errors);
        Assert.StartsWith("error: --nats (ScaleOut:Nats): the NATS URL must not carry a user or password", line, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-password", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_url_off_this_box_needs_a_ca_file_and_the_ca_file_must_exist()
    {
        var options = new ServerOptions { DataDirectory = "unused", ModelsDirectory = "unused", NatsUrl = "nats://10.0.0.5:4222" };

        var noCa = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options, Configuration()));
        Assert.Contains("needs TLS: give the CA file", noCa.Message, StringComparison.Ordinal);
        var missing = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options with { NatsCaFile = Path.Combine(_scratch, "none.pem") }, Configuration()));
        Assert.StartsWith("--nats-ca (ScaleOut:NatsCaFile): no such file", missing.Message, StringComparison.Ordinal);

        // With the CA file (a flag, or ScaleOut:NatsCaFile) the link requires TLS and trusts that file.
        var link = ScaleOutOptions.From(options, Configuration((ScaleOutOptions.NatsCaFileKey, _nats.CaFile))).Link!;
        var tls = link.Options("x").TlsOpts;
        Assert.Equal((TlsMode.Require, _nats.CaFile), (tls.Mode, tls.CaFile));
        // Loopback without one: plain TCP, as before (the one-box tests and a one-box city).
        Assert.Null(ScaleOutOptions.From(options with { NatsUrl = "nats://127.0.0.1:4222" }, Configuration()).Link!.CaFile);
    }

    [Fact]
    public async Task The_user_and_password_come_from_configuration_or_a_file_and_go_in_auth_options_not_the_url()
    {
        var options = new ServerOptions { DataDirectory = "unused", ModelsDirectory = "unused", NatsUrl = _nats.Url, NatsCaFile = _nats.CaFile };
        var fromEnvironment = ScaleOutOptions.From(options, Configuration((ScaleOutOptions.NatsUserKey, _server.Name), (ScaleOutOptions.NatsPasswordKey, _server.Password))).Link!;
        var passwordFile = Path.Combine(_scratch, "nats-password");
        await File.WriteAllTextAsync(passwordFile, _server.Password + "\n");
        var fromFile = ScaleOutOptions.From(options with { NatsUser = _server.Name }, Configuration((ScaleOutOptions.NatsPasswordFileKey, passwordFile))).Link!;

        foreach (var link in (NatsLink[])[fromEnvironment, fromFile])
        {
            Assert.Equal(_server, link.User);
            var opts = link.Options("from-configuration");
            Assert.Equal((_server.Name, _server.Password), (opts.AuthOpts.Username, opts.AuthOpts.Password));
            Assert.DoesNotContain(_server.Password, opts.Url, StringComparison.Ordinal);
            Assert.DoesNotContain(_server.Password, link.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain(_server.Password, ScaleOutOptions.From(options, Configuration((ScaleOutOptions.NatsUserKey, _server.Name), (ScaleOutOptions.NatsPasswordKey, _server.Password))).ToString(), StringComparison.Ordinal);
            await using var nats = new NatsConnection(opts);
            await nats.ConnectAsync().AsTask().WaitAsync(Deadline);
            Assert.Equal(NatsConnectionState.Open, nats.ConnectionState);
        }

        var noPassword = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options with { NatsUser = _server.Name }, Configuration()));
        Assert.StartsWith("--nats-user (ScaleOut:NatsUser) needs its password", noPassword.Message, StringComparison.Ordinal);
        var noUser = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options, Configuration((ScaleOutOptions.NatsPasswordKey, "x"))));
        Assert.StartsWith("a NATS password needs its user", noUser.Message, StringComparison.Ordinal);
        var both = Assert.Throws<ArgumentException>(() => ScaleOutOptions.From(options with { NatsUser = _server.Name }, Configuration((ScaleOutOptions.NatsPasswordKey, "x"), (ScaleOutOptions.NatsPasswordFileKey, passwordFile))));
        Assert.Contains("not both", both.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Configuration(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, v.Value))).Build();
}
