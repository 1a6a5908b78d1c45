namespace CityWatch.Identity;

/// <summary>The log's actions for accounts, invitations and roles.</summary>
public static class IdentityActions
{
    public const string AccountChange = "auth.account_change";
    public const string AccountRefused = "auth.account_refused";
    public const string RoleChange = "auth.role_change";
    public const string Invitation = "auth.invitation";
    public const string InvitationRefused = "auth.invitation_refused";
}
