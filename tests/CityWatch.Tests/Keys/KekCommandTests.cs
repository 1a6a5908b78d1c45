using CityWatch.Keys;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Keys;

/// <summary>`citywatch keys kek create|split` through the real CLI.</summary>
public sealed class KekCommandTests : IDisposable
{
    private readonly string _root = TestPaths.NewScratchDirectory();

    [Fact]
    public async Task Create_writes_a_key_outside_the_data_folder_and_split_makes_shares_any_k_of_which_recover_it()
    {
        var data = Path.Combine(_root, "data");
        var file = Path.Combine(_root, "secrets", "kek");

        var created = await CliRunner.RunAsync("keys", "kek", "create", "--out", file, "--data", data);
        var again = await CliRunner.RunAsync("keys", "kek", "create", "--out", file, "--data", data);
        var inside = await CliRunner.RunAsync("keys", "kek", "create", "--out", Path.Combine(data, "kek"), "--data", data);
        var split = await CliRunner.RunAsync("keys", "kek", "split", "--k", "2", "--n", "3", "--kek-file", file, "--data", data);

        Assert.True(created.ExitCode == 0, string.Join("\n", created.Errors));
        var kek = KeyEncryptionKey.FromFile(file, data);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("never overwritten", Assert.Single(again.Errors), StringComparison.Ordinal);
        Assert.Equal(1, inside.ExitCode);
        Assert.False(File.Exists(Path.Combine(data, "kek")));
        Assert.True(split.ExitCode == 0, string.Join("\n", split.Errors));
        var shares = split.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(3, shares.Length);
        Assert.Equal(kek.Id, KeyEncryptionKey.FromShares([shares[2], shares[0]]).Id);
        Assert.DoesNotContain(kek.ToBase64(), split.Output + string.Concat(split.Errors), StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
