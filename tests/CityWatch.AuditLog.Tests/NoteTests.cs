using System.Text;

namespace CityWatch.AuditLog.Tests;

public sealed class NoteTests
{
    private static readonly byte[] Root = Rfc6962.HashLeaf("root"u8);

    [Fact]
    public void Signed_checkpoint_opens_with_the_log_key()
    {
        using var signer = NoteSigner.Generate("citywatch.local/log");
        var checkpoint = new Checkpoint("citywatch.local/log", 42, Root, ["state watchlist-1 3 " + Convert.ToBase64String(Root)]);
        var note = signer.SignNote(checkpoint.ToText()).Format();

        var (opened, signed) = Checkpoint.Open(note, NoteVerifier.Parse(signer.VerifierKey));

        Assert.Equal(42, opened.Size);
        Assert.Equal(Root, opened.RootHash);
        Assert.Equal(checkpoint.Extensions, opened.Extensions);
        Assert.Single(signed.Signatures);
        Assert.StartsWith("citywatch.local/log\n42\n", note, StringComparison.Ordinal);
        Assert.Contains("\n\n— citywatch.local/log ", note, StringComparison.Ordinal);
    }

    [Fact]
    public void Key_id_is_the_truncated_hash_of_name_type_and_key()
    {
        using var signer = NoteSigner.Generate("example.com/log");
        var expected = System.Security.Cryptography.SHA256.HashData([.. "example.com/log\n"u8, 0x01, .. signer.PublicKey]);
        Assert.Equal(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(expected), signer.KeyId);
        Assert.StartsWith($"example.com/log+{signer.KeyId:x8}+A", signer.VerifierKey, StringComparison.Ordinal);
    }

    [Fact]
    public void Private_key_string_round_trips()
    {
        using var signer = NoteSigner.Generate("citywatch.local/log");
        using var again = NoteSigner.FromPrivateKey(signer.ExportPrivateKey());
        Assert.Equal(signer.VerifierKey, again.VerifierKey);
    }

    [Fact]
    public void Note_signed_by_another_key_of_the_same_name_is_rejected()
    {
        using var real = NoteSigner.Generate("citywatch.local/log");
        using var forger = NoteSigner.Generate("citywatch.local/log");
        var note = forger.SignNote("citywatch.local/log\n1\n" + Convert.ToBase64String(Root) + "\n").Format();
        Assert.Throws<NoteVerificationException>(() => NoteVerifier.Parse(real.VerifierKey).Open(note));
    }

    [Fact]
    public void Altered_text_fails_the_signature()
    {
        using var signer = NoteSigner.Generate("citywatch.local/log");
        var note = signer.SignNote("citywatch.local/log\n1\n" + Convert.ToBase64String(Root) + "\n").Format();
        var altered = note.Replace("\n1\n", "\n2\n", StringComparison.Ordinal);
        var error = Assert.Throws<NoteVerificationException>(() => NoteVerifier.Parse(signer.VerifierKey).Open(altered));
        Assert.Contains("does not verify", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("no signatures\n")]
    [InlineData("text\n\n")]
    [InlineData("text\n\n- name AAAAAAAA\n")]
    [InlineData("text\n\n— name AAAAAAAA")]
    [InlineData("text\n\n— na+me AAAAAAAA\n")]
    [InlineData("text\n\n— name !!!!\n")]
    [InlineData("text\n\n— name AAAA\n")]
    [InlineData("te\u0001xt\n\n— name AAAAAAAA\n")]
    public void Malformed_notes_are_rejected(string note) =>
        Assert.Throws<MalformedNoteException>(() => SignedNote.Parse(note));

    [Theory]
    [InlineData("origin\n")]
    [InlineData("origin\n01\nAAAA\n")]
    [InlineData("origin\n-1\nAAAA\n")]
    [InlineData("origin\n1\nAAAA\n")]
    [InlineData("origin\n1\nnot base64\n")]
    [InlineData("origin\n99999999999999999999\nAAAA\n")]
    public void Malformed_checkpoints_are_rejected(string text) =>
        Assert.Throws<MalformedNoteException>(() => Checkpoint.Parse(text));

    [Fact]
    public void Checkpoint_from_another_origin_is_rejected()
    {
        using var signer = NoteSigner.Generate("citywatch.local/log");
        var note = signer.SignNote(new Checkpoint("elsewhere/log", 1, Root).ToText()).Format();
        Assert.Throws<NoteVerificationException>(() => Checkpoint.Open(note, NoteVerifier.Parse(signer.VerifierKey)));
    }

    [Fact]
    public void Witness_cosignature_verifies_and_carries_its_time()
    {
        using var logKey = NoteSigner.Generate("citywatch.local/log");
        using var witnessKey = NoteSigner.Generate("witness.example/w1");
        var cosigner = new Cosigner(witnessKey);
        var text = new Checkpoint("citywatch.local/log", 7, Root).ToText();
        var at = new DateTimeOffset(2026, 11, 27, 9, 0, 0, TimeSpan.Zero);
        var note = new SignedNote(text, [logKey.Sign(text), cosigner.Cosign(text, at)]);

        var parsed = SignedNote.Parse(note.Format());
        Assert.Equal(at, CosignatureVerifier.Parse(cosigner.VerifierKey).Verify(parsed));
        NoteVerifier.Parse(logKey.VerifierKey).Verify(parsed);

        var other = new SignedNote(new Checkpoint("citywatch.local/log", 8, Root).ToText(), [parsed.Signatures[1]]);
        Assert.Throws<NoteVerificationException>(() => CosignatureVerifier.Parse(cosigner.VerifierKey).Verify(other));
    }

    [Fact]
    public void Mutated_notes_never_crash_the_parser()
    {
        using var signer = NoteSigner.Generate("citywatch.local/log");
        var verifier = NoteVerifier.Parse(signer.VerifierKey);
        var text = new Checkpoint("citywatch.local/log", 1234, Root, ["state w 1 " + Convert.ToBase64String(Root)]).ToText();
        var valid = Encoding.UTF8.GetBytes(signer.SignNote(text).Format());
        var random = new Random(2025);
        var alphabet = Encoding.UTF8.GetBytes("\n \u2014+=/0aZ\u0000\u00ff");
        for (var i = 0; i < 5000; i++)
        {
            var bytes = valid.ToList();
            for (var m = random.Next(1, 4); m > 0; m--)
            {
                var at = random.Next(bytes.Count + 1);
                switch (random.Next(4))
                {
                    case 0 when at < bytes.Count:
                        bytes[at] ^= (byte)(1 << random.Next(8));
                        break;
                    case 1 when at < bytes.Count:
                        bytes.RemoveAt(at);
                        break;
                    case 2:
                        bytes.Insert(at, alphabet[random.Next(alphabet.Length)]);
                        break;
                    default:
                        bytes.RemoveRange(Math.Min(at, bytes.Count), bytes.Count - Math.Min(at, bytes.Count));
                        break;
                }
            }

            var mutated = Encoding.UTF8.GetString([.. bytes]);
            try
            {
                var (checkpoint, _) = Checkpoint.Open(mutated, verifier);
                Assert.Equal(text, checkpoint.ToText());
            }
            catch (AuditLogException)
            {
                // The only acceptable failure: a typed, one-line error.
            }
        }
    }
}
