using System.Globalization;
using CityWatch.Audit;
using CityWatch.Data;
using CityWatch.Keys;

#pragma warning disable CA1050 // The runtime finds a startup hook only as a global type named StartupHook.

/// <summary>
/// A child process for the crash test: started as <c>dotnet CityWatch.Tests.dll</c> with this assembly as a
/// startup hook and <c>CITYWATCH_AUDIT_CRASH_DB</c> set, it appends to the audit log forever, printing each
/// acknowledged index, until the test kills it. Without the variable it does nothing.
/// </summary>
internal static class StartupHook
{
    public static void Initialize()
    {
        var path = Environment.GetEnvironmentVariable("CITYWATCH_AUDIT_CRASH_DB");
        if (string.IsNullOrEmpty(path))
        {
            return;
        }

        var database = new CityWatchDatabase(path, KeyEncryptionKey.FromBase64(Environment.GetEnvironmentVariable(KeyEncryptionKey.EnvironmentVariable) ?? "", "the crash test"));
        database.Migrate(TimeProvider.System);
        var audit = new AuditTrail(database, TimeProvider.System);
        var output = Console.Out;
        var gate = new object();
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; ; i++)
            {
                var index = await audit.AppendAsync(new AuditRecord("crash", AuditActions.Analysis, string.Create(CultureInfo.InvariantCulture, $"w{w}-{i}")));
                lock (gate)
                {
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ack {index}"));
                    output.Flush();
                }
            }
        })).ToArray();
        Task.WaitAll(writers);
    }
}
