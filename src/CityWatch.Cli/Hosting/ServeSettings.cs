using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace CityWatch.Cli.Hosting;

/// <summary>
/// Every flag of <c>citywatch serve</c> is also a configuration setting, so a city can run the server from a file or
/// from its environment: <c>--max-upload-mib</c> is <c>Serve:MaxUploadMib</c> (environment <c>Serve__MaxUploadMib</c>),
/// a repeatable flag is a list (<c>Serve:WitnessKey:0</c>, <c>Serve:WitnessKey:1</c> ...). A flag given on the command
/// line wins; else the configuration (appsettings.json beside the binary, then the environment); else the flag's
/// default. The scale-out flags keep their own keys (<c>ScaleOut:Nats</c> ..., resolved by the server's
/// <c>ScaleOutOptions</c>) and are not read here. A value that does not parse is a one-line error naming its key.
/// </summary>
internal sealed class ServeSettings(ParseResult result, IConfiguration configuration)
{
    public const string Section = "Serve";

    /// <summary>The sources the server itself reads (its content root is the binary's folder).</summary>
    public static IConfiguration Load() => new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
        .AddEnvironmentVariables()
        .Build();

    /// <summary><c>--max-upload-mib</c> → <c>Serve:MaxUploadMib</c>.</summary>
    public static string Key(Option option) =>
        Section + ":" + string.Concat(option.Name.TrimStart('-').Split('-').Select(part => part.Length == 0 ? part : char.ToUpperInvariant(part[0]) + part[1..]));

    public T Value<T>(Option<T> option)
    {
        if (Given(option) || Configured(option) is not { } text)
        {
            return result.GetValue(option)!;
        }

        var target = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        try
        {
            return (T)(target == typeof(bool) ? bool.Parse(text)
                : target == typeof(string) ? text
                : Convert.ChangeType(text, target, CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is FormatException or OverflowException or InvalidCastException)
        {
            throw new ArgumentException($"{Key(option)} must be {Describe(target)}, not '{text}'");
        }
    }

    public string[] Values(Option<string[]> option)
    {
        if (Given(option))
        {
            return result.GetValue(option) ?? [];
        }

        var section = configuration.GetSection(Key(option));
        var listed = section.GetChildren().Select(child => child.Value).OfType<string>().Where(value => value.Length > 0).ToArray();
        return listed.Length > 0 ? listed : section.Value is { Length: > 0 } single ? [single] : result.GetValue(option) ?? [];
    }

    private bool Given(Option option) => result.GetResult(option) is { Implicit: false };

    private string? Configured(Option option) => configuration[Key(option)] is { } text && !string.IsNullOrWhiteSpace(text) ? text.Trim() : null;

    private static string Describe(Type type) =>
        type == typeof(bool) ? "true or false" : type == typeof(string) ? "text" : "a number";
}
