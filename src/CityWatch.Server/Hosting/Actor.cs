namespace CityWatch.Server;

/// <summary>
/// Who acted, as the log records it. Accounts and roles come with the identity feature; until then every
/// API call is recorded as the one local operator, so the log is honest about not knowing more.
/// </summary>
internal static class Actor
{
    public const string Operator = "local-operator";
    public const string Demo = "demo-setup";
}
