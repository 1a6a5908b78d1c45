using System.Globalization;
using System.Net.Http.Json;
using CityWatch.AuditLog;

namespace CityWatch.Cli.Audit;

/// <summary>Reads a CityWatch audit log over its public HTTP API (<c>/audit/...</c>).</summary>
internal sealed class AuditLogClient(HttpClient http, Uri log)
{
    private readonly Uri _base = new(log.ToString().TrimEnd('/') + "/audit/");

    public Task<string> CheckpointAsync(CancellationToken ct) => http.GetStringAsync(new Uri(_base, "checkpoint"), ct);

    public async Task<IReadOnlyList<CityWatch.Audit.WitnessedNote>> WitnessedAsync(CancellationToken ct) =>
        await http.GetFromJsonAsync<List<CityWatch.Audit.WitnessedNote>>(new Uri(_base, "witnessed"), ct) ?? [];

    public async Task<string> VerifierKeyAsync(CancellationToken ct) => (await http.GetStringAsync(new Uri(_base, "key"), ct)).Trim();

    public Task<byte[]> TileAsync(TileId tile, CancellationToken ct) =>
        http.GetByteArrayAsync(new Uri(_base, tile.Level < 0 ? tile.EntriesPath() : tile.Path()), ct);

    public async Task<IReadOnlyList<byte[]>> ConsistencyAsync(long oldSize, long newSize, CancellationToken ct)
    {
        var text = await http.GetStringAsync(new Uri(_base, string.Create(CultureInfo.InvariantCulture, $"proof/consistency?old={oldSize}&size={newSize}")), ct);
        return ParseHashes(text);
    }

    public async Task<HttpResponseMessage> PostCosignatureAsync(string note, CancellationToken ct)
    {
        using var content = new StringContent(note, System.Text.Encoding.UTF8, "text/plain");
        return await http.PostAsync(new Uri(_base, "cosignature"), content, ct);
    }

    private static List<byte[]> ParseHashes(string text)
    {
        try
        {
            return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Convert.FromBase64String)];
        }
        catch (FormatException)
        {
            throw new InvalidProofException("The log served a proof that is not base64 hashes.");
        }
    }
}
