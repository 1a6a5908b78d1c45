using System.Text.RegularExpressions;
using CityWatch.Tests.Support;

namespace CityWatch.Tests.Data;

/// <summary>
/// Core's feature folders depend on each other one way (issue 12, item 4). Each folder is one namespace
/// (<c>CityWatch.&lt;Folder&gt;</c>); a folder depends on another where its code names it: a <c>using</c>, a name
/// qualified with <c>CityWatch.&lt;Folder&gt;.</c>, or a type of that folder qualified relatively
/// (<c>Policy.CaseSchema</c>). Comments are not code. The test reads the sources, not the assembly, because
/// constants (schema SQL, action names) are copied into the caller at compile time and leave no reference behind.
/// </summary>
public sealed partial class CoreLayerTests
{
    private static readonly string CoreRoot = Path.Combine(TestPaths.RepositoryRoot, "src", "CityWatch.Core");

    [Fact]
    public void Cores_feature_folders_have_no_dependency_cycle()
    {
        var graph = FolderGraph();

        var cycles = StronglyConnected(graph.Keys.ToList(), folder => graph[folder].Keys)
            .Where(component => component.Count > 1)
            .Select(component => string.Join(", ", component.Order(StringComparer.Ordinal)) + ": "
                + string.Join("; ", component.SelectMany(from => graph[from]
                    .Where(edge => component.Contains(edge.Key))
                    .Select(edge => $"{from} -> {edge.Key} ({edge.Value})"))))
            .ToList();

        Assert.True(cycles.Count == 0, "Core's folders depend on each other in a circle:\n" + string.Join("\n", cycles));
    }

    [Fact]
    public void The_grants_folder_sits_at_the_bottom_and_the_data_folder_names_no_feature()
    {
        var graph = FolderGraph();

        Assert.Empty(graph["Grants"].Keys);
        // Data holds every feature's schema (Data/Schema) and the key ring; it depends on nothing but the grants
        // (the key ring makes the grant-signing key) and the key-encryption key.
        Assert.Equal(["Grants", "Keys"], graph["Data"].Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_scan_sees_each_kind_of_reference_and_ignores_comments()
    {
        var types = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal)
        {
            ["Policy"] = ["CaseSchema"],
            ["Alerts"] = ["AlertStore"],
            ["Keys"] = ["KeyRing"],
        };
        const string source = """
            using CityWatch.Alerts;
            // Keys.KeyRing is only mentioned here
            /// <see cref="CityWatch.Keys.KeyRing"/>
            var sql = Policy.CaseSchema.Sql;
            var count = database.Keys.Count;
            """;

        Assert.Equal(["Alerts", "Policy"], References(source, types).Order(StringComparer.Ordinal));
    }

    private static Dictionary<string, Dictionary<string, string>> FolderGraph()
    {
        var folders = Directory.GetDirectories(CoreRoot)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(name => name is not ("bin" or "obj"))
            .ToList();
        var sources = folders.ToDictionary(
            folder => folder,
            folder => Directory.GetFiles(Path.Combine(CoreRoot, folder), "*.cs", SearchOption.AllDirectories)
                .Select(file => (File: Path.GetRelativePath(CoreRoot, file), Text: File.ReadAllText(file)))
                .ToList(),
            StringComparer.Ordinal);
        var types = sources.ToDictionary(
            entry => entry.Key,
            entry => entry.Value.SelectMany(file => TypeDeclaration().Matches(file.Text).Select(m => m.Groups["name"].Value)).ToHashSet(StringComparer.Ordinal),
            StringComparer.Ordinal);
        Assert.Contains("PolicyEngine", types["Policy"]);

        var graph = folders.ToDictionary(folder => folder, _ => new Dictionary<string, string>(StringComparer.Ordinal), StringComparer.Ordinal);
        foreach (var (folder, files) in sources)
        {
            foreach (var (file, text) in files)
            {
                foreach (var target in References(text, types).Where(target => target != folder))
                {
                    graph[folder].TryAdd(target, file);
                }
            }
        }

        return graph;
    }

    private static HashSet<string> References(string source, IReadOnlyDictionary<string, HashSet<string>> types)
    {
        var code = Comment().Replace(source, string.Empty);
        var found = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match match in Qualified().Matches(code))
        {
            var folder = match.Groups["folder"].Value;
            var absolute = match.Groups["absolute"].Success;
            if (types.TryGetValue(folder, out var declared) && (absolute || declared.Contains(match.Groups["type"].Value)))
            {
                found.Add(folder);
            }
        }

        return found;
    }

    /// <summary>Tarjan's algorithm: the strongly connected components of the folder graph.</summary>
    private static List<List<string>> StronglyConnected(IReadOnlyList<string> nodes, Func<string, IEnumerable<string>> edges)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var components = new List<List<string>>();

        void Visit(string node)
        {
            index[node] = low[node] = index.Count;
            stack.Push(node);
            onStack.Add(node);
            foreach (var next in edges(node))
            {
                if (!index.ContainsKey(next))
                {
                    Visit(next);
                    low[node] = Math.Min(low[node], low[next]);
                }
                else if (onStack.Contains(next))
                {
                    low[node] = Math.Min(low[node], index[next]);
                }
            }

            if (low[node] == index[node])
            {
                var component = new List<string>();
                string member;
                do
                {
                    member = stack.Pop();
                    onStack.Remove(member);
                    component.Add(member);
                }
                while (member != node);
                components.Add(component);
            }
        }

        foreach (var node in nodes.Where(node => !index.ContainsKey(node)))
        {
            Visit(node);
        }

        return components;
    }

    [GeneratedRegex(@"^\s*(public|internal|file)?\s*(sealed\s+|static\s+|abstract\s+|partial\s+|readonly\s+)*(class|record|struct|enum|interface)\s+(?<name>[A-Z]\w*)", RegexOptions.Multiline)]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex Comment();

    /// <summary><c>CityWatch.Folder</c> (in a using or a qualified name) or <c>Folder.Type</c> not preceded by a member access.</summary>
    [GeneratedRegex(@"(?<absolute>\bCityWatch\.)(?<folder>[A-Z]\w*)\b|(?<![\w.])(?<folder>[A-Z]\w*)\.(?<type>[A-Z]\w*)")]
    private static partial Regex Qualified();
}
