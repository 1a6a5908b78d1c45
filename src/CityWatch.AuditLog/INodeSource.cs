namespace CityWatch.AuditLog;

/// <summary>
/// Where the hashes of complete (perfect) subtrees come from. Node (level, index) is the root of the perfect
/// subtree over leaves [index·2^level, (index+1)·2^level); level 0 holds the leaf hashes. An in-memory tree
/// and a database store both implement it, so proofs are built the same way from either.
/// </summary>
public interface INodeSource
{
    /// <summary>The node's hash; throws <see cref="MissingNodeException"/> if it is not stored.</summary>
    byte[] GetNode(int level, long index);
}
