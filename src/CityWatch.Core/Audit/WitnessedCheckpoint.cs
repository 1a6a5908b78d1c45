using System.Text.Json;
using CityWatch.AuditLog;

namespace CityWatch.Audit;

/// <summary>
/// The latest checkpoint a witness cosigned: the size and root the log must still extend. <see cref="Source"/>
/// says where it came from (the log's own <c>audit_witnessed</c> table or a witness's state folder), for the
/// message when the log does not.
/// </summary>
public sealed record WitnessedCheckpoint(string Source, long Size, byte[] Root);

/// <summary>
/// What a witness keeps in its folder (<c>state.json</c>, beside its key <c>witness.key</c>): the log key it
/// pinned and the last checkpoint it cosigned, with that cosigned note. The server and <c>audit verify</c> read
/// it too, with <c>--witness-state DIR</c>, as an anchor that lives outside the log's data folder.
/// </summary>
public sealed record WitnessState(string LogKey, long Size, string Root, string? Note = null)
{
    public const string FileName = "state.json";
    public const string KeyFileName = "witness.key";

    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    /// <summary>The state in <paramref name="directory"/>, or null when this witness has cosigned nothing yet.</summary>
    public static WitnessState? Read(string directory)
    {
        var path = PathIn(directory);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<WitnessState>(File.ReadAllText(path)) ?? throw new InvalidRequestException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException($"{path} is not a witness state: {e.Message}");
        }
    }

    /// <summary>Replaces the state atomically (write a temporary file, then rename it over the old one).</summary>
    public void WriteTo(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = PathIn(directory);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The checkpoint the witness keeping its state in <paramref name="directory"/> last cosigned, as an anchor for the log of <paramref name="logKey"/>; null while it has cosigned nothing.</summary>
    public static WitnessedCheckpoint? AnchorIn(string directory, NoteVerifier logKey) =>
        Read(directory)?.AnchorFor(logKey, $"the checkpoint the witness in {directory} cosigned");

    /// <summary>As <see cref="AnchorIn"/>, for a check that was told to hold the log to that witness: a witness that cosigned nothing is an error.</summary>
    public static WitnessedCheckpoint RequiredAnchorIn(string directory, NoteVerifier logKey) =>
        AnchorIn(directory, logKey) ?? throw new NotFoundException($"The witness folder {directory} holds no state: the witness has cosigned nothing.");

    /// <summary>
    /// This state as an anchor for the log whose verifier key is <paramref name="logKey"/>: a state pinned to
    /// another key, or whose cosigned note the log key does not verify, is refused.
    /// </summary>
    public WitnessedCheckpoint AnchorFor(NoteVerifier logKey, string source)
    {
        ArgumentNullException.ThrowIfNull(logKey);
        if (LogKey != logKey.VerifierKey)
        {
            throw new InvalidRequestException($"{source} pins the log key {LogKey}, not this log's {logKey.VerifierKey}.");
        }

        byte[] root;
        try
        {
            root = Convert.FromBase64String(Root);
        }
        catch (FormatException)
        {
            throw new InvalidRequestException($"{source} holds a root that is not base64.");
        }

        if (Note is not null)
        {
            var (checkpoint, _) = Checkpoint.Open(Note, logKey);
            if (checkpoint.Size != Size || !checkpoint.RootHash.AsSpan().SequenceEqual(root))
            {
                throw new InvalidRequestException($"{source} names size {Size} but its cosigned note says size {checkpoint.Size} with another root.");
            }
        }

        return new WitnessedCheckpoint(source, Size, root);
    }
}
