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

/// <summary>The caller is not signed in, or the credentials are wrong; the API answers 401.</summary>
public sealed class UnauthorizedException(string message) : Exception(message);

/// <summary>The caller is signed in but may not do this (role, scope, separation of duties); the API answers 403.</summary>
public sealed class ForbiddenException(string message) : Exception(message);

/// <summary>Too many attempts; the API answers 429.</summary>
public sealed class TooManyRequestsException(string message) : Exception(message);
