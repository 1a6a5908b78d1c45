using System.Security.Cryptography;
using System.Text;
using Dapper;
using Microsoft.Data.Sqlite;

namespace CityWatch.Identity;

/// <summary>
/// A person's identity reference (national id, staff number) kept only as HMAC-SHA-256 under a random key
/// made once per database: equal references give equal hashes, so the unique index refuses a second
/// account for the same person, and the table alone does not say whose reference it is (a guess can be
/// tested only by someone who also holds the key, i.e. the database file).
/// </summary>
internal static class IdentityReferences
{
    public const int MaxLength = 128;

    public static string Hash(SqliteConnection connection, SqliteTransaction transaction, string? reference)
    {
        var normalised = Normalise(reference);
        connection.Execute("INSERT OR IGNORE INTO identity_salt (id, salt) VALUES (1, @salt)", new { salt = RandomNumberGenerator.GetBytes(32) }, transaction);
        var key = connection.ExecuteScalar<byte[]>("SELECT salt FROM identity_salt WHERE id = 1", transaction: transaction)!;
        return Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(normalised)));
    }

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
