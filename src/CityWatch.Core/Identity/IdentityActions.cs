namespace CityWatch.Identity;

/// <summary>The log's actions for accounts, invitations, roles and edge keys.</summary>
public static class IdentityActions
{
    public const string AccountChange = "auth.account_change";
    public const string AccountRefused = "auth.account_refused";
    public const string RoleChange = "auth.role_change";
    public const string Invitation = "auth.invitation";
    public const string InvitationRefused = "auth.invitation_refused";
    public const string KeyCreate = "auth.key_create";
    public const string KeyRevoke = "auth.key_revoke";
}
