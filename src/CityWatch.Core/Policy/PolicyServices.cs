using CityWatch.Alerts;
using CityWatch.Audit;
using CityWatch.Cameras;
using CityWatch.Data;
using CityWatch.Matching;
using CityWatch.Policy;
using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Policy;

public static class PolicyServices
{
    /// <summary>
    /// The policy engine with everything it consults, over one database, for the processes that have no
    /// dependency-injection container (the evaluation tools, benchmarks).
    /// </summary>
    public static PolicyEngine Standalone(CityWatchDatabase database, LegalBasisStore legalBases, AuditTrail audit, TimeProvider time, string evidenceDirectory)
    {
        var cameras = new CameraStore(database);
        var watchlists = new WatchlistStore(database, time);
        var scope = new CameraScope(database);
        var deployments = new DeploymentStore(database, legalBases, watchlists, scope, audit, time);
        var urgency = new UrgencyGuard(database, legalBases, deployments, watchlists, new AlertStore(database, evidenceDirectory), audit);
        var cases = new CaseStore(database, legalBases, scope, audit, time);
        return new PolicyEngine(legalBases, cameras, deployments, watchlists, scope, urgency, cases, audit, database, time);
    }

    /// <summary>Legal bases, deployments, the case register, the policy engine, the urgency guard and the background governance sweep.</summary>
    public static IServiceCollection AddPolicy(this IServiceCollection services)
    {
        services.AddSingleton<LegalBasisStore>();
        services.AddSingleton<CameraScope>();
        services.AddSingleton<DeploymentStore>();
        services.AddSingleton<CameraRegister>();
        services.AddSingleton<UrgencyGuard>();
        services.AddSingleton<UrgentRequestRegister>();
        services.AddSingleton<CaseStore>();
        services.AddSingleton<PolicyEngine>();
        services.AddSingleton<GovernanceJob>();
        services.AddHostedService(sp => sp.GetRequiredService<GovernanceJob>());
        return services;
    }
}
