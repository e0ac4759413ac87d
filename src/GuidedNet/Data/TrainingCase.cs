namespace GuidedNet.Data;

/// <summary>A preprocessed case in memory: image and optional labels in (z, y, x) C order.</summary>
public sealed class TrainingCase
{
    public TrainingCase(string name, int depth, int height, int width, float[] image, byte[]? labels)
    {
        if (image.LongLength != (long)depth * height * width) throw new ArgumentException($"{name}: image does not fill {depth}x{height}x{width}");
        if (labels is not null && labels.LongLength != image.LongLength) throw new ArgumentException($"{name}: labels and image differ in size");
        Name = name;
        Depth = depth;
        Height = height;
        Width = width;
        Image = image;
        Labels = labels;
    }

    public string Name { get; }
    public int Depth { get; }
    public int Height { get; }
    public int Width { get; }
    public float[] Image { get; }
    public byte[]? Labels { get; }

    /// <summary>The same case without its labels (a labeled case used as unlabeled).</summary>
    public TrainingCase WithoutLabels() => new(Name, Depth, Height, Width, Image, null);
}
