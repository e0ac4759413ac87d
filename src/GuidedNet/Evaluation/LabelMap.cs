namespace GuidedNet.Evaluation;

/// <summary>Label maps as the metrics take them.</summary>
public static class LabelMap
{
    /// <summary>NIfTI voxels → integer labels; anything but a non-negative integer is an error naming the file and voxel.</summary>
    public static int[] ToLabels(float[] voxels, string file)
    {
        var labels = new int[voxels.Length];
        for (int i = 0; i < voxels.Length; i++)
        {
            float v = voxels[i];
            if (!(v >= 0) || v != MathF.Round(v) || v > 65535)
                throw new InvalidDataException($"{file}: voxel {i} has value {v}; a label map holds non-negative integers");
            labels[i] = (int)v;
        }
        return labels;
    }
}
