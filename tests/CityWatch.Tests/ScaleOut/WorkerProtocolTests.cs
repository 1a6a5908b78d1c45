using System.Security.Cryptography;
using System.Text;
using CityWatch.ScaleOut;

namespace CityWatch.Tests.ScaleOut;

public sealed class WorkerProtocolTests
{
    [Fact]
    public void A_sealed_box_opens_only_with_its_recipient_key_and_its_associated_data()
    {
        using var recipient = SealedBox.NewRecipientKey();
        using var other = SealedBox.NewRecipientKey();
        var plaintext = Encoding.UTF8.GetBytes("a face crop");
        var box = SealedBox.Seal(SealedBox.PublicKeyOf(recipient), plaintext, "alert-1"u8);

        Assert.Equal(plaintext, SealedBox.Open(recipient, box, "alert-1"u8));
        Assert.DoesNotContain("a face crop", Encoding.UTF8.GetString(box), StringComparison.Ordinal);
        Assert.Throws<CryptographicException>(() => SealedBox.Open(other, box, "alert-1"u8));
        Assert.Throws<CryptographicException>(() => SealedBox.Open(recipient, box, "alert-2"u8));
        var altered = (byte[])box.Clone();
        altered[^1] ^= 1;
        Assert.Throws<CryptographicException>(() => SealedBox.Open(recipient, altered, "alert-1"u8));
        Assert.Throws<CryptographicException>(() => SealedBox.Open(recipient, box.AsSpan(0, 20), "alert-1"u8));
    }

    [Fact]
    public void Two_boxes_of_the_same_plaintext_differ()
    {
        using var recipient = SealedBox.NewRecipientKey();
        var key = SealedBox.PublicKeyOf(recipient);

        Assert.NotEqual(SealedBox.Seal(key, "x"u8, default), SealedBox.Seal(key, "x"u8, default));
        Assert.Throws<CryptographicException>(() => SealedBox.Seal(key.AsSpan(1), "x"u8, default));
    }

    [Fact]
    public void A_candidate_event_round_trips_and_a_message_with_an_unknown_member_is_refused()
    {
        var sent = new CandidateEvent(
            "e1", CandidateKind.Touched, 7, 42, "w1", "grant", DateTimeOffset.UnixEpoch, "k1",
            Touched: new TouchedCandidate(DateTimeOffset.UnixEpoch.AddSeconds(3), 12));

        var received = WorkerProtocol.Parse<CandidateEvent>(WorkerProtocol.ToJson(sent));

        Assert.Equal(sent, received);
        Assert.Contains("\"Touched\"", Encoding.UTF8.GetString(WorkerProtocol.ToJson(sent)), StringComparison.Ordinal);
        Assert.Throws<MalformedWorkerMessageException>(() => WorkerProtocol.Parse<RegisterRequest>("{\"worker\":\"w1\",\"extra\":1}"u8));
        Assert.Throws<MalformedWorkerMessageException>(() => WorkerProtocol.Parse<RegisterRequest>("null"u8));
        Assert.Throws<MalformedWorkerMessageException>(() => WorkerProtocol.Parse<GrantRequest>("{\"worker\":\"w1\"}"u8));
    }

    [Fact]
    public void Subjects_carry_the_worker_name_and_refuse_one_that_would_escape_the_subject()
    {
        Assert.Equal("citywatch.server.grant.w-1", WorkerProtocol.GrantSubject("w-1"));
        Assert.Equal("citywatch.candidates.w-1", WorkerProtocol.CandidateSubject("w-1"));
        Assert.Throws<ArgumentException>(() => WorkerProtocol.GallerySubject("w.>"));
        Assert.Throws<ArgumentException>(() => WorkerProtocol.CandidateSubject(""));
    }
}
