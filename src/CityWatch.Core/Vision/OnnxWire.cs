using System.Text;

namespace CityWatch.Vision;

/// <summary>
/// The protobuf wire format as the ONNX graph rewrites (<see cref="BatchGraph"/>, <see cref="QuantizedGraph"/>) read and
/// write it: fields parsed in place (offsets into the message), messages written with their key and length. No ONNX
/// schema package is used: the rewrites touch a few dozen field numbers of onnx.proto, and the weights are copied or
/// changed byte for byte.
/// </summary>
internal static class OnnxWire
{
    public static ReadOnlyMemory<byte> Payload(ReadOnlyMemory<byte> message, Field field) =>
        field.Wire == 2 ? message.Slice(field.PayloadStart, field.PayloadLength) : ReadOnlyMemory<byte>.Empty;

    public static string? Text(ReadOnlyMemory<byte> message, int number)
    {
        var field = Parse(message.Span).FirstOrDefault(f => f.Number == number && f.Wire == 2);
        return field.End == 0 ? null : Encoding.UTF8.GetString(message.Span.Slice(field.PayloadStart, field.PayloadLength));
    }

    public static void WriteMessage(Stream output, int number, ReadOnlySpan<byte> payload)
    {
        WriteVarint(output, ((ulong)number << 3) | 2);
        WriteVarint(output, (ulong)payload.Length);
        output.Write(payload);
    }

    public static void WriteVarint(Stream output, ulong value)
    {
        while (value >= 0x80)
        {
            output.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        output.WriteByte((byte)value);
    }

    // Start..End: the whole field (key and value); Payload*: a length-delimited field's bytes; Value: a varint's.
    public readonly record struct Field(int Number, int Wire, int Start, int End, int PayloadStart, int PayloadLength, ulong Value);

    public static List<Field> Parse(ReadOnlySpan<byte> message)
    {
        var fields = new List<Field>();
        var at = 0;
        while (at < message.Length)
        {
            var start = at;
            var key = ReadVarint(message, ref at);
            var number = (int)(key >> 3);
            var wire = (int)(key & 7);
            switch (wire)
            {
                case 0:
                    var value = ReadVarint(message, ref at);
                    fields.Add(new Field(number, wire, start, at, 0, 0, value));
                    break;
                case 1:
                    at += 8;
                    fields.Add(new Field(number, wire, start, at, 0, 0, 0));
                    break;
                case 2:
                    var length = ReadVarint(message, ref at);
                    if (length > (ulong)(message.Length - at))
                    {
                        throw new InvalidDataException("A field runs past its message.");
                    }

                    var payload = at;
                    at += (int)length;
                    fields.Add(new Field(number, wire, start, at, payload, (int)length, 0));
                    break;
                case 5:
                    at += 4;
                    fields.Add(new Field(number, wire, start, at, 0, 0, 0));
                    break;
                default:
                    throw new InvalidDataException($"Wire type {wire} is not in onnx.proto.");
            }

            if (at > message.Length || number == 0)
            {
                throw new InvalidDataException("A field runs past its message.");
            }
        }

        return fields;
    }

    public static ulong ReadVarint(ReadOnlySpan<byte> message, ref int at)
    {
        var value = 0UL;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (at >= message.Length)
            {
                throw new InvalidDataException("A varint runs past its message.");
            }

            var b = message[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new InvalidDataException("A varint is too long.");
    }
}
