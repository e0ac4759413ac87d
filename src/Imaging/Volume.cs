using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.Imaging;

/// <summary>
/// A 3D image: voxel values, size and the voxel-to-world affine.
/// Voxels are stored with x fastest (index = x + SizeX * (y + SizeY * z)), which is NIfTI's
/// on-disk order and the C order of a (z, y, x) array — the layout of the reference's
/// SimpleITK arrays and of our network input.
/// </summary>
public sealed class Volume
{
    public Volume(int sizeX, int sizeY, int sizeZ, float[] voxels, Affine affine, NiftiHeader? sourceHeader = null)
    {
        if (sizeX <= 0 || sizeY <= 0 || sizeZ <= 0)
            throw new ArgumentException($"volume size must be positive, got {sizeX}x{sizeY}x{sizeZ}");
        if (voxels.LongLength != (long)sizeX * sizeY * sizeZ)
            throw new ArgumentException($"{voxels.LongLength} voxels do not fill {sizeX}x{sizeY}x{sizeZ}");
        SizeX = sizeX;
        SizeY = sizeY;
        SizeZ = sizeZ;
        Voxels = voxels;
        Affine = affine;
        SourceHeader = sourceHeader;
    }

    public int SizeX { get; }
    public int SizeY { get; }
    public int SizeZ { get; }
    public float[] Voxels { get; }
    public Affine Affine { get; }

    /// <summary>Header of the file this volume came from, reused when writing results in its geometry.</summary>
    public NiftiHeader? SourceHeader { get; }

    public long VoxelCount => (long)SizeX * SizeY * SizeZ;
    public Vector3d Spacing => Affine.Spacing;

    public float this[int x, int y, int z]
    {
        get => Voxels[x + (long)SizeX * (y + (long)SizeY * z)];
        set => Voxels[x + (long)SizeX * (y + (long)SizeY * z)] = value;
    }

    /// <summary>A volume with the same grid and geometry but other voxel values.</summary>
    public Volume WithVoxels(float[] voxels) => new(SizeX, SizeY, SizeZ, voxels, Affine, SourceHeader);

    public bool SameGrid(Volume other) => SizeX == other.SizeX && SizeY == other.SizeY && SizeZ == other.SizeZ;

    public override string ToString() => $"{SizeX}x{SizeY}x{SizeZ} voxels, spacing {Spacing} mm";
}
