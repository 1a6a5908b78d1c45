using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.OnnxRuntime;
using static CityWatch.Vision.OnnxWire;

namespace CityWatch.Vision;

/// <summary>The range of values a tensor took over the calibration chips.</summary>
public readonly record struct TensorRange(float Min, float Max)
{
    /// <summary>
    /// The range widened to hold zero and then outward to a value with a three-bit mantissa (1, 1.125, ... 1.875 times a
    /// power of two). The last bits of a float differ between CPUs (ONNX Runtime picks kernels by instruction set), so
    /// the exact minimum and maximum would make a graph that differs from machine to machine; the rounded range is the
    /// same everywhere but where a value lies within a millionth of a step, and costs at most an eighth of the range.
    /// </summary>
    public TensorRange Rounded() => new(-Up(-Math.Min(Min, 0f)), Up(Math.Max(Max, 0f)));

    public TensorRange Union(TensorRange other) => new(Math.Min(Min, other.Min), Math.Max(Max, other.Max));

    private static float Up(float value)
    {
        if (value <= 0f)
        {
            return 0f;
        }

        var exponent = Math.Floor(Math.Log2(value));
        var step = Math.Pow(2, exponent - 3);
        return (float)(Math.Ceiling((value / step) - 1e-9) * step);
    }
}

/// <summary>
/// Makes an int8 QDQ graph from a float ONNX embedder, the form ONNX Runtime fuses into integer kernels
/// (QLinearConv, QLinearAdd): every activation a <c>Conv</c> or <c>Add</c> reads or writes passes through a
/// <c>QuantizeLinear</c>/<c>DequantizeLinear</c> pair (uint8, the scale and zero point from its calibrated range),
/// each Conv's weights are int8 with a scale per output channel (symmetric, to ±127; 7-bit weights, against the u8s8
/// kernels' saturation on AVX2, were measured and changed nothing) and its bias int32 at the input's scale times the
/// weight's. Everything else (PRelu, Reshape) stays float between a DequantizeLinear and a QuantizeLinear. The opset becomes 13 (per-channel
/// DequantizeLinear), which changes none of the ops the embedders use.
/// <para>
/// Written here rather than taken from a library: the quantization tools are Python's (onnxruntime.quantization),
/// and the product and its bench run in .NET on boxes without Python; the graph is read and written on the wire format as
/// <see cref="BatchGraph"/> does. Calibration is min/max over chips the caller gives (<see cref="Calibration"/>).
/// </para>
/// </summary>
internal static class QuantizedGraph
{
    private const int ModelIrVersion = 1;
    private const int ModelOpset = 8;
    private const int ModelGraph = 7;
    private const int OpsetDomain = 1;
    private const int OpsetVersion = 2;
    private const int GraphNode = 1;
    private const int GraphInitializer = 5;
    private const int GraphInput = 11;
    private const int GraphOutput = 12;
    private const int NodeInput = 1;
    private const int NodeOutput = 2;
    private const int NodeName = 3;
    private const int NodeOpType = 4;
    private const int NodeAttribute = 5;
    private const int AttributeName = 1;
    private const int AttributeInt = 3;
    private const int AttributeType = 20;
    private const int AttributeTypeInt = 2;
    private const int TensorDims = 1;
    private const int TensorDataType = 2;
    private const int TensorFloatData = 4;
    private const int TensorName = 8;
    private const int TensorRawData = 9;
    private const int ValueInfoName = 1;
    private const int ValueInfoType = 2;
    private const int TypeTensor = 1;
    private const int TensorTypeElement = 1;
    private const int FloatType = 1;
    private const int UInt8Type = 2;
    private const int Int8Type = 3;
    private const int Int32Type = 6;
    private const int QdqOpset = 13;
    private const int QdqIrVersion = 7;

    private static readonly string[] Quantized = ["Conv", "Add"];

    /// <summary>The activations to calibrate: every non-constant input and output of a Conv or Add, in graph order.</summary>
    public static IReadOnlyList<string> Activations(byte[] model)
    {
        var graph = ReadGraph(model);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<string>();
        foreach (var node in graph.Nodes.Where(n => Quantized.Contains(n.OpType, StringComparer.Ordinal)))
        {
            var inputs = node.OpType == "Conv" ? node.Inputs.Take(1) : node.Inputs;
            foreach (var tensor in inputs.Concat(node.Outputs))
            {
                if (!graph.Initializers.ContainsKey(tensor) && seen.Add(tensor))
                {
                    result.Add(tensor);
                }
            }
        }

        return result;
    }

    /// <summary>The model with <paramref name="tensors"/> added as float graph outputs, so that one run gives their values.</summary>
    public static byte[] WithOutputs(byte[] model, IReadOnlyList<string> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        return ReplaceGraph(model, (graph, fields, output) =>
        {
            var existing = fields.Where(f => f.Number == GraphOutput).Select(f => Text(Payload(graph, f), ValueInfoName)).ToHashSet(StringComparer.Ordinal);
            foreach (var field in fields)
            {
                output.Write(graph.Span[field.Start..field.End]);
            }

            foreach (var tensor in tensors.Where(t => !existing.Contains(t)))
            {
                WriteMessage(output, GraphOutput, FloatValueInfo(tensor));
            }
        });
    }

    /// <summary>
    /// The QDQ graph. Every activation <see cref="Activations"/> names must have a range. Throws
    /// <see cref="InvalidDataException"/> where the graph is not one this can quantize (a Conv whose weights are
    /// not a float constant).
    /// </summary>
    public static byte[] Quantize(byte[] model, IReadOnlyDictionary<string, TensorRange> ranges)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        var parsed = ReadGraph(model);
        var activations = Activations(model);
        var missing = activations.FirstOrDefault(a => !ranges.ContainsKey(a));
        if (missing is not null)
        {
            throw new InvalidDataException($"No calibrated range for activation '{missing}'.");
        }

        var scales = activations.ToDictionary(a => a, a => Activation(ranges[a].Rounded()), StringComparer.Ordinal);
        var quantized = new HashSet<string>(activations, StringComparer.Ordinal);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        var added = new List<byte[]>();
        var weightNodes = new List<byte[]>();
        foreach (var (name, activation) in scales)
        {
            added.Add(Scalar($"{name}_scale", FloatType, BitConverter.GetBytes(activation.Scale)));
            added.Add(Scalar($"{name}_zero_point", UInt8Type, [activation.ZeroPoint]));
        }

        var convIndex = 0;
        var renamedInputs = new Dictionary<(int Node, int Input), string>();
        for (var n = 0; n < parsed.Nodes.Count; n++)
        {
            var node = parsed.Nodes[n];
            if (node.OpType != "Conv")
            {
                continue;
            }

            if (node.Inputs.Count < 2 || !parsed.Initializers.TryGetValue(node.Inputs[1], out var weightTensor))
            {
                throw new InvalidDataException($"Conv '{node.Name}' has no constant weights.");
            }

            var weights = FloatTensor(weightTensor);
            var channels = (int)weights.Dims[0];
            var perChannel = weights.Values.Length / channels;
            const int limit = 127;
            var weightScales = new float[channels];
            var codes = new byte[weights.Values.Length];
            for (var c = 0; c < channels; c++)
            {
                var row = weights.Values.AsSpan(c * perChannel, perChannel);
                var largest = 0f;
                foreach (var w in row)
                {
                    largest = Math.Max(largest, Math.Abs(w));
                }

                weightScales[c] = largest > 0 ? largest / limit : 1f;
                for (var i = 0; i < perChannel; i++)
                {
                    codes[(c * perChannel) + i] = (byte)(sbyte)Math.Clamp((int)MathF.Round(row[i] / weightScales[c], MidpointRounding.ToEven), -limit, limit);
                }
            }

            var tag = $"conv{convIndex++}";
            var weight = node.Inputs[1];
            added.Add(Tensor($"{weight}_{tag}_quantized", Int8Type, weights.Dims, codes));
            added.Add(Tensor($"{weight}_{tag}_scale", FloatType, [channels], MemoryMarshal.AsBytes(weightScales.AsSpan()).ToArray()));
            added.Add(Tensor($"{weight}_{tag}_zero_point", Int8Type, [channels], new byte[channels]));
            weightNodes.Add(Node("DequantizeLinear", $"{weight}_{tag}_dq", [$"{weight}_{tag}_quantized", $"{weight}_{tag}_scale", $"{weight}_{tag}_zero_point"], [$"{weight}_{tag}_dequantized"], axis: 0));
            renamedInputs[(n, 1)] = $"{weight}_{tag}_dequantized";
            replaced.Add(weight);

            if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
            {
                var biasName = node.Inputs[2];
                var bias = FloatTensor(parsed.Initializers.TryGetValue(biasName, out var b) ? b : throw new InvalidDataException($"Conv '{node.Name}' has no constant bias."));
                var inputScale = scales[node.Inputs[0]].Scale;
                var biasScales = new float[channels];
                var biasCodes = new int[channels];
                for (var c = 0; c < channels; c++)
                {
                    biasScales[c] = inputScale * weightScales[c];
                    biasCodes[c] = (int)Math.Clamp(Math.Round(bias.Values[c] / (double)biasScales[c], MidpointRounding.ToEven), int.MinValue, int.MaxValue);
                }

                added.Add(Tensor($"{biasName}_{tag}_quantized", Int32Type, [channels], MemoryMarshal.AsBytes(biasCodes.AsSpan()).ToArray()));
                added.Add(Tensor($"{biasName}_{tag}_scale", FloatType, [channels], MemoryMarshal.AsBytes(biasScales.AsSpan()).ToArray()));
                added.Add(Tensor($"{biasName}_{tag}_zero_point", Int32Type, [channels], new byte[4 * channels]));
                weightNodes.Add(Node("DequantizeLinear", $"{biasName}_{tag}_dq", [$"{biasName}_{tag}_quantized", $"{biasName}_{tag}_scale", $"{biasName}_{tag}_zero_point"], [$"{biasName}_{tag}_dequantized"], axis: 0));
                renamedInputs[(n, 2)] = $"{biasName}_{tag}_dequantized";
                replaced.Add(biasName);
            }
        }

        // A constant still read by a node that is not a Conv's weight or bias (none in the shipped embedders) is kept.
        var stillRead = parsed.Nodes.SelectMany((node, n) => node.Inputs.Select((input, i) => (input, n, i)))
            .Where(x => !renamedInputs.ContainsKey((x.n, x.i)))
            .Select(x => x.input)
            .ToHashSet(StringComparer.Ordinal);
        replaced.RemoveWhere(stillRead.Contains);

        var modelBytes = ReplaceGraph(model, (graph, fields, output) =>
        {
            var wroteNodes = false;
            foreach (var field in fields)
            {
                var payload = Payload(graph, field);
                switch (field.Number)
                {
                    case GraphNode when !wroteNodes:
                        wroteNodes = true;
                        foreach (var weightNode in weightNodes)
                        {
                            WriteMessage(output, GraphNode, weightNode);
                        }

                        foreach (var input in parsed.Inputs.Where(quantized.Contains))
                        {
                            WriteQdq(output, input);
                        }

                        for (var n = 0; n < parsed.Nodes.Count; n++)
                        {
                            WriteMessage(output, GraphNode, Renamed(parsed.Nodes[n], n, renamedInputs, quantized));
                            foreach (var produced in parsed.Nodes[n].Outputs.Where(quantized.Contains))
                            {
                                WriteQdq(output, produced);
                            }
                        }

                        continue;
                    case GraphNode:
                        continue;
                    case GraphInitializer when replaced.Contains(Text(payload, TensorName) ?? string.Empty):
                        continue;
                    case GraphInput when replaced.Contains(Text(payload, ValueInfoName) ?? string.Empty):
                        continue;
                    default:
                        output.Write(graph.Span[field.Start..field.End]);
                        continue;
                }
            }

            foreach (var tensor in added)
            {
                WriteMessage(output, GraphInitializer, tensor);
            }
        });
        return WithOpset(modelBytes);
    }

    /// <summary>The QDQ pair after an activation: T, T_quantized (uint8), T_dequantized, which every reader of T reads instead.</summary>
    private static void WriteQdq(Stream output, string tensor)
    {
        WriteMessage(output, GraphNode, Node("QuantizeLinear", $"{tensor}_q", [tensor, $"{tensor}_scale", $"{tensor}_zero_point"], [$"{tensor}_quantized"], axis: null));
        WriteMessage(output, GraphNode, Node("DequantizeLinear", $"{tensor}_dq", [$"{tensor}_quantized", $"{tensor}_scale", $"{tensor}_zero_point"], [$"{tensor}_dequantized"], axis: null));
    }

    private readonly record struct ActivationScale(float Scale, byte ZeroPoint);

    private static ActivationScale Activation(TensorRange range)
    {
        var scale = (range.Max - range.Min) / 255f;
        if (scale <= 0f || !float.IsFinite(scale))
        {
            return new ActivationScale(1f, 0);
        }

        return new ActivationScale(scale, (byte)Math.Clamp((int)MathF.Round(-range.Min / scale, MidpointRounding.ToEven), 0, 255));
    }

    // The node as it was, with a Conv's weight and bias inputs and every read of a quantized activation renamed.
    private static byte[] Renamed(GraphNodeInfo node, int index, Dictionary<(int Node, int Input), string> renamedInputs, HashSet<string> quantized)
    {
        using var output = new MemoryStream(node.Bytes.Length + 64);
        var fields = Parse(node.Bytes.Span);
        var input = 0;
        foreach (var field in fields)
        {
            if (field.Number == NodeInput && field.Wire == 2)
            {
                var name = node.Inputs[input];
                var renamed = renamedInputs.TryGetValue((index, input), out var r) ? r
                    : quantized.Contains(name) ? $"{name}_dequantized"
                    : name;
                WriteMessage(output, NodeInput, Encoding.UTF8.GetBytes(renamed));
                input++;
            }
            else
            {
                output.Write(node.Bytes.Span[field.Start..field.End]);
            }
        }

        return output.ToArray();
    }

    private static byte[] Node(string opType, string name, string[] inputs, string[] outputs, int? axis)
    {
        using var output = new MemoryStream();
        foreach (var input in inputs)
        {
            WriteMessage(output, NodeInput, Encoding.UTF8.GetBytes(input));
        }

        foreach (var produced in outputs)
        {
            WriteMessage(output, NodeOutput, Encoding.UTF8.GetBytes(produced));
        }

        WriteMessage(output, NodeName, Encoding.UTF8.GetBytes(name));
        WriteMessage(output, NodeOpType, Encoding.UTF8.GetBytes(opType));
        if (axis is { } a)
        {
            using var attribute = new MemoryStream();
            WriteMessage(attribute, AttributeName, "axis"u8);
            WriteVarintField(attribute, AttributeInt, (ulong)a);
            WriteVarintField(attribute, AttributeType, AttributeTypeInt);
            WriteMessage(output, NodeAttribute, attribute.ToArray());
        }

        return output.ToArray();
    }

    private static byte[] Scalar(string name, int dataType, byte[] raw) => Tensor(name, dataType, [], raw);

    private static byte[] Tensor(string name, int dataType, long[] dims, byte[] raw)
    {
        using var output = new MemoryStream(raw.Length + name.Length + 32);
        foreach (var dim in dims)
        {
            WriteVarintField(output, TensorDims, (ulong)dim);
        }

        WriteVarintField(output, TensorDataType, (ulong)dataType);
        WriteMessage(output, TensorName, Encoding.UTF8.GetBytes(name));
        WriteMessage(output, TensorRawData, raw);
        return output.ToArray();
    }

    private static byte[] FloatValueInfo(string name)
    {
        using var element = new MemoryStream();
        WriteVarintField(element, TensorTypeElement, FloatType);
        using var type = new MemoryStream();
        WriteMessage(type, TypeTensor, element.ToArray());
        using var info = new MemoryStream();
        WriteMessage(info, ValueInfoName, Encoding.UTF8.GetBytes(name));
        WriteMessage(info, ValueInfoType, type.ToArray());
        return info.ToArray();
    }

    private static void WriteVarintField(Stream output, int number, ulong value)
    {
        WriteVarint(output, (ulong)number << 3);
        WriteVarint(output, value);
    }

    private sealed record GraphNodeInfo(string OpType, string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, ReadOnlyMemory<byte> Bytes);

    private sealed record GraphInfo(IReadOnlyList<GraphNodeInfo> Nodes, IReadOnlyDictionary<string, ReadOnlyMemory<byte>> Initializers, IReadOnlyList<string> Inputs);

    private sealed record FloatValues(long[] Dims, float[] Values);

    private static GraphInfo ReadGraph(byte[] model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = GraphOf(model);
        var nodes = new List<GraphNodeInfo>();
        var initializers = new Dictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        var inputs = new List<string>();
        foreach (var field in Parse(graph.Span))
        {
            var payload = Payload(graph, field);
            switch (field.Number)
            {
                case GraphNode:
                    var nodeFields = Parse(payload.Span);
                    nodes.Add(new GraphNodeInfo(
                        Text(payload, NodeOpType) ?? string.Empty,
                        Text(payload, NodeName) ?? string.Empty,
                        Strings(payload, nodeFields, NodeInput),
                        Strings(payload, nodeFields, NodeOutput),
                        payload));
                    break;
                case GraphInitializer when Text(payload, TensorName) is { } name:
                    initializers[name] = payload;
                    break;
                case GraphInput when Text(payload, ValueInfoName) is { } name:
                    inputs.Add(name);
                    break;
            }
        }

        return new GraphInfo(nodes, initializers, inputs.Where(i => !initializers.ContainsKey(i)).ToList());
    }

    private static List<string> Strings(ReadOnlyMemory<byte> message, List<Field> fields, int number) =>
        fields.Where(f => f.Number == number && f.Wire == 2).Select(f => Encoding.UTF8.GetString(Payload(message, f).Span)).ToList();

    private static FloatValues FloatTensor(ReadOnlyMemory<byte> tensor)
    {
        var fields = Parse(tensor.Span);
        var dims = new List<long>();
        var type = 0UL;
        float[]? values = null;
        foreach (var field in fields)
        {
            switch (field.Number)
            {
                case TensorDims when field.Wire == 0:
                    dims.Add((long)field.Value);
                    break;
                case TensorDims when field.Wire == 2:
                    var packed = Payload(tensor, field).Span;
                    for (var at = 0; at < packed.Length;)
                    {
                        dims.Add((long)ReadVarint(packed, ref at));
                    }

                    break;
                case TensorDataType:
                    type = field.Value;
                    break;
                case TensorRawData:
                case TensorFloatData when field.Wire == 2:
                    values = MemoryMarshal.Cast<byte, float>(Payload(tensor, field).Span).ToArray();
                    break;
            }
        }

        if (type != FloatType || values is null || dims.Count == 0 || dims.Aggregate(1L, (a, d) => a * d) != values.Length)
        {
            throw new InvalidDataException("A Conv's weights or bias are not a float tensor this can read.");
        }

        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian.");
        }

        return new FloatValues([.. dims], values);
    }

    private static ReadOnlyMemory<byte> GraphOf(byte[] model)
    {
        var graphs = Parse(model).Where(f => f.Number == ModelGraph && f.Wire == 2).ToList();
        return graphs.Count == 1 ? model.AsMemory(graphs[0].PayloadStart, graphs[0].PayloadLength) : throw new InvalidDataException("The model has no single graph.");
    }

    private static byte[] ReplaceGraph(byte[] model, Action<ReadOnlyMemory<byte>, List<Field>, Stream> write)
    {
        var graph = GraphOf(model);
        using var graphOutput = new MemoryStream(graph.Length);
        write(graph, Parse(graph.Span), graphOutput);
        using var output = new MemoryStream(model.Length + (int)graphOutput.Length);
        foreach (var field in Parse(model))
        {
            if (field.Number == ModelGraph)
            {
                WriteMessage(output, ModelGraph, graphOutput.ToArray());
            }
            else
            {
                output.Write(model, field.Start, field.End - field.Start);
            }
        }

        return output.ToArray();
    }

    // The default domain's opset raised to 13 and the IR version to 7 where they were lower.
    private static byte[] WithOpset(byte[] model)
    {
        using var output = new MemoryStream(model.Length);
        foreach (var field in Parse(model))
        {
            var payload = model.AsMemory(field.PayloadStart, field.PayloadLength);
            if (field.Number == ModelIrVersion && field.Wire == 0)
            {
                WriteVarintField(output, ModelIrVersion, Math.Max(field.Value, QdqIrVersion));
            }
            else if (field.Number == ModelOpset && field.Wire == 2 && string.IsNullOrEmpty(Text(payload, OpsetDomain)))
            {
                var version = Parse(payload.Span).FirstOrDefault(f => f.Number == OpsetVersion && f.Wire == 0).Value;
                using var opset = new MemoryStream();
                WriteVarintField(opset, OpsetVersion, Math.Max(version, QdqOpset));
                WriteMessage(output, ModelOpset, opset.ToArray());
            }
            else
            {
                output.Write(model, field.Start, field.End - field.Start);
            }
        }

        return output.ToArray();
    }

    /// <summary>The min/max of every activation over the chips, from one run per chip of the graph with those activations as outputs.</summary>
    public static Dictionary<string, TensorRange> Calibration(byte[] model, IEnumerable<float[]> inputs, long[] inputShape, SessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var activations = Activations(model);
        using var session = new InferenceSession(WithOutputs(model, activations), options);
        var inputName = session.InputNames[0];
        var ranges = new Dictionary<string, TensorRange>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            using var value = OrtValue.CreateTensorValueFromMemory(input, inputShape);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, [inputName], [value], activations.ToArray());
            for (var i = 0; i < activations.Count; i++)
            {
                var data = outputs[i].GetTensorDataAsSpan<float>();
                var range = new TensorRange(float.MaxValue, float.MinValue);
                foreach (var x in data)
                {
                    range = new TensorRange(Math.Min(range.Min, x), Math.Max(range.Max, x));
                }

                ranges[activations[i]] = ranges.TryGetValue(activations[i], out var seen) ? seen.Union(range) : range;
            }
        }

        return ranges;
    }
}
