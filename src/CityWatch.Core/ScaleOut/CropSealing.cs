using System.Text;
using CityWatch.Data;
using CityWatch.Keys;
using NSec.Cryptography;

namespace CityWatch.ScaleOut;

/// <summary>
/// The server's crop-sealing key: workers seal each candidate's JPEG crop to its public half (<see cref="PublicKey"/>,
/// sent in every <see cref="GrantReply.CropKey"/>) with <see cref="SealedBox"/>, the associated data the candidate's
/// alert key, so nothing on the wire or in JetStream's files shows a face and only the server opens it. The private
/// half is the key ring's <see cref="KeyRing.CropSealing"/> key (wrapped by the KEK; its creation and each unwrap are
/// logged with the public half); it is unwrapped once, on first use, and kept in memory only.
/// </summary>
public sealed class CropSealing : IDisposable
{
    private readonly CityWatchDatabase _database;
    private readonly Lock _gate = new();
    private Key? _key;

    public CropSealing(CityWatchDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _database = database;
    }

    /// <summary>
    /// The raw 32-byte X25519 public key crops are sealed to. The first call unwraps the key, which logs the unwrap and
    /// so needs the database's write lock: make it outside any write transaction (the ingest does, as it opens).
    /// </summary>
    public byte[] PublicKey => SealedBox.PublicKeyOf(Key);

    /// <summary>The public key as a grant reply carries it: base64 of the raw 32 bytes.</summary>
    public string PublicKeyBase64 => Convert.ToBase64String(PublicKey);

    /// <summary>What the associated data of a crop sealed for the alert <paramref name="alertKey"/> is: its UTF-8 bytes.</summary>
    public static byte[] AssociatedData(string alertKey) => Encoding.UTF8.GetBytes(alertKey);

    /// <summary>Opens a crop sealed to this key for <paramref name="alertKey"/>; a <see cref="System.Security.Cryptography.CryptographicException"/> if it does not open.</summary>
    public byte[] Open(ReadOnlySpan<byte> sealedCrop, string alertKey)
    {
        ArgumentNullException.ThrowIfNull(alertKey);
        return SealedBox.Open(Key, sealedCrop, AssociatedData(alertKey));
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _key?.Dispose();
            _key = null;
        }
    }

    // Not a Lazy: a Lazy keeps the exception of a failed first unwrap (the database busy, say) and throws it for ever
    // after, which left a restarted server refusing every grant; here a failed unwrap is simply tried again.
    private Key Key
    {
        get
        {
            lock (_gate)
            {
                return _key ??= Key.Import(
                    KeyAgreementAlgorithm.X25519, _database.Keys.CropSealingSecret("the server opens the crops workers seal to it"), KeyBlobFormat.RawPrivateKey);
            }
        }
    }
}
