using System.Globalization;
using System.Security.Cryptography;
using NSec.Cryptography;

namespace CityWatch.Identity;

/// <summary>
/// Argon2id (memory-hard) through NSec/libsodium, with the OWASP minimum parameters (19 MiB, 2 passes,
/// 1 lane). The stored form names its parameters, so they can be raised later without breaking old hashes.
/// </summary>
internal static class PasswordHasher
{
    private const int MemoryKiB = 19 * 1024;
    private const int Passes = 2;
    private const int HashBytes = 32;

    public const int MinimumLength = 12;

    public static string Hash(string password)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Derive(password, salt, MemoryKiB, Passes);
        return string.Create(CultureInfo.InvariantCulture, $"argon2id$m={MemoryKiB},t={Passes},p=1${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}");
    }

    public static bool Verify(string password, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != "argon2id")
        {
            return false;
        }

        var parameters = parts[1].Split(',').Select(p => p.Split('=')).ToDictionary(p => p[0], p => int.Parse(p[1], CultureInfo.InvariantCulture));
        var expected = Convert.FromBase64String(parts[3]);
        var actual = Derive(password, Convert.FromBase64String(parts[2]), parameters["m"], parameters["t"]);
        return CryptographicOperations.FixedTimeEquals(expected, actual);
    }

    public static void CheckStrength(string? password)
    {
        if (string.IsNullOrEmpty(password) || password.Length < MinimumLength)
        {
            throw new InvalidRequestException($"A password needs at least {MinimumLength} characters.");
        }
    }

    private static byte[] Derive(string password, byte[] salt, int memoryKiB, int passes)
    {
        var algorithm = PasswordBasedKeyDerivationAlgorithm.Argon2id(new Argon2Parameters { DegreeOfParallelism = 1, MemorySize = memoryKiB, NumberOfPasses = passes });
        return algorithm.DeriveBytes(password, salt, HashBytes);
    }
}
