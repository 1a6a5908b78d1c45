namespace CityWatch.Evaluation;

/// <summary>A labelled set that cannot be read: names the file and, where there is one, the line.</summary>
public sealed class SetFormatException(string file, int? line, string problem)
    : InvalidRequestException(line is { } l ? $"{file} line {l}: {problem}" : $"{file}: {problem}")
{
    public string File { get; } = file;

    public int? Line { get; } = line;

    public string Problem { get; } = problem;
}
