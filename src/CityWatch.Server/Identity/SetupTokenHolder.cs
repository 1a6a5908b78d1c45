using CityWatch.Identity;

namespace CityWatch.Server.Identity;

/// <summary>
/// The set-up token of this start, issued once on first use (null when accounts exist). The host prints
/// it; the in-process demo set-up uses it as an operator would, through the API. It is never served over HTTP.
/// </summary>
public sealed class SetupTokenHolder(SignInService signIn)
{
    private readonly Lazy<string?> _token = new(signIn.IssueSetupToken);

    public string? Token => _token.Value;
}
