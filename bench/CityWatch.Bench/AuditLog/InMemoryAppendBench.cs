using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using CityWatch.AuditLog;

namespace CityWatch.Bench.AuditLog;

/// <summary>In-memory tree appends per second against the floor of one raw SHA-256 node hash.</summary>
public class InMemoryAppendBench
{
    private const int Leaves = 4096;
    private readonly byte[] _leaf = Rfc6962.HashLeaf("bench"u8);
    private readonly byte[] _node = new byte[65];
    private readonly byte[] _out = new byte[32];

    [Benchmark(OperationsPerInvoke = Leaves)]
    public byte[] CompactRangeAppend()
    {
        var range = new CompactRange();
        for (var i = 0; i < Leaves; i++)
        {
            range.Append(_leaf);
        }

        return range.Root();
    }

    [Benchmark(OperationsPerInvoke = Leaves)]
    public long MerkleTreeAppend()
    {
        var tree = new MerkleTree();
        for (var i = 0; i < Leaves; i++)
        {
            tree.AppendLeafHash(_leaf);
        }

        return tree.Size;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Leaves)]
    public byte[] RawSha256NodeHash()
    {
        for (var i = 0; i < Leaves; i++)
        {
            SHA256.HashData(_node, _out);
        }

        return _out;
    }
}
