using CityWatch.AuditLog;

namespace CityWatch.Audit;

/// <summary>The log's Ed25519 signing key, kept as a Go-note private key string in a file readable by the owner only.</summary>
internal static class AuditKeyFile
{
    public static NoteSigner LoadOrCreate(string path, string origin)
    {
        if (File.Exists(path))
        {
            var signer = NoteSigner.FromPrivateKey(File.ReadAllText(path));
            if (signer.Name != origin)
            {
                signer.Dispose();
                throw new InvalidOperationException($"The audit key in {path} is for '{signer.Name}', not '{origin}'.");
            }

            return signer;
        }

        var created = NoteSigner.Generate(origin);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".");
        var temporary = path + ".tmp";
        var fileOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, fileOptions))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(created.ExportPrivateKey());
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        try
        {
            File.Move(temporary, path, overwrite: false);
            return created;
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created the key first: use that one.
            File.Delete(temporary);
            created.Dispose();
            return LoadOrCreate(path, origin);
        }
    }

    /// <summary>The public verifier key of an existing key file, for offline verification.</summary>
    public static string VerifierKeyOf(string path)
    {
        using var signer = NoteSigner.FromPrivateKey(File.ReadAllText(path));
        return signer.VerifierKey;
    }
}
