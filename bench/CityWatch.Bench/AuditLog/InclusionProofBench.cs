using BenchmarkDotNet.Attributes;
using CityWatch.AuditLog;

namespace CityWatch.Bench.AuditLog;

/// <summary>Inclusion-proof generation (and verification) in a tree of one million leaves.</summary>
public class InclusionProofBench
{
    private const long Size = 1_000_000;
    private readonly MerkleTree _tree = new();
    private readonly Random _random = new(42);
    private byte[] _root = [];

    [GlobalSetup]
    public void Setup()
    {
        for (long i = 0; i < Size; i++)
        {
            _tree.AppendData(BitConverter.GetBytes(i));
        }

        _root = _tree.Root();
    }

    [Benchmark]
    public IReadOnlyList<byte[]> Generate() => ProofBuilder.Inclusion(_tree, _random.NextInt64(Size), Size);

    [Benchmark]
    public void GenerateAndVerify()
    {
        var index = _random.NextInt64(Size);
        var proof = ProofBuilder.Inclusion(_tree, index, Size);
        ProofVerifier.VerifyInclusion(index, Size, _tree.GetNode(0, index), proof, _root);
    }
}
