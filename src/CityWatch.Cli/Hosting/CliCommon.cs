using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;
using CityWatch.Keys;
using Spectre.Console;

namespace CityWatch.Cli.Hosting;

/// <summary>Options every command shares, and the one way commands fail: one line on stderr, a non-zero exit.</summary>
internal static class CliCommon
{
    public static readonly Option<string> Server = new("--server")
    {
        Description = "The CityWatch server's base URL",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CITYWATCH_SERVER") ?? "http://127.0.0.1:5080",
    };

    // No default value: System.CommandLine prints defaults in --help, and a token is a secret (read at use, in Client).
    public static readonly Option<string?> Token = new("--token")
    {
        Description = "A session token from `citywatch users sign-in` (default: the CITYWATCH_TOKEN variable)",
    };

    public static readonly Option<string> Data = new("--data")
    {
        Description = "The data folder (SQLite file, evidence, log keys)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CITYWATCH_DATA") ?? ".data",
    };

    public static readonly Option<string> Models = new("--models")
    {
        Description = "The folder of verified model files",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CITYWATCH_MODELS") ?? "models",
    };

    public static readonly Option<string?> KekFile = new("--kek-file")
    {
        Description = "The key-encryption key file, outside the data folder (or the CITYWATCH_KEK_FILE variable)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CITYWATCH_KEK_FILE"),
    };

    public static readonly Option<string[]> KekShares = new("--kek-shares-from")
    {
        Description = "Files holding k custodian shares of the key-encryption key (- reads them from stdin)",
        AllowMultipleArgumentsPerToken = true,
    };

    /// <summary>
    /// The key-encryption key from exactly one of --kek-file, --kek-shares-from or the CITYWATCH_KEK secret,
    /// refused inside <paramref name="dataDirectory"/>. The environment secret is removed from this process's
    /// environment once read, so that no child process (ffmpeg) inherits it.
    /// </summary>
    public static KeyEncryptionKey Kek(ParseResult result, string dataDirectory) =>
        Kek(result.GetValue(KekFile), result.GetValue(KekShares), dataDirectory);

    public static KeyEncryptionKey Kek(string? kekFile, string[]? shareFolders, string dataDirectory)
    {
        var secret = Environment.GetEnvironmentVariable(KeyEncryptionKey.EnvironmentVariable);
        Environment.SetEnvironmentVariable(KeyEncryptionKey.EnvironmentVariable, null);
        return KeyEncryptionKey.Resolve(kekFile, shareFolders, secret, dataDirectory, Console.In);
    }

    /// <summary>Runs a command body; any failure becomes one line on stderr and exit code 1.</summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled");
            return 130;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"error: {e.Message.ReplaceLineEndings(" ")}");
            return 1;
        }
    }

    /// <summary>A client for the server named by --server, signed in with --token when one is given.</summary>
    public static HttpClient Client(ParseResult result)
    {
        var client = new HttpClient { BaseAddress = new Uri(result.GetValue(Server)!.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(5) };
        if ((result.GetValue(Token) ?? Environment.GetEnvironmentVariable("CITYWATCH_TOKEN")) is { Length: > 0 } token)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>A password from the CITYWATCH_PASSWORD variable, or asked for without echo.</summary>
    public static string Password(string prompt = "Password:") =>
        Environment.GetEnvironmentVariable("CITYWATCH_PASSWORD") is { Length: > 0 } password
            ? password
            : AnsiConsole.Prompt(new TextPrompt<string>(prompt).Secret());

    /// <summary>The response body as <typeparamref name="T"/>, or the server's problem details as an exception.</summary>
    public static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await EnsureAsync(response, cancellationToken);
        return (await response.Content.ReadFromJsonAsync<T>(JsonOptions, cancellationToken))!;
    }

    /// <summary>Throws with the server's problem-details text if the response is not a success.</summary>
    public static async Task EnsureAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var detail = body;
            try
            {
                using var problem = JsonDocument.Parse(body);
                detail = problem.RootElement.TryGetProperty("detail", out var d) && d.GetString() is { Length: > 0 } text ? text
                    : problem.RootElement.TryGetProperty("title", out var t) && t.GetString() is { Length: > 0 } title ? title
                    : body;
            }
            catch (JsonException)
            {
                // not problem details: show the raw text
            }

            throw new InvalidOperationException($"server answered {(int)response.StatusCode}: {detail.ReplaceLineEndings(" ").Trim()}");
        }
    }

    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public static void Print(object value) =>
        AnsiConsole.WriteLine(JsonSerializer.Serialize(value, new JsonSerializerOptions(JsonOptions) { WriteIndented = true }));
}
