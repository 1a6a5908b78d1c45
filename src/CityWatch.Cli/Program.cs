using System.CommandLine;
using CityWatch.Cli.Alerts;
using CityWatch.Cli.Analysis;
using CityWatch.Cli.Audit;
using CityWatch.Cli.Bench;
using CityWatch.Cli.Cameras;
using CityWatch.Cli.Cases;
using CityWatch.Cli.Evaluation;
using CityWatch.Cli.Hosting;
using CityWatch.Cli.Identity;
using CityWatch.Cli.Matching;
using CityWatch.Cli.Policy;
using CityWatch.Cli.Settings;
using CityWatch.Cli.Simulation;
using CityWatch.Cli.SubjectAccess;
using CityWatch.Cli.Transparency;
using CityWatch.Cli.Vision;

var root = new RootCommand("CityWatch: face recognition a city can run in public, under law and in the open")
{
    ServeCommand.Create(),
    ModelsCommand.Create(),
    CamerasCommand.Create(),
    WatchlistCommand.Create(),
    LegalBasisCommand.Create(),
    CaseCommand.Create(),
    DeploymentCommand.Create(),
    AlertsCommand.Create(),
    SettingsCommand.Create(),
    ReportsCommand.Create(),
    SubjectAccessCommand.Create(),
    UsersCommand.Create(),
    KeysCommand.Create(),
    AnalyzeCommand.Create(),
    EvalCommand.Create(),
    AuditCommands.Create(),
    WitnessCommand.Create(),
    BenchCommand.Create(),
    SimCommand.Create(),
};

return await root.Parse(args).InvokeAsync();
