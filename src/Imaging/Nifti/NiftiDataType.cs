namespace GuidedNet.Imaging.Nifti;

/// <summary>NIfTI-1 <c>datatype</c> codes this library reads and writes.</summary>
public enum NiftiDataType : short
{
    UInt8 = 2,
    Int16 = 4,
    Int32 = 8,
    Float32 = 16,
    Float64 = 64,
    Int8 = 256,
    UInt16 = 512,
    UInt32 = 768,
    Int64 = 1024,
}

public static class NiftiDataTypeExtensions
{
    public static int BytesPerVoxel(this NiftiDataType type) => type switch
    {
        NiftiDataType.UInt8 or NiftiDataType.Int8 => 1,
        NiftiDataType.Int16 or NiftiDataType.UInt16 => 2,
        NiftiDataType.Int32 or NiftiDataType.UInt32 or NiftiDataType.Float32 => 4,
        NiftiDataType.Float64 or NiftiDataType.Int64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported NIfTI datatype"),
    };

    public static bool IsSupported(short code) => Enum.IsDefined(typeof(NiftiDataType), code);

    public static bool IsInteger(this NiftiDataType type) =>
        type is not (NiftiDataType.Float32 or NiftiDataType.Float64);

    /// <summary>Smallest and largest value the type can store.</summary>
    public static (double Min, double Max) Range(this NiftiDataType type) => type switch
    {
        NiftiDataType.UInt8 => (byte.MinValue, byte.MaxValue),
        NiftiDataType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        NiftiDataType.Int16 => (short.MinValue, short.MaxValue),
        NiftiDataType.UInt16 => (ushort.MinValue, ushort.MaxValue),
        NiftiDataType.Int32 => (int.MinValue, int.MaxValue),
        NiftiDataType.UInt32 => (uint.MinValue, uint.MaxValue),
        NiftiDataType.Int64 => (long.MinValue, long.MaxValue),
        _ => (double.NegativeInfinity, double.PositiveInfinity),
    };
}
