using CityWatch.Keys;

namespace CityWatch.Audit;

/// <summary>How a key event of the <see cref="KeyRing"/> is recorded: which key, why, under which KEK (never the key).</summary>
internal static class KeyLog
{
    public const string Actor = "system:keys";

    public static AuditRecord Record(KeyEvent keyEvent) => new(
        Actor,
        keyEvent.Action,
        "ok",
        Parameters: new Dictionary<string, string>
        {
            ["key"] = keyEvent.Key,
            ["reason"] = keyEvent.Reason,
            ["kek_id"] = keyEvent.KekId,
        });
}
