using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using GuidedNet.Imaging;
using GuidedNet.Data;
using GuidedNet.Evaluation;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Network;
using GuidedNet.Runtime;
using GuidedNet.Training.Losses;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace GuidedNet.Training;

/// <summary>One line of progress: where the run is and how it goes.</summary>
public sealed record TrainingProgress(int Iteration, int Total, IReadOnlyDictionary<string, double> Losses, double LearningRate,
    double IterationsPerSecond, TimeSpan Remaining, double? LastValidationDice);

/// <param name="FastMode">what the kept model's validation cases decided <c>--fast</c> takes (<see cref="FastModeCalibration"/>); null when not calibrated</param>
public sealed record TrainingResult(string ModelPath, int Iterations, double? BestMeanDice, int BestIteration, bool Completed, FastModeDecision? FastMode = null);

/// <summary>
/// Semi-supervised training (reference README §2): two 3D U-Nets initialised differently
/// (Kaiming / Xavier normal), SGD (momentum 0.9, weight decay 1e-4) with poly learning-rate decay,
/// half-labeled batches, the full GuidedNet loss — or the supervised and plain-CPS baselines.
/// Validates every N iterations on held-out cases and keeps the best; checkpoints atomically every
/// N iterations and on cancellation; a resumed run continues with identical state.
/// </summary>
public sealed class Trainer : IDisposable
{
    public const string CheckpointFile = "checkpoint.zip";
    public const string ModelFileName = "model.guidednet";

    private readonly TrainingOptions _options;
    private readonly TrainingData _data;
    private readonly Device _device;
    private readonly string _folder;
    private readonly IReadOnlyDictionary<int, string> _classNames;
    private readonly UNet3D _net1;
    private readonly UNet3D? _net2;
    // bf16 training: the networks that compute the step, refreshed from _net1/_net2 (the fp32 masters) before each.
    private readonly UNet3D? _work1, _work2;
    private readonly SGD _opt1;
    private readonly SGD? _opt2;
    private readonly KtCpsWeights _kt;
    private readonly GuidedNetLoss _loss;
    private TrainingHistory _history = new();
    private int _iteration;

    public Trainer(TrainingOptions options, TrainingData data, Device device, string folder, IReadOnlyDictionary<int, string> classNames)
    {
        options.Validate();
        _options = options;
        _data = data;
        _device = device;
        _folder = folder;
        _classNames = classNames;
        Directory.CreateDirectory(folder);

        manual_seed(options.Seed);
        _net1 = Initialise(new UNet3D(data.NumClasses, options.BaseChannels), kaiming: true);
        _opt1 = Optimiser(_net1);
        if (options.Mode != TrainingMode.Supervised)
        {
            _net2 = Initialise(new UNet3D(data.NumClasses, options.BaseChannels), kaiming: false);
            _opt2 = Optimiser(_net2);
        }
        switch (options.Precision)
        {
            case "tf32":
                if (device.type != DeviceType.CUDA)
                    throw new TrainingSettingException("precision", "tf32 is a CUDA format: on the CPU train in fp32 or bf16");
                backends.cuda.matmul.allow_tf32 = true;
                backends.cudnn.allow_tf32 = true;
                break;
            case "bf16":
                _work1 = WorkingCopy(_net1);
                if (_net2 is not null) _work2 = WorkingCopy(_net2);
                break;
        }
        var histogram = new double[data.NumClasses];
        foreach (var c in data.Labeled)
            foreach (byte v in c.ReadLabels())
            {
                if (v >= histogram.Length) throw new ArgumentException($"{c.Name}: label {v} is beyond the {data.NumClasses} classes (0..{data.NumClasses - 1})");
                histogram[v]++;
            }
        _kt = new KtCpsWeights(histogram);
        _loss = new GuidedNetLoss(data.NumClasses, options.Lambda, options.Consistency, options.RampupIterations);
    }

    public int Iteration => _iteration;

    /// <summary>What training.json records: losses, validations, the best iteration.</summary>
    public TrainingHistory History => _history;

    private UNet3D Initialise(UNet3D network, bool kaiming)
    {
        using (no_grad())
            foreach (var module in network.modules())
                if (module is Conv3d conv)
                {
                    if (kaiming) nn.init.kaiming_normal_(conv.weight, 0, nn.init.FanInOut.FanIn, nn.init.NonlinearityType.LeakyReLU);
                    else nn.init.xavier_normal_(conv.weight);
                }
        network.to(_device);
        network.train();
        return network;
    }

    /// <summary>A bf16 network of the master's shape (<see cref="UNet3D.ToLowPrecision"/>: some convolutions and every norm stay fp32).</summary>
    private UNet3D WorkingCopy(UNet3D master)
    {
        var copy = new UNet3D(master.NumClasses, master.BaseChannels, master.InChannels);
        copy.to(_device);
        copy.ToLowPrecision(ScalarType.BFloat16);
        copy.train();
        return copy;
    }

    /// <summary>The master weights into the working copy (rounded to its formats), its gradients cleared.</summary>
    private static void Refresh(UNet3D working, UNet3D master)
    {
        using var _ = no_grad();
        foreach (var (w, m) in working.parameters().Zip(master.parameters()))
        {
            w.copy_(m);
            w.grad = null;
        }
    }

    /// <summary>The working copy's gradients, in fp32, onto the master's parameters (where the optimiser reads them).</summary>
    private static void TakeGradients(UNet3D master, UNet3D working)
    {
        using var _ = no_grad();
        foreach (var (m, w) in master.parameters().Zip(working.parameters()))
            m.grad = w.grad is { } g ? g.to(ScalarType.Float32) : null;
    }

    private SGD Optimiser(UNet3D network) =>
        optim.SGD(network.parameters(), _options.BaseLearningRate, _options.Momentum, 0, _options.WeightDecay);

    /// <summary>Trains until the iteration budget or cancellation (which checkpoints first).</summary>
    public TrainingResult Run(bool resume, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (resume) LoadCheckpoint();
        var clock = Stopwatch.StartNew();
        double previousWall = _history.WallSeconds, previousWait = _history.LoaderWaitSeconds;
        int startIteration = _iteration;
        var sampler = new PatchSampler(_data.Labeled, _data.Unlabeled, _options.Patch, _options.LabeledBatchSize, _options.UnlabeledBatchSize, _options.Seed,
            _options.ForegroundFraction, _options.Augmentation);
        using var prefetcher = new BatchPrefetcher(sampler, _iteration, _options.Iterations);
        bool completed = true;
        while (_iteration < _options.Iterations)
        {
            if (cancellation.IsCancellationRequested)
            {
                completed = false;
                break;
            }
            var batch = prefetcher.Next();
            Dictionary<string, double> losses;
            try
            {
                losses = Step(batch);
            }
            catch (Exception e) when (e is not (TrainingDivergedException or OperationCanceledException or OutOfMemoryException))
            {
                // libtorch's errors arrive as ExternalException with a C++ backtrace; the run's log and the
                // job's status need the iteration and the first line.
                throw new TrainingStepException(batch.Iteration + 1, e);
            }
            _iteration++;
            double lr = Schedules.PolyLearningRate(_options.BaseLearningRate, _iteration, _options.Iterations);
            SetLearningRate(lr);
            _history.Iterations.Add(new IterationRecord(_iteration, lr, losses, previousWall + clock.Elapsed.TotalSeconds));

            if (_data.Validation.Count > 0 && (_iteration % _options.ValidateEvery == 0 || _iteration == _options.Iterations)) Validate();
            _history.WallSeconds = previousWall + clock.Elapsed.TotalSeconds;
            _history.LoaderWaitSeconds = previousWait + prefetcher.Waited.TotalSeconds;
            if (_iteration % _options.CheckpointEvery == 0) SaveCheckpoint();

            double rate = (_iteration - startIteration) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            progress?.Report(new TrainingProgress(_iteration, _options.Iterations, losses, lr, rate,
                TimeSpan.FromSeconds((_options.Iterations - _iteration) / Math.Max(1e-9, rate)), _history.Validations.LastOrDefault()?.MeanDice));
        }
        _history.WallSeconds = previousWall + clock.Elapsed.TotalSeconds;
        SaveCheckpoint();
        string model = Path.Combine(_folder, ModelFileName);
        if (completed)
        {
            // Without validation cases there is nothing to select on: the final networks are the model.
            string best = Path.Combine(_folder, "best.guidednet");
            if (_data.Validation.Count == 0 || !File.Exists(best)) SaveModel(model);
            else if (_options.CalibrateFastMode) CalibrateFastMode(best, model);
            else File.Copy(best, model, overwrite: true);
        }
        WriteHistory();
        return new TrainingResult(model, _iteration, _history.BestMeanDice, _history.BestIteration, completed, _history.FastMode);
    }

    /// <summary>Computations of one step before its gradients count as diverged (the first and one recomputation).</summary>
    private const int StepAttempts = 2;

    /// <summary>
    /// One optimisation step; returns the loss terms by name. Gradients that come back non-finite
    /// are computed again from the same state (the iteration's dropout seed and KT-CPS weights
    /// restored): libtorch's oneDNN backward returns NaN now and then on this machine kind
    /// (docs/performance.md, "Numerical faults"), and a recomputation gives the values a clean
    /// step gives. A state that is really diverged is non-finite every time: after <see cref="StepAttempts"/> computations training stops naming the iteration and
    /// the terms, instead of going on with networks that are NaN. training.json counts the recomputations.
    /// </summary>
    private Dictionary<string, double> Step(TrainingBatch batch)
    {
        // The batch is copied into tensors once per attempt (images float32, labels int64).
        using var noCollections = CollectionFreeSection.Enter(CollectionFreeSection.DefaultBudgetBytes + 2L * 12 * batch.Labels.LongLength);
        var kt = _kt.Weights;
        Dictionary<string, double> values;
        for (int attempt = 1; ; attempt++)
        {
            values = ComputeGradients(batch);
            if (GradientsAreFinite()) break;
            if (attempt == StepAttempts)
                throw new TrainingDivergedException(
                    $"training diverged at iteration {batch.Iteration + 1}: the gradients are not finite twice in a row " +
                    $"(loss terms: {string.Join(", ", values.Select(v => $"{v.Key} {v.Value:G4}"))}); a smaller learning rate or a larger patch or width may help");
            _history.RecomputedSteps++;
            _kt.Restore(kt);
        }
        _opt1.step();
        _opt2?.step();
        return values;
    }

    private bool GradientsAreFinite()
    {
        foreach (var network in new UNet3D?[] { _net1, _net2 })
            if (network is not null)
                foreach (var p in network.parameters())
                    if (p.grad is { } g && !g.isfinite().all().item<bool>()) return false;
        return true;
    }

    /// <summary>Forward, loss and backward of one batch: the gradients are left on the parameters.</summary>
    private Dictionary<string, double> ComputeGradients(TrainingBatch batch)
    {
        using var scope = NewDisposeScope();
        // Dropout draws from libtorch's process-wide generator: seed it per iteration so resumed
        // runs match. Nothing else in the process may draw from it meanwhile (one trainer per process).
        manual_seed(new DeterministicRandom(_options.Seed, 99, batch.Iteration).Next(int.MaxValue));
        var p = batch.Patch;
        var x = tensor(batch.Images, new long[] { batch.Size, 1, p[0], p[1], p[2] }).to(_device);
        var y = tensor(batch.Labels, new long[] { batch.Size, p[0], p[1], p[2] }).to(_device);
        if (_work1 is not null)
        {
            Refresh(_work1, _net1);
            if (_work2 is not null) Refresh(_work2, _net2!);
        }
        var (logits1, features1) = Forward(_work1 ?? _net1, x);

        // What backward starts from: the loss, or (GuidedNet) the outputs with the loss's gradients.
        Tensor[] roots;
        Tensor[]? rootGradients = null;
        Dictionary<string, double> values;
        switch (_options.Mode)
        {
            case TrainingMode.Supervised:
            {
                var (sup, _, _) = SupervisedLoss.Compute(logits1, y);
                roots = new[] { sup };
                values = new Dictionary<string, double> { ["total"] = sup.item<float>(), ["sup1"] = sup.item<float>() };
                break;
            }
            case TrainingMode.Cps:
            {
                var (logits2, _) = Forward(_work2 ?? _net2!, x);
                var l = TensorIndex.Slice(0, batch.Labeled);
                var (sup1, _, _) = SupervisedLoss.Compute(logits1[l], y[l]);
                var (sup2, _, _) = SupervisedLoss.Compute(logits2[l], y[l]);
                var cps = nn.functional.cross_entropy(logits1, Reductions.ArgMax(logits2.detach(), 1)) + nn.functional.cross_entropy(logits2, Reductions.ArgMax(logits1.detach(), 1));
                double w = Schedules.ConsistencyWeight(batch.Iteration, _options.Consistency, _options.RampupIterations);
                var total = sup1 + sup2 + cps.Times(w);
                roots = new[] { total };
                values = new Dictionary<string, double>
                {
                    ["total"] = total.item<float>(), ["sup1"] = sup1.item<float>(), ["sup2"] = sup2.item<float>(), ["cps"] = cps.item<float>(),
                };
                break;
            }
            default:
            {
                var (logits2, features2) = Forward(_work2 ?? _net2!, x);
                var step = _loss.Compute(logits1, features1, logits2, features2, y, batch.Labeled, _kt, batch.Iteration);
                roots = new[] { logits1, features1, logits2, features2 };
                rootGradients = new[] { step.GradLogits1, step.GradFeatures1, step.GradLogits2, step.GradFeatures2 };
                values = new Dictionary<string, double>(step.Values);
                break;
            }
        }
        _opt1.zero_grad();
        _opt2?.zero_grad();
        autograd.backward(roots, rootGradients);
        if (_work1 is not null)
        {
            TakeGradients(_net1, _work1);
            if (_work2 is not null) TakeGradients(_net2!, _work2);
        }
        return values;
    }

    /// <summary>A network's outputs in fp32 (a bf16 working copy's are converted; the conversion is part of the graph).</summary>
    private static (Tensor Logits, Tensor Features) Forward(UNet3D network, Tensor x)
    {
        var type = network.InputType;
        if (type == ScalarType.Float32) return network.forward(x);
        var (logits, features) = network.forward(x.to(type));
        return (logits.to(ScalarType.Float32), features.to(ScalarType.Float32));
    }

    private void SetLearningRate(double lr)
    {
        foreach (var g in _opt1.ParamGroups) g.LearningRate = lr;
        if (_opt2 is not null) foreach (var g in _opt2.ParamGroups) g.LearningRate = lr;
    }

    /// <summary>
    /// Sliding-window Dice of each network on the validation cases. The better network's Dice is the
    /// validation's (ties go to network 1); the best validation so far keeps its model, with that
    /// network as the one predict uses.
    /// </summary>
    private void Validate()
    {
        var networks = _net2 is null ? new[] { _net1 } : new[] { _net1, _net2 };
        // Read once for both networks (cached cases come from disk); each image is read per network
        // instead, so that only one validation image is held at a time.
        var truths = _data.Validation.Select(c => c.ReadLabels()).ToList();
        var scores = networks.Select(n => ValidateNetwork(n, truths)).ToList();
        int best = 0;
        for (int n = 1; n < scores.Count; n++)
            if (scores[n].Mean is { } dice && (scores[best].Mean is not { } current || dice > current)) best = n;
        var record = new ValidationRecord(_iteration, scores[best].Mean, scores[best].ByClass, best + 1, scores.Select(s => s.Mean).ToArray());
        if (_history.Record(record))
        {
            // The kept model's post-processing is decided on its own validation predictions.
            var keep = LargestComponentPostProcessing.Decide(scores[best].Predictions, _data.NumClasses);
            _history.KeepLargestComponent = keep.Select(ClassName).ToArray();
            SaveModel(Path.Combine(_folder, "best.guidednet"), preferredNetwork: best + 1, keepLargestComponent: keep);
        }
        WriteHistory();
    }

    /// <summary>Mean Dice over classes (each class averaged over the cases that have it) and Dice by class name.</summary>
    private (double? Mean, Dictionary<string, double?> ByClass, List<LargestComponentPostProcessing.ValidationCase> Predictions) ValidateNetwork(
        UNet3D network, List<byte[]> truths)
    {
        network.eval();
        var predictor = new SlidingWindowPredictor(network, _device, new SlidingWindowOptions { Patch = _options.Patch, Overlap = 0.5 });
        var predictions = _data.Validation.Zip(truths, (c, truth) => new LargestComponentPostProcessing.ValidationCase(
            predictor.Predict(c.ReadImage(), c.Depth, c.Height, c.Width).Labels, truth, c.Depth, c.Height, c.Width)).ToList();
        var perCase = predictions.Select(p => DiceScore.ByClass(p.Predicted, p.Truth, _data.NumClasses)).ToList();
        network.train();
        var byClass = new Dictionary<string, double?>();
        var classMeans = new List<double>();
        for (int k = 1; k < _data.NumClasses; k++)
        {
            var values = perCase.Select(d => d[k - 1]).Where(v => v.HasValue).Select(v => v!.Value).ToList();
            double? mean = values.Count > 0 ? values.Average() : null;
            byClass[_classNames.TryGetValue(k, out var n) ? n : k.ToString(System.Globalization.CultureInfo.InvariantCulture)] = mean;
            if (mean.HasValue) classMeans.Add(mean.Value);
        }
        return (classMeans.Count > 0 ? classMeans.Average() : null, byClass, predictions);
    }

    /// <summary>
    /// Writes the kept model as the model, with the fast parts its validation cases allow
    /// (<see cref="FastModeCalibration"/>), predicted as the worker predicts (Gaussian weighting,
    /// the preferred network). Run again on a resumed finished run, it decides the same.
    /// </summary>
    private void CalibrateFastMode(string best, string model)
    {
        using var kept = ModelFile.Load(best, _device);
        var exact = new SlidingWindowOptions { Patch = _options.Patch, Gaussian = true };
        float? air = BodyRegion.NormalizedThreshold(_data.Plan);
        // Each case is predicted under every candidate in turn: its image and body are read once, and only one case's are held.
        (TrainingCase Case, float[] Image, VoxelBox? Body)? current = null;
        var decision = FastModeCalibration.Decide(_data.Validation, _data.NumClasses, c => c.ReadLabels(), (mode, c) =>
        {
            if (current is not { } held || !ReferenceEquals(held.Case, c))
            {
                var read = c.ReadImage();
                current = (c, read, BodyRegion.Find(read, c.Depth, c.Height, c.Width, air));
            }
            var (_, image, body) = current.Value;
            var options = mode.Apply(exact, _device);
            var result = new SlidingWindowPredictor(kept.Networks, _device, options)
                .Predict(image, c.Depth, c.Height, c.Width, region: options.Coverage == WindowCoverage.WholeVolume ? null : body);
            return (result.Labels, result.Windows - result.SkippedWindows);
        });
        _history.FastMode = decision;
        ModelFile.Rewrite(best, model, m => m with { FastParts = decision.Chosen });
    }

    private string ClassName(int k) => _classNames.TryGetValue(k, out var n) ? n : $"class_{k}";

    private void SaveModel(string path, int preferredNetwork = 1, int[]? keepLargestComponent = null)
    {
        var plan = _data.Plan;
        var metadata = new ModelMetadata
        {
            NumClasses = _data.NumClasses,
            BaseChannels = _options.BaseChannels,
            ClassNames = Enumerable.Range(0, _data.NumClasses).Select(ClassName).ToArray(),
            Preset = plan.Name,
            TargetSpacing = plan.TargetSpacing is { } s ? new[] { s.X, s.Y, s.Z } : null,
            Normalization = plan.Normalization is { } n ? new[] { n.ClipLow, n.ClipHigh, n.Mean, n.StandardDeviation } : null,
            NormalizationScheme = plan.NormalizationScheme,
            Patch = _options.Patch,
            PreferredNetwork = preferredNetwork,
            KeepLargestComponent = keepLargestComponent is { Length: > 0 } ? keepLargestComponent : null,
        };
        if (_net2 is null) ModelFile.Save(path, metadata, _net1);
        else ModelFile.Save(path, metadata, _net1, _net2);
    }

    private void WriteHistory() => _history.Write(_folder, _options, new
    {
        plan = JsonDocument.Parse(TrainingData.PlanJson(_data.Plan)).RootElement,
        labeledCases = _data.Labeled.Count,
        unlabeledCases = _data.Unlabeled.Count,
        validationCases = _data.Validation.Count,
        labeled = _data.Labeled.Select(c => c.Name),
        unlabeled = _data.Unlabeled.Select(c => c.Name),
        validation = _data.Validation.Select(c => c.Name),
    });

    private sealed record CheckpointState(int Iteration, float[] KtWeights, TrainingHistory History, string Mode, int NumClasses, int BaseChannels);

    /// <summary>Both networks, both optimisers, iteration, KT-CPS weights and history — written to a temporary file, then renamed.</summary>
    private void SaveCheckpoint()
    {
        string path = Path.Combine(_folder, CheckpointFile);
        AtomicFile.Write(path, file =>
        {
            using var zip = new ZipArchive(file, ZipArchiveMode.Create);
            var state = new CheckpointState(_iteration, _kt.Weights, _history, _options.Mode.ToString(), _data.NumClasses, _options.BaseChannels);
            using (var s = zip.CreateEntry("state.json").Open()) JsonSerializer.Serialize(s, state, TrainingHistory.Json);
            Entry(zip, "network1.safetensors", s => _net1.save_safetensors(s, leaveOpen: true));
            Entry(zip, "optimizer1.pt", s => _opt1.save_py(s, leaveOpen: true));
            if (_net2 is not null)
            {
                Entry(zip, "network2.safetensors", s => _net2.save_safetensors(s, leaveOpen: true));
                Entry(zip, "optimizer2.pt", s => _opt2!.save_py(s, leaveOpen: true));
            }
        });
        WriteHistory();
    }

    private static void Entry(ZipArchive zip, string name, Action<Stream> write)
    {
        using var buffer = new MemoryStream();
        write(buffer);
        buffer.Position = 0;
        using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
        buffer.CopyTo(s);
    }

    private void LoadCheckpoint()
    {
        string path = Path.Combine(_folder, CheckpointFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"--resume: no {CheckpointFile} in {_folder}", path);
        using var zip = ZipFile.OpenRead(path);
        CheckpointState state;
        using (var s = zip.GetEntry("state.json")!.Open())
            state = JsonSerializer.Deserialize<CheckpointState>(s, TrainingHistory.Json) ?? throw new InvalidDataException($"{path}: empty state");
        if (state.Mode != _options.Mode.ToString() || state.NumClasses != _data.NumClasses || state.BaseChannels != _options.BaseChannels)
            throw new InvalidDataException($"{path} was written by a {state.Mode} run with {state.NumClasses} classes and width {state.BaseChannels}; " +
                                           $"this run is {_options.Mode} with {_data.NumClasses} classes and width {_options.BaseChannels}");
        Read(zip, "network1.safetensors", s => _net1.load_safetensors(s, strict: true, leaveOpen: true));
        Read(zip, "optimizer1.pt", s => _opt1.load_py(s, leaveOpen: true));
        if (_net2 is not null)
        {
            Read(zip, "network2.safetensors", s => _net2.load_safetensors(s, strict: true, leaveOpen: true));
            Read(zip, "optimizer2.pt", s => _opt2!.load_py(s, leaveOpen: true));
        }
        _iteration = state.Iteration;
        _kt.Restore(state.KtWeights);
        _history = state.History;
        _history.Iterations.RemoveAll(i => i.Iteration > _iteration);
        _history.Validations.RemoveAll(v => v.Iteration > _iteration);
        SetLearningRate(Schedules.PolyLearningRate(_options.BaseLearningRate, _iteration, _options.Iterations));
    }

    private static void Read(ZipArchive zip, string name, Action<Stream> read)
    {
        var entry = zip.GetEntry(name) ?? throw new InvalidDataException($"checkpoint has no {name}");
        using var buffer = new MemoryStream();
        using (var s = entry.Open()) s.CopyTo(buffer);
        buffer.Position = 0;
        read(buffer);
    }

    public void Dispose()
    {
        _net1.Dispose();
        _net2?.Dispose();
        _work1?.Dispose();
        _work2?.Dispose();
        _opt1.Dispose();
        _opt2?.Dispose();
    }
}

/// <summary>A training step failed (a libtorch error, a bad batch); the message names the iteration and the cause's first line.</summary>
public sealed class TrainingStepException(int iteration, Exception cause)
    : InvalidOperationException($"training step {iteration} failed: {cause.GetType().Name}: {FirstLine(cause.Message)}", cause)
{
    public int Iteration { get; } = iteration;

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}

/// <summary>Training reached a state whose gradients are not finite; the message names the iteration and the loss terms.</summary>
public sealed class TrainingDivergedException(string message) : InvalidOperationException(message);
