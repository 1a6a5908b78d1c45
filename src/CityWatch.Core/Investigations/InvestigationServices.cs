using Microsoft.Extensions.DependencyInjection;

namespace CityWatch.Investigations;

public static class InvestigationServices
{
    /// <summary>Analysis jobs: their store, the analysis a job runs, and the background runner (one job at a time).</summary>
    public static IServiceCollection AddInvestigations(this IServiceCollection services)
    {
        services.AddSingleton<AnalysisJobStore>();
        services.AddSingleton<RetrospectiveAnalysis>();
        services.AddSingleton<AnalysisJobRunner>();
        services.AddHostedService(sp => sp.GetRequiredService<AnalysisJobRunner>());
        return services;
    }
}
