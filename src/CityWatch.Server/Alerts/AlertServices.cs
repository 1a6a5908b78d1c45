using CityWatch.Alerts;
using CityWatch.Investigations;
using CityWatch.Retention;
using CityWatch.SubjectAccess;

namespace CityWatch.Server.Alerts;

/// <summary>Verification, evidence access, retention, searches over evidence and subject access.</summary>
internal static class AlertServices
{
    public static IServiceCollection AddVerificationAndRetention(this IServiceCollection services, RetentionOptions? retention = null)
    {
        services.AddSingleton<AlertStatistics>();
        services.AddSingleton<EvidenceAccess>();
        services.AddSingleton<AlertVerification>();
        services.AddSingleton<EvidenceSearch>();
        services.AddSingleton<SubjectAccessService>();
        services.AddSingleton<SubjectAccessRequests>();
        services.AddSingleton((retention ?? new RetentionOptions()).Validate());
        services.AddSingleton<RetentionEnforcer>();
        services.AddHostedService<RetentionService>();
        return services;
    }
}
