using System.CommandLine;
using CityWatch.Cli.Hosting;
using CityWatch.Vision;
using Spectre.Console;

namespace CityWatch.Cli.Vision;

internal static class ModelsCommand
{
    public static Command Create()
    {
        var assets = new Option<string>("--assets") { Description = "Where the demo assets go", DefaultValueFactory = _ => Path.Combine(".data", "assets") };
        var from = new Option<string>("--from") { Description = "A local folder to take the models from before trying upstream", DefaultValueFactory = _ => Path.Combine("..", "shared", "models") };
        var assetsFrom = new Option<string>("--assets-from") { Description = "A local folder to take the demo assets from before trying upstream", DefaultValueFactory = _ => Path.Combine("..", "shared", "data") };
        var fetch = new Command("fetch", "Fetch the model files and demo assets, verifying each file's SHA-256") { CliCommon.Models, assets, from, assetsFrom };
        fetch.SetAction((result, cancellationToken) => CliCommon.Guard(async () =>
        {
            using var store = new ModelStore();
            var results = new List<FetchResult>();
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
                .StartAsync(async context =>
                {
                    var models = context.AddTask("models", maxValue: ModelCatalog.Models.Count);
                    results.AddRange(await store.FetchModelsAsync(
                        Path.GetFullPath(result.GetValue(CliCommon.Models)!), Path.GetFullPath(result.GetValue(from)!), Reporter(models), cancellationToken));
                    models.Value = models.MaxValue;
                    var demo = context.AddTask("demo assets", maxValue: ModelCatalog.DemoAssets.Count);
                    results.AddRange(await store.FetchAssetsAsync(
                        Path.GetFullPath(result.GetValue(assets)!), Path.GetFullPath(result.GetValue(assetsFrom)!), Reporter(demo), cancellationToken));
                    demo.Value = demo.MaxValue;
                });
            foreach (var group in results.GroupBy(r => r.Outcome))
            {
                Console.WriteLine($"{group.Count(),4} {group.Key.ToString().ToLowerInvariant()}");
            }

            foreach (var missing in results.Where(r => r.Outcome == FetchOutcome.Unavailable))
            {
                Console.WriteLine($"     unavailable: {missing.RelativePath}: {missing.Detail}");
            }

            // The default pipeline's models must be there; the optional ones may be missing.
            var required = new[] { ModelCatalog.YuNetDynamic.FileName, ModelCatalog.FrFeature.FileName };
            var absent = results.Where(r => r.Outcome == FetchOutcome.Unavailable && required.Contains(Path.GetFileName(r.RelativePath))).ToList();
            return absent.Count == 0 ? 0 : throw new InvalidOperationException($"required model unavailable: {absent[0].RelativePath}");
        }));

        var list = new Command("list", "The model catalog: file, SHA-256, source and licence");
        list.SetAction(_ =>
        {
            var table = new Table().AddColumns("file", "role", "sha-256", "licence");
            foreach (var model in ModelCatalog.Models)
            {
                table.AddRow(model.FileName, model.Role.ToString(), model.Sha256[..16] + "…", Markup.Escape(model.Licence));
            }

            AnsiConsole.Write(table);
            return 0;
        });

        return new Command("models", "Model files and demo assets") { fetch, list };
    }

    private static Progress<FetchProgress> Reporter(ProgressTask task) => new(p => task.Value = p.Index + (p.Stage == FetchStage.Finished ? 1 : 0));
}
