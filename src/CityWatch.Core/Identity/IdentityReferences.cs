using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using CityWatch.Data;
using CityWatch.Keys;
using Dapper;

namespace CityWatch.Identity;

/// <summary>
/// A person's identity reference (national id, staff number) kept only as HMAC-SHA-256 under a random key
/// made once per database: equal references give equal hashes, so the unique index refuses a second
/// account for the same person, and the table alone does not say whose reference it is. The HMAC key is
/// stored only sealed with the <see cref="KeyRing.AccountSecrets"/> key (wrapped by the KEK), so a copy of
/// the data folder cannot test a guessed reference either.
/// </summary>
internal static class IdentityReferences
{
    public const int MaxLength = 128;

    /// <summary>What the sealed HMAC key is bound to.</summary>
    public const string KeyBinding = "identity-salt";

    public static string Hash(KeyRing keys, DbConnection connection, DbTransaction transaction, string? reference)
    {
        var normalised = Normalise(reference);
        return Convert.ToHexStringLower(HMACSHA256.HashData(Key(keys, connection, transaction), Encoding.UTF8.GetBytes(normalised)));
    }

    // Made on first use and stored sealed; a key an older version stored in clear is used until the
    // start-up migration seals it (IdentityStore.SealClearSecretsAsync). Of two first uses at once (on
    // PostgreSQL, whose transactions do not wait for each other's reads) one key is stored: the other's insert
    // does nothing and it reads the stored one.
    private static byte[] Key(KeyRing keys, DbConnection connection, DbTransaction transaction)
    {
        var sealingKey = keys.SecretWithin(KeyRing.AccountSecrets, "identity reference: one account per person", connection, transaction);
        var stored = connection.ExecuteScalar<byte[]?>("SELECT salt FROM identity_salt WHERE id = 1", transaction: transaction);
        if (stored is null)
        {
            var created = RandomNumberGenerator.GetBytes(32);
            if (connection.Execute(
                "INSERT INTO identity_salt (id, salt) VALUES (1, @salt) ON CONFLICT (id) DO NOTHING",
                new { salt = Sealing.Seal(sealingKey, created, Encoding.ASCII.GetBytes(KeyBinding)) },
                transaction) == 1)
            {
                return created;
            }

            stored = connection.ExecuteScalar<byte[]?>("SELECT salt FROM identity_salt WHERE id = 1", transaction: transaction)
                ?? throw new InvalidOperationException("the identity-reference key was neither stored nor found");
        }

        return IsSealed(stored) ? Sealing.Open(sealingKey, stored, Encoding.ASCII.GetBytes(KeyBinding)) : stored;
    }

    /// <summary>Whether a stored HMAC key is sealed (an older version stored the 32 bytes as they are).</summary>
    public static bool IsSealed(byte[] stored) => stored.Length == Sealing.Overhead + 32 && Sealing.LooksSealed(stored);

    /// <summary>Spaces, dashes, dots and slashes dropped, upper case: "ab-12 345" and "AB12345" are the same reference.</summary>
    public static string Normalise(string? reference)
    {
        var normalised = new string((reference ?? "").Where(c => !char.IsWhiteSpace(c) && c is not ('-' or '.' or '/')).ToArray()).ToUpperInvariant();
        if (normalised.Length is 0 or > MaxLength)
        {
            throw new InvalidRequestException($"An identity reference (national id or staff number) of 1 to {MaxLength} characters is required.");
        }

        return normalised;
    }
}
