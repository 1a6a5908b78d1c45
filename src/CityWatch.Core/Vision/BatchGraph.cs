using System.Buffers.Binary;
using System.Text;
using static CityWatch.Vision.OnnxWire;

namespace CityWatch.Vision;

/// <summary>
/// Rewrites an ONNX model whose graph is fixed at a batch of one so that it takes a batch of any size:
/// the first dimension of every graph input and output becomes the symbolic <c>batch</c>, the stored
/// intermediate shapes (<c>value_info</c>, hints that ONNX Runtime infers again) are dropped, and a
/// <c>Reshape</c> whose shape is a stored int64 constant starting with 1 starts with 0 instead (copy the
/// input's first dimension). Nothing else changes: the weights are copied byte for byte. The result is a
/// candidate only; <see cref="AlignedEmbedder"/> keeps it where one batched run gives what separate runs give.
/// Works on the protobuf wire format directly (no ONNX schema package); about ten field numbers of onnx.proto are used.
/// </summary>
internal static class BatchGraph
{
    public const string BatchDimension = "batch";

    // onnx.proto field numbers.
    private const int ModelGraph = 7;
    private const int GraphNode = 1;
    private const int GraphInitializer = 5;
    private const int GraphInput = 11;
    private const int GraphOutput = 12;
    private const int GraphValueInfo = 13;
    private const int NodeInput = 1;
    private const int NodeOpType = 4;
    private const int TensorDataType = 2;
    private const int TensorName = 8;
    private const int TensorRawData = 9;
    private const int ValueInfoName = 1;
    private const int ValueInfoType = 2;
    private const int TypeTensor = 1;
    private const int TensorTypeShape = 2;
    private const int ShapeDim = 1;
    private const int DimValue = 1;
    private const int DimParam = 2;
    private const int Int64Type = 7;

    /// <summary>The rewritten model, or null where its graph is not one this can rewrite (no batch-1 inputs and outputs).</summary>
    public static byte[]? TryRewrite(byte[] model)
    {
        ArgumentNullException.ThrowIfNull(model);
        try
        {
            return Rewrite(model);
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    private static byte[]? Rewrite(byte[] model)
    {
        var fields = Parse(model);
        var graphs = fields.Where(f => f.Number == ModelGraph && f.Wire == 2).ToList();
        if (graphs.Count != 1)
        {
            return null;
        }

        var graph = Rewrite(model.AsMemory(graphs[0].PayloadStart, graphs[0].PayloadLength));
        if (graph is null)
        {
            return null;
        }

        using var output = new MemoryStream(model.Length);
        foreach (var field in fields)
        {
            if (field.Number == ModelGraph)
            {
                WriteMessage(output, ModelGraph, graph);
            }
            else
            {
                output.Write(model, field.Start, field.End - field.Start);
            }
        }

        return output.ToArray();
    }

    private static byte[]? Rewrite(ReadOnlyMemory<byte> graph)
    {
        var fields = Parse(graph.Span);
        var initializers = new HashSet<string>(StringComparer.Ordinal);
        var reshapeShapes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in fields)
        {
            if (field.Number == GraphInitializer && Text(Payload(graph, field), TensorName) is { } name)
            {
                initializers.Add(name);
            }
            else if (field.Number == GraphNode)
            {
                var node = Payload(graph, field);
                var nodeFields = Parse(node.Span);
                if (Text(node, NodeOpType) == "Reshape")
                {
                    var inputs = nodeFields.Where(f => f.Number == NodeInput).ToList();
                    if (inputs.Count == 2)
                    {
                        reshapeShapes.Add(Encoding.UTF8.GetString(Payload(node, inputs[1]).Span));
                    }
                }
            }
        }

        var rewroteInput = false;
        var rewroteOutput = false;
        using var output = new MemoryStream(graph.Length);
        foreach (var field in fields)
        {
            var payload = Payload(graph, field);
            switch (field.Number)
            {
                case GraphValueInfo:
                    continue;
                case GraphInput when !initializers.Contains(Text(payload, ValueInfoName) ?? string.Empty):
                    WriteMessage(output, field.Number, BatchedValueInfo(payload) ?? throw new InvalidDataException("an input is not batch 1"));
                    rewroteInput = true;
                    continue;
                case GraphOutput:
                    WriteMessage(output, field.Number, BatchedValueInfo(payload) ?? throw new InvalidDataException("an output is not batch 1"));
                    rewroteOutput = true;
                    continue;
                case GraphInitializer when reshapeShapes.Contains(Text(payload, TensorName) ?? string.Empty):
                    WriteMessage(output, field.Number, BatchedShape(payload));
                    continue;
                default:
                    output.Write(graph.Span[field.Start..field.End]);
                    continue;
            }
        }

        return rewroteInput && rewroteOutput ? output.ToArray() : null;
    }

    // A ValueInfoProto whose tensor shape starts with 1, with that dimension made the symbolic batch.
    private static byte[]? BatchedValueInfo(ReadOnlyMemory<byte> valueInfo) =>
        ReplaceFirst(valueInfo, ValueInfoType, type =>
            ReplaceFirst(type, TypeTensor, tensor =>
                ReplaceFirst(tensor, TensorTypeShape, shape =>
                    ReplaceFirst(shape, ShapeDim, dim =>
                    {
                        var value = Parse(dim.Span).FirstOrDefault(f => f.Number == DimValue && f.Wire == 0);
                        if (value.Wire != 0 || value.Value != 1 || value.End == 0)
                        {
                            return null;
                        }

                        using var batch = new MemoryStream();
                        WriteMessage(batch, DimParam, Encoding.UTF8.GetBytes(BatchDimension));
                        return batch.ToArray();
                    }))));

    // A Reshape's int64 shape constant; a leading 1 becomes 0 ("as the input's"), anything else is kept.
    private static byte[] BatchedShape(ReadOnlyMemory<byte> tensor)
    {
        var copy = tensor.ToArray();
        var fields = Parse(copy);
        var type = fields.FirstOrDefault(f => f.Number == TensorDataType && f.Wire == 0);
        var raw = fields.FirstOrDefault(f => f.Number == TensorRawData && f.Wire == 2);
        if (type.Value == Int64Type && raw.PayloadLength >= 8 && raw.PayloadLength % 8 == 0)
        {
            var first = copy.AsSpan(raw.PayloadStart, 8);
            if (BinaryPrimitives.ReadInt64LittleEndian(first) == 1)
            {
                BinaryPrimitives.WriteInt64LittleEndian(first, 0);
            }
        }

        return copy;
    }

    // The message with its first field numbered `number` (length-delimited) replaced by change(its payload); null where there is none or change gives null.
    private static byte[]? ReplaceFirst(ReadOnlyMemory<byte> message, int number, Func<ReadOnlyMemory<byte>, byte[]?> change)
    {
        var fields = Parse(message.Span);
        var index = fields.FindIndex(f => f.Number == number && f.Wire == 2);
        if (index < 0 || change(Payload(message, fields[index])) is not { } replaced)
        {
            return null;
        }

        using var output = new MemoryStream(message.Length + 8);
        for (var i = 0; i < fields.Count; i++)
        {
            if (i == index)
            {
                WriteMessage(output, number, replaced);
            }
            else
            {
                output.Write(message.Span[fields[i].Start..fields[i].End]);
            }
        }

        return output.ToArray();
    }
}
