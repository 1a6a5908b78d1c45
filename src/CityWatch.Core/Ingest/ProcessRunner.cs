using System.ComponentModel;
using System.Diagnostics;

namespace CityWatch.Ingest;

/// <summary>How <see cref="ProcessRunner"/> treats a child's standard error.</summary>
public sealed record ProcessRunnerOptions
{
    /// <summary>Called for every line the child writes to standard error, on a thread-pool thread.</summary>
    public Action<string>? OnErrorLine { get; init; }

    /// <summary>How many of the last standard-error lines <see cref="ProcessRunner.ErrorLines"/> keeps.</summary>
    public int ErrorLinesKept { get; init; } = 32;

    public string? WorkingDirectory { get; init; }

    /// <summary>Environment variables set for the child on top of this process's (e.g. a worker's grant key, which must not be an argument).</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
}

/// <summary>What a short-lived child process printed, for <see cref="ProcessRunner.RunAsync"/>.</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, IReadOnlyList<string> ErrorLines);

/// <summary>The executable could not be started at all (not installed, not executable).</summary>
public sealed class ProcessStartException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The one place in the product that starts processes (BannedSymbols.txt bans Process.Start elsewhere).
/// A child gets its arguments as a list (no shell, no quoting), a closed standard input, a binary
/// standard output stream and standard error as lines (to a callback and a bounded ring buffer).
/// Disposing, or cancelling the token given to <see cref="Start"/>, kills the child's whole process tree.
/// </summary>
public sealed class ProcessRunner : IAsyncDisposable
{
    private static readonly TimeSpan ExitWaitAfterKill = TimeSpan.FromSeconds(5);

    private readonly Process _process;
    private readonly Action<string>? _onErrorLine;
    private readonly Queue<string> _errorLines;
    private readonly int _errorLinesKept;
    private readonly CancellationTokenRegistration _cancellation;
    private int _disposed;

    private ProcessRunner(Process process, ProcessRunnerOptions options, CancellationToken cancellationToken)
    {
        _process = process;
        _onErrorLine = options.OnErrorLine;
        _errorLinesKept = Math.Max(1, options.ErrorLinesKept);
        _errorLines = new Queue<string>(_errorLinesKept);
        _process.ErrorDataReceived += OnErrorData;

        Start();
        FileName = process.StartInfo.FileName;
        Id = _process.Id;
        _process.StandardInput.Close();
        _process.BeginErrorReadLine();
        StandardOutput = _process.StandardOutput.BaseStream;
        _cancellation = cancellationToken.Register(static state => ((ProcessRunner)state!).Kill(), this);
    }

    public string FileName { get; }

    public int Id { get; }

    /// <summary>The child's standard output, as raw bytes.</summary>
    public Stream StandardOutput { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code once the child has exited; null while it runs.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>A copy of the last standard-error lines (at most <see cref="ProcessRunnerOptions.ErrorLinesKept"/>).</summary>
    public IReadOnlyList<string> ErrorLines
    {
        get
        {
            lock (_errorLines)
            {
                return [.. _errorLines];
            }
        }
    }

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="arguments"/> passed one by one (no shell).</summary>
    /// <exception cref="ProcessStartException">The executable cannot be started.</exception>
    public static ProcessRunner Start(
        string fileName,
        IEnumerable<string> arguments,
        ProcessRunnerOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fileName);
        ArgumentNullException.ThrowIfNull(arguments);
        options ??= new ProcessRunnerOptions();

        var startInfo = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true,
        };
        if (options.WorkingDirectory is not null)
        {
            startInfo.WorkingDirectory = options.WorkingDirectory;
        }

        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in options.Environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[name] = value;
        }

        var process = new Process { StartInfo = startInfo };
        try
        {
            return new ProcessRunner(process, options, cancellationToken);
        }
        catch
        {
            process.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs a short-lived child to its end and returns its exit code, standard output as text and
    /// last standard-error lines. Cancelling kills it (and throws <see cref="OperationCanceledException"/>).
    /// </summary>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        CancellationToken cancellationToken = default,
        int maxOutputChars = 4 * 1024 * 1024)
    {
        await using var runner = Start(fileName, arguments, null, cancellationToken);
        using var reader = new StreamReader(runner.StandardOutput);
        var output = new System.Text.StringBuilder();
        var buffer = new char[8192];
        int read;
        while ((read = await reader.ReadAsync(buffer, cancellationToken)) > 0)
        {
            if (output.Length + read > maxOutputChars)
            {
                throw new InvalidOperationException($"{fileName} wrote more than {maxOutputChars} characters to standard output.");
            }

            output.Append(buffer, 0, read);
        }

        var exitCode = await runner.WaitForExitAsync(cancellationToken);
        return new ProcessResult(exitCode, output.ToString(), runner.ErrorLines);
    }

    /// <summary>Waits for the child to exit (and its standard error to be read) and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken = default)
    {
        await _process.WaitForExitAsync(cancellationToken);
        return _process.ExitCode;
    }

    /// <summary>Kills the child and all its descendants; does nothing if it has already exited.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
        catch (Win32Exception)
        {
            // It is already on its way out (e.g. the kill raced its exit).
        }
    }

    /// <summary>Kills the child's process tree if it still runs, and waits (a bounded time) for it to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _cancellation.DisposeAsync();
        Kill();
        try
        {
            using var timeout = new CancellationTokenSource(ExitWaitAfterKill);
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Killed but not reaped in time: nothing more can be done here.
        }

        _process.ErrorDataReceived -= OnErrorData;
        _process.Dispose();
    }

    private void Start()
    {
        try
        {
            // The single sanctioned process start in src/ (see BannedSymbols.txt).
#pragma warning disable RS0030
            _process.Start();
#pragma warning restore RS0030
        }
        catch (Win32Exception e)
        {
            throw new ProcessStartException($"Cannot start '{_process.StartInfo.FileName}': {e.Message}.", e);
        }
    }

    private void OnErrorData(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is null)
        {
            return;
        }

        lock (_errorLines)
        {
            if (_errorLines.Count == _errorLinesKept)
            {
                _errorLines.Dequeue();
            }

            _errorLines.Enqueue(e.Data);
        }

        _onErrorLine?.Invoke(e.Data);
    }
}
