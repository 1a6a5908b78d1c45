using CityWatch.AuditLog;

namespace CityWatch.Audit;

/// <summary>
/// The plaintext <c>audit-log.key</c> of an older data folder (Go-note private key string). The key now lives
/// wrapped by the KEK (<see cref="Data.KeyRing"/>), which migrates such a file on first open and deletes it;
/// this reads the verifier key of one that is still there, for offline verification of an unmigrated copy.
/// </summary>
internal static class AuditKeyFile
{
    /// <summary>The public verifier key of an existing key file, for offline verification.</summary>
    public static string VerifierKeyOf(string path)
    {
        if (!File.Exists(path))
        {
            throw new NotFoundException($"No verifier key: the database stores none and there is no {path}; pass the log's verifier key.");
        }

        using var signer = NoteSigner.FromPrivateKey(File.ReadAllText(path));
        return signer.VerifierKey;
    }
}
