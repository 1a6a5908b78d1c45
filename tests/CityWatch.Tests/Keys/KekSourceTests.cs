using CityWatch.Keys;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Keys;

public sealed class KekSourceTests : IDisposable
{
    private readonly string _root = TestPaths.NewScratchDirectory();

    private string Data => Path.Combine(_root, "data");

    [Fact]
    public void A_key_file_outside_the_data_folder_round_trips()
    {
        var kek = KeyEncryptionKey.Generate();
        var file = Path.Combine(_root, "secrets", "kek");
        kek.WriteTo(file);

        Assert.Equal(kek.Id, KeyEncryptionKey.Resolve(file, null, null, Data).Id);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }

        Assert.Throws<KeyEncryptionKeyException>(() => KeyEncryptionKey.Generate().WriteTo(file));
        Assert.Equal(kek.Id, KeyEncryptionKey.FromFile(file, Data).Id);
    }

    [Fact]
    public void A_key_file_inside_the_data_folder_is_refused_also_through_a_link()
    {
        Directory.CreateDirectory(Data);
        var inside = Path.Combine(Data, "kek");
        KeyEncryptionKey.Generate().WriteTo(inside);
        var link = Path.Combine(_root, "innocent-looking-kek");
        File.CreateSymbolicLink(link, inside);
        var linkedData = Path.Combine(_root, "data-link");
        Directory.CreateSymbolicLink(linkedData, Data);

        var direct = Assert.Throws<KeyEncryptionKeyException>(() => KeyEncryptionKey.Resolve(inside, null, null, Data));
        Assert.Contains("inside the data folder", direct.Message, StringComparison.Ordinal);
        Assert.Throws<KeyEncryptionKeyException>(() => KeyEncryptionKey.Resolve(link, null, null, Data));
        Assert.Throws<KeyEncryptionKeyException>(() => KeyEncryptionKey.Resolve(Path.Combine(linkedData, "kek"), null, null, Data));
        Assert.Throws<KeyEncryptionKeyException>(() => KeyEncryptionKey.Resolve(inside, null, null, linkedData));
    }

    [Fact]
    public void Exactly_one_source_is_accepted()
    {
        var kek = KeyEncryptionKey.Generate();
        var file = Path.Combine(_root, "kek");
        kek.WriteTo(file);

        var none = Assert.Throws<KeyEncryptionKeyRequiredException>(() => KeyEncryptionKey.Resolve(null, [], "", Data));
        Assert.Contains("--kek-file", none.Message, StringComparison.Ordinal);
        Assert.Throws<KeyEncryptionKeyException>(() => KeyEncryptionKey.Resolve(file, null, kek.ToBase64(), Data));
        Assert.Equal(kek.Id, KeyEncryptionKey.Resolve(null, null, kek.ToBase64(), Data).Id);
        Assert.Throws<KeyEncryptionKeyException>(() => KeyEncryptionKey.Resolve(null, null, "not base64!", Data));
        Assert.Throws<KeyEncryptionKeyException>(() => KeyEncryptionKey.Resolve(null, null, Convert.ToBase64String(new byte[16]), Data));
    }

    [Fact]
    public void Shares_come_from_files_or_from_stdin_until_k_are_entered()
    {
        var kek = KeyEncryptionKey.Generate();
        var shares = kek.Split(2, 3);
        var first = Path.Combine(_root, "custodian-a.txt");
        var third = Path.Combine(_root, "custodian-c.txt");
        File.WriteAllLines(first, ["# custodian A", shares[0]]);
        File.WriteAllLines(third, [shares[2]]);

        Assert.Equal(kek.Id, KeyEncryptionKey.Resolve(null, [first, third], null, Data).Id);
        using var stdin = new StringReader($"\n{shares[1]}\n{shares[2]}\nnot read\n");
        Assert.Equal(kek.Id, KeyEncryptionKey.Resolve(null, ["-"], null, Data, stdin).Id);
        Assert.Equal("not read", stdin.ReadLine());
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
