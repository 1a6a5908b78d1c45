using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using CityWatch.Grants;
using CityWatch.Matching;
using NATS.Client.Core;

namespace CityWatch.ScaleOut;

/// <summary>
/// The gallery a worker's grant covers, released by the server and held only in this process's memory. It is asked for
/// with a fresh X25519 key pair made for that request (its private half cannot be exported and is never written anywhere),
/// opened with <see cref="SealedBox"/> (associated data: <see cref="AssociatedData"/> of the grant id), and searched with the
/// same matching code as the in-process index (<see cref="TemplateGallery"/>), under a grant that covers each watchlist.
/// The holder drops it when the grant lapses.
/// </summary>
public sealed class ReleasedGallery
{
    private readonly Dictionary<long, TemplateGallery> _watchlists;

    private ReleasedGallery(long version, Guid grantId, Dictionary<long, TemplateGallery> watchlists)
    {
        Version = version;
        GrantId = grantId;
        _watchlists = watchlists;
    }

    /// <summary>The server's gallery version this snapshot is of.</summary>
    public long Version { get; }

    /// <summary>The grant it was released under.</summary>
    public Guid GrantId { get; }

    /// <summary>The watchlists it holds.</summary>
    public IReadOnlyCollection<long> Watchlists => _watchlists.Keys;

    /// <summary>The templates it holds, over all its watchlists.</summary>
    public int Templates => _watchlists.Values.Sum(g => g.Count);

    /// <summary>The associated data a gallery released under <paramref name="grantId"/> is sealed with: the id's UTF-8 text ("D" format).</summary>
    public static byte[] AssociatedData(Guid grantId) => Encoding.UTF8.GetBytes(grantId.ToString("D"));

    /// <summary>
    /// Asks the server for the gallery <paramref name="grant"/> (whose wire form is <paramref name="signedGrant"/>) covers,
    /// and opens it. Throws <see cref="GalleryRefusedException"/> when the server refuses or answers something that does
    /// not open or does not fit the grant; NATS errors and timeouts as they come.
    /// </summary>
    public static async Task<ReleasedGallery> RequestAsync(
        INatsConnection nats, string worker, ProcessingGrant grant, string signedGrant, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nats);
        ArgumentNullException.ThrowIfNull(grant);
        using var key = SealedBox.NewRecipientKey();
        var request = new GalleryRequest(worker, signedGrant, Convert.ToBase64String(SealedBox.PublicKeyOf(key)));
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        var reply = await nats.RequestAsync<byte[], byte[]>(
            WorkerProtocol.GallerySubject(worker),
            WorkerProtocol.ToJson(request),
            replyOpts: new NatsSubOpts { Timeout = timeout },
            cancellationToken: limit.Token);
        var answer = WorkerProtocol.Parse<GalleryReply>(reply.Data ?? []);
        if (answer.Sealed is null)
        {
            throw new GalleryRefusedException($"the server refused the gallery for grant {grant.Id}: {answer.Refusal ?? "no reason given"}");
        }

        byte[] json;
        try
        {
            json = SealedBox.Open(key, Convert.FromBase64String(answer.Sealed), AssociatedData(grant.Id));
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            throw new GalleryRefusedException($"the gallery for grant {grant.Id} does not open: {e.Message}");
        }

        try
        {
            return Open(WorkerProtocol.Parse<GallerySnapshot>(json), grant);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(json);
        }
    }

    /// <summary>Builds the searchable gallery from an opened snapshot; refuses one that is not for <paramref name="grant"/> or holds a watchlist it does not cover.</summary>
    public static ReleasedGallery Open(GallerySnapshot snapshot, ProcessingGrant grant)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(grant);
        if (snapshot.GrantId != grant.Id)
        {
            throw new GalleryRefusedException($"the gallery was released under grant {snapshot.GrantId}, not {grant.Id}");
        }

        var watchlists = new Dictionary<long, TemplateGallery>();
        foreach (var group in snapshot.Templates.GroupBy(t => t.WatchlistId))
        {
            if (!grant.Covers(group.Key))
            {
                throw new GalleryRefusedException($"the gallery holds watchlist {group.Key}, which grant {grant.Id} does not cover");
            }

            var rows = group.ToList();
            var vectors = rows.Select(r => Vector(r)).ToList();
            var dimensions = vectors[0].Length;
            if (dimensions == 0 || vectors.Any(v => v.Length != dimensions))
            {
                throw new GalleryRefusedException($"watchlist {group.Key}'s templates are not all of one non-zero length");
            }

            var flat = new float[rows.Count * dimensions];
            for (var i = 0; i < vectors.Count; i++)
            {
                vectors[i].CopyTo(flat, i * dimensions);
            }

            watchlists[group.Key] = new TemplateGallery(group.Key, rows.Select(r => r.EntryId).ToArray(), rows.Select(r => r.Label).ToArray(), flat, dimensions);
        }

        return new ReleasedGallery(snapshot.Version, snapshot.GrantId, watchlists);
    }

    /// <summary>The best candidates at or above <paramref name="threshold"/> over the grant's watchlists, as <see cref="WatchlistIndex.Search"/> finds them.</summary>
    public IReadOnlyList<MatchCandidate> Search(ProcessingGrant grant, DateTimeOffset now, ReadOnlySpan<float> probe, float threshold, int top) =>
        TemplateGallery.Search(grant, now, id => _watchlists.GetValueOrDefault(id), probe, threshold, top);

    /// <summary>The wire form of a template: base64 of the little-endian float32 vector.</summary>
    public static string Encode(ReadOnlySpan<float> template) => Convert.ToBase64String(MemoryMarshal.AsBytes(template));

    private static float[] Vector(GalleryTemplate template)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(template.Template);
        }
        catch (FormatException)
        {
            throw new GalleryRefusedException($"entry {template.EntryId}'s template is not base64");
        }

        if (bytes.Length % sizeof(float) != 0)
        {
            throw new GalleryRefusedException($"entry {template.EntryId}'s template is {bytes.Length} bytes, not whole float32 values");
        }

        return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }
}

/// <summary>The server refused a gallery, or what it sent does not open or does not fit the grant: the camera gets no gallery.</summary>
public sealed class GalleryRefusedException(string message) : Exception(message);
