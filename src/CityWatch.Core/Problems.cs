namespace CityWatch;

/// <summary>The request is malformed or breaks a rule; the API answers 400 with problem details.</summary>
public class InvalidRequestException(string message) : Exception(message);

/// <summary>The thing named does not exist; the API answers 404.</summary>
public sealed class NotFoundException(string message) : Exception(message);

/// <summary>The request conflicts with the current state; the API answers 409.</summary>
public sealed class ConflictException(string message) : Exception(message);

/// <summary>Governance forbids the act (no grant, out of scope); the API answers 403. The refusal is already logged.</summary>
public sealed class PolicyRefusedException(string reason) : Exception(reason)
{
    public string Reason => Message;
}
