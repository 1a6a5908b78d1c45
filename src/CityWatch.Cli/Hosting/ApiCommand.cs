using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace CityWatch.Cli.Hosting;

/// <summary>
/// The shape of a command that calls the API as the signed-in account: --server, --token and --json; one
/// request; the API's JSON as it came (--json) or a readable table; any failure one line and exit 1.
/// </summary>
internal static class ApiCommand
{
    public static readonly Option<bool> Json = new("--json") { Description = "Print the API's JSON instead of a table" };

    /// <summary>A command with <paramref name="symbols"/>, --server, --token and --json.</summary>
    public static Command Create(string name, string description, params Symbol[] symbols)
    {
        var command = new Command(name, description);
        foreach (var symbol in symbols)
        {
            switch (symbol)
            {
                case Argument argument:
                    command.Arguments.Add(argument);
                    break;
                case Option option:
                    command.Options.Add(option);
                    break;
                default:
                    throw new ArgumentException($"not an argument or option: {symbol.Name}", nameof(symbols));
            }
        }

        command.Options.Add(CliCommon.Server);
        command.Options.Add(CliCommon.Token);
        command.Options.Add(Json);
        return command;
    }

    /// <summary>
    /// Sets the action: <paramref name="send"/> makes the one request; a success is printed as the API's JSON
    /// (--json) or read as <typeparamref name="T"/> and shown by <paramref name="show"/>.
    /// </summary>
    public static Command Sends<T>(this Command command, Func<ParseResult, HttpClient, CancellationToken, Task<HttpResponseMessage>> send, Action<T> show)
    {
        command.SetAction((result, ct) => CliCommon.Guard(async () =>
        {
            using var client = CliCommon.Client(result);
            using var response = await send(result, client, ct);
            await CliCommon.EnsureAsync(response, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            if (result.GetValue(Json))
            {
                PrintJson(body);
            }
            else
            {
                show(JsonSerializer.Deserialize<T>(body, CliCommon.JsonOptions)!);
            }

            return 0;
        }));
        return command;
    }

    /// <summary>JSON text, indented (or as it came, if it is not JSON).</summary>
    public static void PrintJson(string body)
    {
        try
        {
            Console.WriteLine(JsonNode.Parse(body)?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) ?? "null");
        }
        catch (JsonException)
        {
            Console.WriteLine(body);
        }
    }

    /// <summary>A table with <paramref name="headers"/>; every cell is plain text (never Spectre markup).</summary>
    public static void Table(string[] headers, IEnumerable<IEnumerable<string?>> rows)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (var header in headers)
        {
            table.AddColumn(new TableColumn(new Text(header)));
        }

        Unwrapped();
        var any = false;
        foreach (var row in rows)
        {
            table.AddRow(row.Select(cell => (Spectre.Console.Rendering.IRenderable)new Text(cell ?? "")).ToArray());
            any = true;
        }

        if (any)
        {
            AnsiConsole.Write(table);
        }
        else
        {
            Console.WriteLine("(none)");
        }
    }

    /// <summary>One record as name/value lines; null values are left out.</summary>
    public static void Fields(params (string Name, string? Value)[] fields)
    {
        Unwrapped();
        var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
        foreach (var (name, value) in fields.Where(f => f.Value is not null))
        {
            grid.AddRow(new Text(name), new Text(value!));
        }

        AnsiConsole.Write(grid);
    }

    // Into a file or a pipe: one line per row, however wide, so that grep and cut work on it.
    private static void Unwrapped()
    {
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 400;
        }
    }

    public static string Time(DateTimeOffset? at) => at is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm'Z'", CultureInfo.InvariantCulture) : "";

    public static string Ids(IEnumerable<long>? ids) => ids is null ? "" : string.Join(",", ids.Select(i => i.ToString(CultureInfo.InvariantCulture)));

    public static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>A JSON body for a POST.</summary>
    public static StringContent Body(object? value) =>
        new(value is JsonNode node ? node.ToJsonString() : JsonSerializer.Serialize(value, CliCommon.JsonOptions), System.Text.Encoding.UTF8, "application/json");
}
