using System.Text.Json;
using System.Text.Json.Serialization;

namespace GuidedNet.Models;

/// <summary>
/// What <c>predict</c> needs to use a model correctly, stored beside the weights in a model file
/// (<c>model.json</c>).
/// </summary>
public sealed record ModelMetadata
{
    public int FormatVersion { get; init; } = 1;
    public int NumClasses { get; init; }
    public int BaseChannels { get; init; } = 16;

    /// <summary>Class names by label value (index 0 is background).</summary>
    public string[]? ClassNames { get; init; }

    /// <summary>Preset name: flare22, amos or none.</summary>
    public string Preset { get; init; } = "none";

    /// <summary>Target spacing (x, y, z) in mm; null means the scans' own spacing.</summary>
    public double[]? TargetSpacing { get; init; }

    /// <summary>Clip low, clip high, mean, standard deviation; null means no intensity change.</summary>
    public double[]? Normalization { get; init; }

    /// <summary>Patch size (D, H, W) the model was trained with; a good default for prediction.</summary>
    public int[] Patch { get; init; } = { 64, 128, 128 };

    /// <summary>How many networks the file holds (GuidedNet trains two; predict uses the first).</summary>
    public int Networks { get; init; } = 1;

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
