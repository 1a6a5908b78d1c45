using System.Security.Cryptography;
using OtpNet;

namespace CityWatch.Identity;

/// <summary>A new second factor: the TOTP secret, shown once, as base32 and as an otpauth:// URI for an authenticator app.</summary>
public sealed record TotpEnrolment(string Secret, string Uri);

/// <summary>
/// The second factor every account holder has: TOTP (RFC 6238; SHA-1, 6 digits, 30-second steps, one step
/// either side for clock drift) through Otp.NET. A code is good once: a step at or before the last one
/// used is refused, so a code seen over someone's shoulder cannot be replayed.
/// </summary>
public static class SecondFactor
{
    public const string Issuer = "CityWatch";
    public const int StepSeconds = 30;

    private static readonly VerificationWindow Window = new(previous: 1, future: 1);

    public static TotpEnrolment NewEnrolment(string username)
    {
        var secret = Base32Encoding.ToString(RandomNumberGenerator.GetBytes(20));
        return new TotpEnrolment(secret, new OtpUri(OtpType.Totp, secret, username, Issuer).ToString());
    }

    /// <summary>
    /// The code an authenticator holding <paramref name="secret"/> would offer now: for the earliest step the
    /// server still accepts that is after <paramref name="lastStep"/>; null when all of them are used. (For
    /// the demo, which keeps its accounts' secrets.)
    /// </summary>
    public static string? NextCode(string secret, DateTimeOffset now, long? lastStep)
    {
        var current = now.ToUnixTimeSeconds() / StepSeconds;
        var step = Math.Max(current - 1, (lastStep ?? long.MinValue + 1) + 1);
        return step > current + 1 ? null : new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp(DateTimeOffset.FromUnixTimeSeconds(step * StepSeconds).UtcDateTime);
    }

    /// <summary>The time step the code belongs to, or null when it is wrong, malformed or already used.</summary>
    public static long? Verify(string secret, string? code, DateTimeOffset now, long? lastStep)
    {
        if (code is not { Length: 6 } || !code.All(char.IsAsciiDigit))
        {
            return null;
        }

        var totp = new Totp(Base32Encoding.ToBytes(secret));
        if (!totp.VerifyTotp(now.UtcDateTime, code, out var step, Window))
        {
            return null;
        }

        return lastStep is { } last && step <= last ? null : step;
    }
}
