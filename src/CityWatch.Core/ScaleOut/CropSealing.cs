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
    private readonly Lazy<Key> _key;

    public CropSealing(CityWatchDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _key = new Lazy<Key>(
            () => Key.Import(KeyAgreementAlgorithm.X25519, database.Keys.CropSealingSecret("the server opens the crops workers seal to it"), KeyBlobFormat.RawPrivateKey),
            LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The raw 32-byte X25519 public key crops are sealed to.</summary>
    public byte[] PublicKey => SealedBox.PublicKeyOf(_key.Value);

    /// <summary>The public key as a grant reply carries it: base64 of the raw 32 bytes.</summary>
    public string PublicKeyBase64 => Convert.ToBase64String(PublicKey);

    /// <summary>What the associated data of a crop sealed for the alert <paramref name="alertKey"/> is: its UTF-8 bytes.</summary>
    public static byte[] AssociatedData(string alertKey) => Encoding.UTF8.GetBytes(alertKey);

    /// <summary>Opens a crop sealed to this key for <paramref name="alertKey"/>; a <see cref="System.Security.Cryptography.CryptographicException"/> if it does not open.</summary>
    public byte[] Open(ReadOnlySpan<byte> sealedCrop, string alertKey)
    {
        ArgumentNullException.ThrowIfNull(alertKey);
        return SealedBox.Open(_key.Value, sealedCrop, AssociatedData(alertKey));
    }

    public void Dispose()
    {
        if (_key.IsValueCreated)
        {
            _key.Value.Dispose();
        }
    }
}
