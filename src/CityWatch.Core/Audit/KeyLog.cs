using CityWatch.Data;
using CityWatch.Keys;

namespace CityWatch.Audit;

/// <summary>How a key event of the <see cref="KeyRing"/> is recorded: which key, why, under which KEK (never the key; a signing key's public half where verifiers need it).</summary>
internal static class KeyLog
{
    public const string Actor = "system:keys";

    public static AuditRecord Record(KeyEvent keyEvent)
    {
        var parameters = new Dictionary<string, string>
        {
            ["key"] = keyEvent.Key,
            ["reason"] = keyEvent.Reason,
            ["kek_id"] = keyEvent.KekId,
        };
        if (keyEvent.PublicKey is { } publicKey)
        {
            // A signing key's public half (never its secret), so that a reader of the log learns it.
            parameters["public_key"] = publicKey;
        }

        return new AuditRecord(Actor, keyEvent.Action, "ok", Parameters: parameters);
    }
}
