using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Policy;

public static class PolicyServices
{
    /// <summary>Legal bases, deployments, the policy engine, the urgency guard and the background governance sweep.</summary>
    public static IServiceCollection AddPolicy(this IServiceCollection services)
    {
        services.AddSingleton<LegalBasisStore>();
        services.AddSingleton<CameraScope>();
        services.AddSingleton<DeploymentStore>();
        services.AddSingleton<UrgencyGuard>();
        services.AddSingleton<PolicyEngine>();
        services.AddSingleton<GovernanceJob>();
        services.AddHostedService(sp => sp.GetRequiredService<GovernanceJob>());
        return services;
    }
}
