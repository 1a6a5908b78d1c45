namespace CityWatch.Audit;

/// <summary>
/// The state of one governed store (a watchlist, the template store) that each checkpoint commits to: its
/// name, how many entries it holds and the root hash over them. It becomes a checkpoint extension line
/// <c>state &lt;name, URI-escaped&gt; &lt;count&gt; &lt;base64 root&gt;</c>, so an undisclosed enrolment changes a signed value.
/// </summary>
public sealed record CommittedState(string Name, long Count, byte[] RootHash)
{
    internal string ToExtensionLine() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"state {Uri.EscapeDataString(Name)} {Count} {Convert.ToBase64String(RootHash)}");
}
