using System.Diagnostics;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Preprocessing;
using GuidedNet.Models;
using static TorchSharp.torch;

namespace GuidedNet.Inference;

/// <summary>A scan's mask in the scan's own grid, with where the time went.</summary>
/// <param name="PostProcessedVoxels">Voxels the model's post-processing set to background (islands of its classes).</param>
/// <param name="SkippedWindows">Windows fast mode did not compute because they lay outside the body (<see cref="Body"/>).</param>
/// <param name="Body">The body's box in the model grid when fast mode looked for it; null otherwise or when none was found.</param>
public sealed record CasePrediction(Volume Mask, int Windows, TimeSpan Preprocessing, TimeSpan Model, TimeSpan Restoring, long PostProcessedVoxels = 0,
    int SkippedWindows = 0, VoxelBox? Body = null);

/// <summary>
/// Whole-scan prediction: preprocess with the model's plan, sliding-window prediction in the
/// model grid, the exact inverse back onto the scan's grid and affine, then the model's
/// post-processing (<see cref="LargestComponentPostProcessing"/>) unless switched off.
/// </summary>
public sealed class CasePredictor
{
    private readonly LoadedModel _model;
    private readonly CasePreprocessor _preprocessor;
    private readonly SlidingWindowPredictor _predictor;
    private readonly int[] _keepLargest;
    private readonly bool _findBody;

    /// <param name="postProcess">Apply the post-processing the model's validation chose (the default).</param>
    public CasePredictor(LoadedModel model, Device device, SlidingWindowOptions options, PreprocessingPlan plan, bool postProcess = true)
    {
        _keepLargest = postProcess ? model.Metadata.KeepLargestComponent ?? [] : [];
        if (model.Metadata.NumClasses > 256) throw new ArgumentException("masks are written as uint8: at most 256 classes");
        _model = model;
        _preprocessor = new CasePreprocessor(plan);
        _predictor = new SlidingWindowPredictor(model.Networks, device, options);
        _findBody = options.Coverage != WindowCoverage.WholeVolume;
    }

    public PreprocessingPlan Plan => _preprocessor.Plan;

    /// <param name="name">Names the scan in errors.</param>
    public CasePrediction Predict(Volume scan, string name, IProgress<SlidingWindowProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        if (scan.SizeX < 2 || scan.SizeY < 2 || scan.SizeZ < 2)
            throw new ArgumentException($"{name}: a {scan.SizeX}x{scan.SizeY}x{scan.SizeZ} image is not a 3D volume");
        if (scan.Voxels.Any(v => !float.IsFinite(v)))
            throw new ArgumentException($"{name}: the image contains NaN or infinite voxels");

        var clock = Stopwatch.StartNew();
        var prepared = _preprocessor.Prepare(scan);
        // Reading and preprocessing a clinical CT leave ~1 GB of dead arrays on the large-object
        // heap (decompressed bytes, reoriented and resampled copies), which no allocation of the
        // window loop would trigger a collection for: they would sit beside the network's
        // activations for the whole prediction. Returned now, they cost a few milliseconds.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var preprocessing = clock.Elapsed;

        var image = prepared.Image;
        var body = _findBody ? BodyRegion.Find(image.Voxels, image.SizeZ, image.SizeY, image.SizeX, BodyRegion.NormalizedThreshold(Plan)) : null;
        var result = _predictor.Predict(image.Voxels, image.SizeZ, image.SizeY, image.SizeX, false, progress, cancellation, body);
        // The windows' activations, kept by the allocator for reuse, would otherwise stay beside the
        // restoring below (three copies of the mask at the scan's size for a CT).
        Runtime.NativeAllocator.ReleaseFreeMemory();
        var model = clock.Elapsed - preprocessing;

        var mask = prepared.LabelsToOriginal(result.Labels.Select(b => (float)b).ToArray());
        long removed = _keepLargest.Length == 0 ? 0 : LargestComponentPostProcessing.Apply(mask.Voxels, mask.SizeZ, mask.SizeY, mask.SizeX, _keepLargest);
        var restoring = clock.Elapsed - preprocessing - model;
        return new CasePrediction(mask, result.Windows, preprocessing, model, restoring, removed, result.SkippedWindows, body);
    }
}
