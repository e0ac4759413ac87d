using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace GuidedNet.Imaging.Numpy;

/// <summary>A NumPy <c>.npy</c> array read as doubles, with its shape (C order, little-endian only).
/// The authors' preprocessing stores prepared volumes as NumPy arrays in (z, y, x) order.</summary>
public sealed record NpyArray(long[] Shape, string Dtype, double[] Values)
{
    public float[] AsFloat() => Values.Select(v => (float)v).ToArray();
    public int[] AsInt() => Values.Select(v => (int)v).ToArray();
    public long Count => Values.LongLength;
}

public static class Npy
{
    public static NpyArray Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            throw new InvalidDataException($"{path}: not a .npy file");
        int major = bytes[6];
        int headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)) : BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8));
        int dataStart = (major == 1 ? 10 : 12) + headerLength;
        string header = Encoding.ASCII.GetString(bytes, major == 1 ? 10 : 12, headerLength);
        string dtype = Regex.Match(header, @"'descr':\s*'([^']+)'").Groups[1].Value;
        if (Regex.IsMatch(header, @"'fortran_order':\s*True")) throw new InvalidDataException($"{path}: Fortran order is not supported");
        var shape = Regex.Match(header, @"'shape':\s*\(([^)]*)\)").Groups[1].Value
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var data = bytes.AsSpan(dataStart);
        var values = new double[count];
        for (long i = 0; i < count; i++)
        {
            int k = (int)i;
            values[i] = dtype switch
            {
                "<f4" => BinaryPrimitives.ReadSingleLittleEndian(data[(4 * k)..]),
                "<f8" => BinaryPrimitives.ReadDoubleLittleEndian(data[(8 * k)..]),
                "<i8" => BinaryPrimitives.ReadInt64LittleEndian(data[(8 * k)..]),
                "<i4" => BinaryPrimitives.ReadInt32LittleEndian(data[(4 * k)..]),
                "|u1" => data[k],
                "|b1" => data[k],
                _ => throw new InvalidDataException($"{path}: dtype {dtype} is not supported"),
            };
        }
        return new NpyArray(shape, dtype, values);
    }
}
