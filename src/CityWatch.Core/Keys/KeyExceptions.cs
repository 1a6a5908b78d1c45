namespace CityWatch.Keys;

/// <summary>The key-encryption key is missing, malformed, in the wrong place or not this data folder's: CityWatch does not start.</summary>
public class KeyEncryptionKeyException(string message) : Exception(message);

/// <summary>No key-encryption key was configured, or a data folder was opened without one and a wrapped key was needed.</summary>
public sealed class KeyEncryptionKeyRequiredException(string message) : KeyEncryptionKeyException(message);

/// <summary>The key-encryption key given is not the one this data folder's keys are wrapped with.</summary>
public sealed class WrongKeyEncryptionKeyException(string message) : KeyEncryptionKeyException(message);

/// <summary>A custodian share is malformed, corrupted (its checksum fails) or does not belong with the others.</summary>
public sealed class InvalidShareException(string message) : KeyEncryptionKeyException(message);
