using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CityWatch.Data;

namespace CityWatch.Audit;

/// <summary>
/// The canonical form of a logged act: compact UTF-8 JSON with a fixed property order and parameters sorted
/// by key, so that the same act always hashes the same. The property names are the record's, so the body
/// also deserializes as an <see cref="AuditRecord"/>.
/// </summary>
/// <remarks>
/// Version 1 (no <c>V</c> property) carries every field in clear. Version 2 (<c>"V":2</c> first, what the log
/// writes now) carries the actor, the case or subject reference and the camera and site ids among the
/// parameters only as salted commitments <c>c:hex(SHA-256(salt‖value))</c>; the openings (salt and value) are
/// stored apart, one row per leaf in <c>audit_leaf_openings</c>. Both verify the same way: the leaf hash is over the bytes.
/// </remarks>
internal static class AuditEntry
{
    /// <summary>
    /// The parameters whose values a version-2 leaf commits to instead of showing. <c>scaleout.camera</c> and
    /// <c>scaleout.worker</c> are the provenance the server adds to a worker's relayed act (the camera, and the
    /// worker that is the act's committed actor); shown, they undid those commitments (until 2026-12-07).
    /// </summary>
    public static readonly IReadOnlySet<string> CommittedParameters = new HashSet<string>(StringComparer.Ordinal)
    {
        "camera", "cameras", "site", "sites", "subject", "reference", "scaleout.camera", "scaleout.worker",
    };

    /// <summary>A version-1 leaf: every field in clear (kept to read and verify older logs).</summary>
    public static byte[] Encode(long index, DateTimeOffset at, AuditRecord record) => Encode(index, at, record, Form.Clear, null);

    /// <summary>A version-2 leaf; the opening of each commitment it makes is added to <paramref name="openings"/>.</summary>
    public static byte[] EncodePublic(long index, DateTimeOffset at, AuditRecord record, ICollection<AuditOpening> openings) =>
        Encode(index, at, record, Form.Committed, openings ?? throw new ArgumentNullException(nameof(openings)));

    /// <summary>
    /// The longest entry <paramref name="record"/> can become, in either version, whatever index and time it is
    /// given: the version-2 length is measured with a placeholder of a commitment's fixed length, so no salt is
    /// drawn and nothing is hashed (the limits are checked for every record, on the caller's thread).
    /// </summary>
    public static int LongestLength(AuditRecord record) =>
        Math.Max(
            Encode(long.MaxValue, DateTimeOffset.MaxValue, record, Form.Clear, null).Length,
            Encode(long.MaxValue, DateTimeOffset.MaxValue, record, Form.Measured, null).Length);

    /// <summary>The commitment to <paramref name="value"/> under <paramref name="salt"/>: <c>c:</c> and the hex SHA-256 of salt‖value.</summary>
    public static string Commitment(byte[] salt, string value)
    {
        // salt‖value hashed from one buffer on the stack where it fits; the result is one string, "c:" and hex.
        var length = salt.Length + Encoding.UTF8.GetByteCount(value);
        var rented = length <= 1024 ? null : System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        var input = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
        salt.CopyTo(input);
        Encoding.UTF8.GetBytes(value, input[salt.Length..]);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(input, hash);
        if (rented is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }

        Span<char> text = stackalloc char[2 + (2 * SHA256.HashSizeInBytes)];
        text[0] = 'c';
        text[1] = ':';
        Convert.TryToHexStringLower(hash, text[2..], out _);
        return new string(text);
    }

    // What a commitment looks like to the length check: "c:" and 64 hex digits, like every real one.
    private static readonly string Placeholder = "c:" + new string('0', 64);

    // Salts drawn from the system's CSPRNG a page at a time rather than 16 bytes per call (one call per
    // commitment was a tenth of the sequencer's time); each buffer is per thread and never handed out twice.
    private static class Salts
    {
        [ThreadStatic]
        private static byte[]? t_buffer;

        [ThreadStatic]
        private static int t_used;

        public static byte[] Next()
        {
            if (t_buffer is null || t_used == t_buffer.Length)
            {
                t_buffer ??= new byte[4096];
                RandomNumberGenerator.Fill(t_buffer);
                t_used = 0;
            }

            var salt = t_buffer.AsSpan(t_used, 16).ToArray();
            t_used += 16;
            return salt;
        }
    }

    private enum Form
    {
        Clear,
        Committed,
        Measured,
    }

    private static byte[] Encode(long index, DateTimeOffset at, AuditRecord record, Form form, ICollection<AuditOpening>? openings)
    {
        string Shown(string field, string value)
        {
            switch (form)
            {
                case Form.Clear:
                    return value;
                case Form.Measured:
                    return Placeholder;
                default:
                    var salt = Salts.Next();
                    var commitment = Commitment(salt, value);
                    openings!.Add(new AuditOpening(field, commitment, Convert.ToBase64String(salt), value));
                    return commitment;
            }
        }

        // One buffer and writer per thread, reset for each entry: the sequencer encodes every leaf, callers measure theirs.
        var (buffer, json) = Writer();
        {
            json.WriteStartObject();
            if (form != Form.Clear)
            {
                json.WriteNumber("V", 2);
            }

            json.WriteNumber("Index", index);
            json.WriteString("At", Timestamps.Format(at));
            json.WriteString("Actor", Shown("Actor", record.Actor));
            json.WriteString("Action", record.Action);
            json.WriteString("Outcome", record.Outcome);
            WriteNullable(json, "LegalBasisId", record.LegalBasisId);
            if (record.CaseId is null)
            {
                json.WriteNull("CaseId");
            }
            else
            {
                json.WriteString("CaseId", Shown("CaseId", record.CaseId));
            }

            json.WriteStartObject("Parameters");
            foreach (var (key, value) in (record.Parameters ?? new Dictionary<string, string>()).OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                json.WriteString(key, CommittedParameters.Contains(key) ? Shown(key, value) : value);
            }

            json.WriteEndObject();
            WriteNullable(json, "ResultCount", record.ResultCount);
            json.WriteStartArray("Commitments");
            foreach (var commitment in record.Commitments ?? [])
            {
                json.WriteStringValue(commitment);
            }

            json.WriteEndArray();
            json.WriteEndObject();
            json.Flush();
        }

        return buffer.WrittenSpan.ToArray();
    }

    [ThreadStatic]
    private static (System.Buffers.ArrayBufferWriter<byte> Buffer, Utf8JsonWriter Json)? t_writer;

    private static (System.Buffers.ArrayBufferWriter<byte> Buffer, Utf8JsonWriter Json) Writer()
    {
        if (t_writer is not { } writer)
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
            writer = (buffer, new Utf8JsonWriter(buffer));
            t_writer = writer;
        }

        writer.Buffer.ResetWrittenCount();
        writer.Json.Reset(writer.Buffer);
        return writer;
    }

    public static string Text(byte[] entry) => Encoding.UTF8.GetString(entry);

    /// <summary>
    /// A leaf's openings as <c>audit_leaf_openings</c> stores them: one JSON array per leaf of <c>{Field, Salt, Value}</c>.
    /// The commitment is not stored: it is SHA-256 of salt and value, and <see cref="ParseOpenings"/> computes it (rows
    /// written before 2026-12-07 also carry it, and it is checked against the computed one).
    /// </summary>
    /// <remarks>Written with the thread's JSON writer (what <see cref="JsonSerializer"/> writes, without its per-call cost).</remarks>
    public static string FormatOpenings(IEnumerable<AuditOpening> openings)
    {
        var (buffer, json) = Writer();
        json.WriteStartArray();
        foreach (var opening in openings)
        {
            json.WriteStartObject();
            json.WriteString(nameof(AuditOpening.Field), opening.Field);
            json.WriteString(nameof(AuditOpening.Salt), opening.Salt);
            json.WriteString(nameof(AuditOpening.Value), opening.Value);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.Flush();
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// The openings of one <c>audit_leaf_openings</c> row, each with its commitment computed from its salt and value
    /// (an older row's stored one as it is); null for a row that does not parse (only a tampered one).
    /// </summary>
    public static IReadOnlyList<AuditOpening>? ParseOpenings(string stored)
    {
        try
        {
            var rows = JsonSerializer.Deserialize<List<StoredOpening>>(stored);
            if (rows is null)
            {
                return null;
            }

            var openings = new List<AuditOpening>(rows.Count);
            foreach (var row in rows)
            {
                if (row.Field is null || row.Salt is null || row.Value is null)
                {
                    return null;
                }

                // An older row's own commitment is kept, so that AuditTrail.Openings can say when it does not match.
                openings.Add(new AuditOpening(row.Field, row.Commitment ?? Commitment(Convert.FromBase64String(row.Salt), row.Value), row.Salt, row.Value));
            }

            return openings;
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            return null;
        }
    }

    // A row's opening as stored: without its commitment since 2026-12-07, with it before.
    private sealed record StoredOpening(string? Field, string? Commitment, string? Salt, string? Value);

    /// <summary>
    /// The act as the signed leaf states it. A leaf that does not decode (only a tampered one) is shown as
    /// such, under its index, rather than filled in from elsewhere.
    /// </summary>
    public static LoggedAct Decode(long index, byte[] entry)
    {
        var text = Text(entry);
        try
        {
            using var json = JsonDocument.Parse(entry);
            var root = json.RootElement;
            return new LoggedAct(
                root.GetProperty("Index").GetInt64(),
                root.GetProperty("At").GetString() ?? "",
                root.GetProperty("Actor").GetString() ?? "",
                root.GetProperty("Action").GetString() ?? "",
                root.GetProperty("Outcome").GetString() ?? "",
                root.GetProperty("LegalBasisId") is { ValueKind: JsonValueKind.Number } basis ? basis.GetInt64() : null,
                root.GetProperty("CaseId").GetString(),
                text);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return new LoggedAct(index, "", "", "", "undecodable leaf", null, null, text);
        }
    }

    /// <summary>
    /// The act with its commitments replaced by their openings, for staff listings inside the system (the
    /// public read side never does this). <paramref name="openings"/> maps commitment to value.
    /// </summary>
    public static LoggedAct Opened(LoggedAct act, IReadOnlyDictionary<string, string> openings)
    {
        if (openings.Count == 0 || !act.Body.Contains("\"c:", StringComparison.Ordinal))
        {
            return act;
        }

        var body = act.Body;
        foreach (var (commitment, value) in openings)
        {
            body = body.Replace($"\"{commitment}\"", JsonSerializer.Serialize(value), StringComparison.Ordinal);
        }

        return act with
        {
            Actor = openings.GetValueOrDefault(act.Actor, act.Actor),
            CaseId = act.CaseId is null ? null : openings.GetValueOrDefault(act.CaseId, act.CaseId),
            Body = body,
        };
    }

    private static void WriteNullable(Utf8JsonWriter json, string name, long? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteNumber(name, value.Value);
        }
    }
}

/// <summary>The opening of one commitment in a version-2 leaf: which field, the commitment, its salt (base64) and the value.</summary>
public sealed record AuditOpening(string Field, string Commitment, string Salt, string Value);
