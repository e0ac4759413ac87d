using GuidedNet.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GuidedNet.Network;

/// <summary>
/// The GuidedNet 3D U-Net (reference README §1): widths C, 2C, 4C, 8C, 16C (C = 16 in the
/// paper), blocks of two Conv3d(3, pad 1) → InstanceNorm3d → ReLU, max-pool 2 in the encoder,
/// trilinear ×2 upsampling and [skip, upsampled] concatenation in the decoder, dropout 0.3
/// after the centre and the last decoder block. Returns the logits ("pred", [N, K, D, H, W])
/// and the last decoder block's features ("rep", [N, C, D, H, W]) that the CGMM works on.
/// Submodule names equal the authors' so their state dicts load unchanged.
/// </summary>
public sealed class UNet3D : Module<Tensor, (Tensor Logits, Tensor Features)>
{
    // Field names are the state-dict names: do not rename.
    private readonly ConvBlock conv1, conv2, conv3, conv4, center;
    private readonly UpBlock up_concat4, up_concat3, up_concat2, up_concat1;
    private readonly Conv3d final;
    private readonly Module<Tensor, Tensor> pool;

    public UNet3D(int numClasses, int baseChannels = 16, int inChannels = 1) : base(nameof(UNet3D))
    {
        if (numClasses < 2) throw new ArgumentOutOfRangeException(nameof(numClasses), "at least two classes");
        if (baseChannels < 1) throw new ArgumentOutOfRangeException(nameof(baseChannels));
        NumClasses = numClasses;
        BaseChannels = baseChannels;
        InChannels = inChannels;
        int c = baseChannels;
        conv1 = new ConvBlock(inChannels, c);
        conv2 = new ConvBlock(c, 2 * c);
        conv3 = new ConvBlock(2 * c, 4 * c);
        conv4 = new ConvBlock(4 * c, 8 * c);
        center = new ConvBlock(8 * c, 16 * c);
        up_concat4 = new UpBlock(16 * c + 8 * c, 8 * c);
        up_concat3 = new UpBlock(8 * c + 4 * c, 4 * c);
        up_concat2 = new UpBlock(4 * c + 2 * c, 2 * c);
        up_concat1 = new UpBlock(2 * c + c, c);
        final = Conv3d(c, numClasses, 1);
        pool = MaxPool3d(2);
        RegisterComponents();
    }

    public int NumClasses { get; }
    public int BaseChannels { get; }
    public int InChannels { get; }

    /// <summary>
    /// Multiply-adds ×2 of one forward pass per input voxel: every 3×3×3 convolution at its
    /// level's resolution (level l has 1/8^l of the voxels) plus the 1×1×1 head. About 138 k for
    /// width 16 and 14 classes; pooling, normalisation and upsampling are not counted.
    /// </summary>
    public static double FlopsPerVoxel(int numClasses, int baseChannels = 16, int inChannels = 1)
    {
        int c = baseChannels;
        double Conv(int cin, int cout) => 2.0 * 27 * cin * cout;
        double[] perLevel =
        {
            Conv(inChannels, c) + Conv(c, c) + Conv(3 * c, c) + Conv(c, c),
            Conv(c, 2 * c) + Conv(2 * c, 2 * c) + Conv(6 * c, 2 * c) + Conv(2 * c, 2 * c),
            Conv(2 * c, 4 * c) + Conv(4 * c, 4 * c) + Conv(12 * c, 4 * c) + Conv(4 * c, 4 * c),
            Conv(4 * c, 8 * c) + Conv(8 * c, 8 * c) + Conv(24 * c, 8 * c) + Conv(8 * c, 8 * c),
            Conv(8 * c, 16 * c) + Conv(16 * c, 16 * c),
        };
        return perLevel.Select((f, level) => f / Math.Pow(8, level)).Sum() + 2.0 * c * numClasses;
    }

    /// <summary>Spatial sizes must be multiples of this (four 2× poolings).</summary>
    public const int SizeMultiple = Training.TrainingLimits.SizeMultiple;

    public override (Tensor Logits, Tensor Features) forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        // The first block's three full-resolution intermediates (~100 MB per network at the CPU
        // benchmark's batch) are recomputed in backward from the one-channel input (~75 ms).
        var c1 = ActivationCheckpoint.Run(conv1, input);
        var c2 = Down(conv2, c1);
        var c3 = Down(conv3, c2);
        var c4 = Down(conv4, c3);
        var mid = Dropout(Down(center, c4));
        var u4 = Up(up_concat4, c4, mid);
        var u3 = Up(up_concat3, c3, u4);
        var u2 = Up(up_concat2, c2, u3);
        var features = Dropout(Up(up_concat1, c1, u2));
        var logits = Convolve(final, features);
        return (logits.MoveToOuterDisposeScope(), features.MoveToOuterDisposeScope());
    }

    // Each intermediate is released as soon as the next level no longer needs it, not when the
    // forward pass ends: in prediction (no autograd graph holding them) that is the difference
    // between every level's maps alive at once and only the skips still to be joined. Under
    // autograd the graph keeps what backward needs, whatever the handles do.
    private Tensor Down(Module<Tensor, Tensor> block, Tensor x)
    {
        using var pooled = pool.forward(x);
        return block.forward(pooled);
    }

    private static Tensor Up(UpBlock block, Tensor skip, Tensor deeper)
    {
        var joined = block.forward(skip, deeper);
        skip.Dispose();
        deeper.Dispose();
        return joined;
    }

    /// <summary>
    /// Converts the network to a low-precision format for prediction, except the convolutions whose
    /// input channels are not a multiple of <see cref="LowPrecisionChannelMultiple"/>: they stay
    /// fp32. Measured on this project's CPUs (AVX-512 BF16), oneDNN's bf16 convolution returns
    /// wrong values for such inputs (relative error 0.78 with 1 input channel, 0.38 with 8; 0.003
    /// with 16, 32, 64) — the first convolution (one channel) is one of them, and cheap in fp32.
    /// Instance norms always compute in fp32 (<see cref="ConvBlock"/>).
    /// </summary>
    public void ToLowPrecision(ScalarType type)
    {
        foreach (var conv in modules().OfType<Conv3d>())
            if (conv.weight!.shape[1] % LowPrecisionChannelMultiple == 0) conv.to(type);
    }

    public const int LowPrecisionChannelMultiple = 16;

    /// <summary>The format the network's activations flow in: fp32, or the low precision <see cref="ToLowPrecision"/> chose.</summary>
    public ScalarType InputType => modules().OfType<Conv3d>().Select(c => c.weight!.dtype).FirstOrDefault(t => t != ScalarType.Float32, ScalarType.Float32);

    /// <summary>A convolution in its weights' format (a low-precision network mixes bf16 and fp32 layers).</summary>
    private static Tensor Convolve(Conv3d conv, Tensor x)
    {
        var type = conv.weight!.dtype;
        if (x.dtype == type) return conv.forward(x);
        using var converted = x.to(type);
        return conv.forward(converted);
    }

    /// <summary>
    /// Dropout(0.3) in training mode, drawn from uniform samples and applied with masked_fill so
    /// that backward keeps a one-byte mask: libtorch's bernoulli_ is 3× slower than rand on the
    /// CPU, and nn.Dropout keeps a four-byte mask (33 MB per network at the benchmark's batch).
    /// </summary>
    private Tensor Dropout(Tensor x)
    {
        if (!training) return x.alias();
        using var dropped = rand_like(x).lt_(DropoutProbabilityScalar).to(ScalarType.Bool);
        return x.masked_fill(dropped, Scalars.Zero).mul_(DropoutScale);
    }

    private const double DropoutProbability = 0.3;
    private static readonly Scalar DropoutProbabilityScalar = DropoutProbability.ToScalar();
    private static readonly Scalar DropoutScale = (1 / (1 - DropoutProbability)).ToScalar();

    /// <summary>[N, C, D, H, W] with NDHWC strides (libtorch's channels_last_3d, which TorchSharp does not name).</summary>
    private static Tensor ToChannelsLast(Tensor t) => t.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3);

    /// <summary>Conv3d(3, pad 1, bias) → InstanceNorm3d(eps 1e-5, no affine) → ReLU, twice.</summary>
    private sealed class ConvBlock : Module<Tensor, Tensor>
    {
        private readonly Sequential conv1, conv2;

        public ConvBlock(int inChannels, int outChannels) : base(nameof(ConvBlock))
        {
            conv1 = Stage(inChannels, outChannels);
            conv2 = Stage(outChannels, outChannels);
            RegisterComponents();
        }

        private static Sequential Stage(int inChannels, int outChannels) => Sequential(
            ("0", Conv3d(inChannels, outChannels, 3, padding: 1)),
            ("1", InstanceNorm3d(outChannels, eps: 1e-5, affine: false, track_running_stats: false)),
            ("2", ReLU(inplace: true)));

        public override Tensor forward(Tensor x)
        {
            if (x.dtype != ScalarType.Float32)
            {
                using var lowHidden = LowPrecisionStage(conv1, x);
                return LowPrecisionStage(conv2, lowHidden);
            }
            using var hidden = conv1.forward(x);
            return conv2.forward(hidden);
        }

        /// <summary>
        /// A stage of a bf16/fp16 network (fast prediction): the convolution in its weights' format,
        /// the instance norm in fp32, the output in the input's format. Measured on a trained width-8
        /// model: norms in bf16 would save 15–20 % of the forward pass but raise the logits' mean
        /// error from 0.46 % to 0.78 % of their size.
        /// </summary>
        private static Tensor LowPrecisionStage(Sequential stage, Tensor x)
        {
            using var scope = NewDisposeScope();
            var layers = stage.children().Cast<Module<Tensor, Tensor>>().ToArray(); // conv, norm, relu
            var convolved = Convolve((Conv3d)layers[0], x);
            var normalized = layers[1].forward(convolved.to(ScalarType.Float32));
            return normalized.relu_().to(x.dtype).MoveToOuterDisposeScope();
        }
    }

    /// <summary>Trilinear ×2 upsampling of the deeper map, concatenation after the skip, then a block.</summary>
    private sealed class UpBlock : Module<Tensor, Tensor, Tensor>
    {
        private readonly ConvBlock conv;

        public UpBlock(int inChannels, int outChannels) : base(nameof(UpBlock))
        {
            conv = new ConvBlock(inChannels, outChannels);
            RegisterComponents();
        }

        public override Tensor forward(Tensor skip, Tensor deeper)
        {
            // Upsampling, concatenation and the first convolution in channels-last (NDHWC): there
            // libtorch's trilinear upsampling is ~5x and the concatenation ~2x faster, and oneDNN
            // convolves without reordering its input (measured: forward 0.55 s instead of 0.63 s
            // per network at the CPU benchmark's batch; backward unchanged). The instance norm
            // after it takes NCDHW again, which is why the rest of the network stays NCDHW.
            Tensor joined;
            using (var deeperLast = ToChannelsLast(deeper))
            using (var skipLast = ToChannelsLast(skip))
            using (var up = functional.interpolate(deeperLast, scale_factor: new double[] { 2, 2, 2 },
                       mode: InterpolationMode.Trilinear, align_corners: false))
                joined = cat(new[] { skipLast, up }, 1);
            // The block convolves the concatenation alone: its parts are gone before it starts.
            using (joined)
                return conv.forward(joined);
        }
    }
}
