using System.CommandLine;
using CityWatch.Cli.Hosting;
using Microsoft.Extensions.Configuration;

namespace CityWatch.Tests.Cli;

/// <summary>Every <c>serve</c> flag is also a configuration setting (issue 12, item 4); a flag on the command line wins.</summary>
public sealed class ServeSettingsTests
{
    private readonly Command _serve = ServeCommand.Create();

    [Fact]
    public void Each_flag_has_its_own_key_under_serve()
    {
        var keys = _serve.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal)).Select(ServeSettings.Key).ToList();

        Assert.Contains("Serve:MaxUploadMib", keys);
        Assert.Contains("Serve:Urls", keys);
        Assert.Contains("Serve:KekFile", keys);
        Assert.Contains("Serve:WitnessKey", keys);
        Assert.Equal(keys.Count, keys.Distinct(StringComparer.OrdinalIgnoreCase).Count());
    }

    [Fact]
    public void Without_flags_the_configuration_gives_the_values()
    {
        var settings = Settings([], new()
        {
            ["Serve:Urls"] = "http://127.0.0.1:6001",
            ["Serve:Demo"] = "true",
            ["Serve:MaxUploadMib"] = "12",
            ["Serve:WitnessKey:0"] = "witness-a+1234",
            ["Serve:WitnessKey:1"] = "witness-b+5678",
            ["Serve:Recordings"] = "/srv/recordings",
        });

        Assert.Equal("http://127.0.0.1:6001", settings.Value(Option<string>("--urls")));
        Assert.True(settings.Value(Option<bool>("--demo")));
        Assert.Equal(12, settings.Value(Option<long>("--max-upload-mib")));
        Assert.Equal(["witness-a+1234", "witness-b+5678"], settings.Values(Option<string[]>("--witness-key")));
        Assert.Equal("/srv/recordings", settings.Value(Option<string?>("--recordings")));
    }

    [Fact]
    public void A_flag_wins_over_the_configuration_and_a_missing_setting_keeps_the_default()
    {
        var settings = Settings(["--urls", "http://127.0.0.1:7002", "--witness-key", "flag-key+1"], new()
        {
            ["Serve:Urls"] = "http://127.0.0.1:6001",
            ["Serve:WitnessKey:0"] = "config-key+2",
        });

        Assert.Equal("http://127.0.0.1:7002", settings.Value(Option<string>("--urls")));
        Assert.Equal(["flag-key+1"], settings.Values(Option<string[]>("--witness-key")));
        Assert.Equal(4096, settings.Value(Option<long>("--max-upload-mib")));
        Assert.False(settings.Value(Option<bool>("--demo")));
        Assert.Null(settings.Value(Option<string?>("--recordings")));
    }

    [Fact]
    public void A_setting_that_does_not_parse_is_refused_naming_its_key()
    {
        var settings = Settings([], new() { ["Serve:MaxUploadMib"] = "lots", ["Serve:Demo"] = "maybe" });

        var upload = Assert.Throws<ArgumentException>(() => settings.Value(Option<long>("--max-upload-mib")));
        var demo = Assert.Throws<ArgumentException>(() => settings.Value(Option<bool>("--demo")));

        Assert.Equal("Serve:MaxUploadMib must be a number, not 'lots'", upload.Message);
        Assert.Equal("Serve:Demo must be true or false, not 'maybe'", demo.Message);
    }

    [Fact]
    public void The_environment_is_read_with_double_underscores()
    {
        const string variable = "Serve__OidcClientId";
        Environment.SetEnvironmentVariable(variable, "city-portal");
        try
        {
            var settings = new ServeSettings(_serve.Parse([]), ServeSettings.Load());

            Assert.Equal("city-portal", settings.Value(Option<string>("--oidc-client-id")));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    private ServeSettings Settings(string[] args, Dictionary<string, string?> configuration) =>
        new(_serve.Parse(args), new ConfigurationBuilder().AddInMemoryCollection(configuration).Build());

    private Option<T> Option<T>(string name) => Assert.IsType<Option<T>>(_serve.Options.Single(o => o.Name == name));
}
