using GuidedNet.GpuJob.Cli;
using GuidedNet.Runtime;

namespace GuidedNet.Tests;

public class ComputeOptionsTests
{
    [Fact]
    public void The_oneDnn_switch_reads_back_libtorchs_own_setting()
    {
        // The assembly's module initializer switched it off through the same export; the getter asks libtorch.
        Assert.False(OneDnn.Enabled);
        int threads = TorchSharp.torch.get_num_threads(); // the other tests' setting, kept
        TorchRuntime.Configure(new ComputeOptions { Device = "cpu", Threads = threads, UseOneDnn = false });
        Assert.False(OneDnn.Enabled);
        Assert.Equal(threads, TorchSharp.torch.get_num_threads());
    }

    [Fact]
    public void Asking_for_cuda_without_it_says_how_to_get_it_and_auto_falls_back_to_the_cpu()
    {
        if (TorchSharp.torch.cuda.is_available())
        {
            Assert.Equal(TorchSharp.DeviceType.CUDA, TorchRuntime.ResolveDevice("cuda").type);
            Assert.Equal(TorchSharp.DeviceType.CUDA, TorchRuntime.ResolveDevice("auto").type);
            return;
        }
        var e = Assert.Throws<InvalidOperationException>(() => TorchRuntime.ResolveDevice("cuda"));
        Assert.Contains("-p:TorchBackend=cuda", e.Message);
        Assert.Contains("README, 'A local GPU'", e.Message);
        Assert.Equal(TorchSharp.DeviceType.CPU, TorchRuntime.ResolveDevice("auto").type);
    }

    [Theory]
    [InlineData(new[] { "--device", "cpu", "--threads", "3" }, "cpu", 3, false, true)]
    [InlineData(new[] { "--tf32", "--no-onednn" }, "auto", 0, true, false)]
    public void Compute_options_survive_the_trip_to_a_child_process(string[] args, string device, int threads, bool tf32, bool oneDnn)
    {
        var spec = new CommandSpec("compute", ComputeArguments.Options);
        var read = ComputeArguments.Read(spec.Parse(args));
        Assert.Equal((device, threads, tf32, oneDnn), (read.Device, read.Threads, read.AllowTf32, read.UseOneDnn));

        var again = ComputeArguments.Read(spec.Parse(ComputeArguments.ToArguments(read)));
        Assert.Equal((read.Device, read.Threads, read.AllowTf32, read.UseOneDnn), (again.Device, again.Threads, again.AllowTf32, again.UseOneDnn));
    }

    [Fact]
    public void Every_command_that_runs_a_network_accepts_no_onednn()
    {
        foreach (var spec in new[]
        {
            GpuJob.Commands.PredictCommand.Spec, GpuJob.Commands.TrainCommand.Spec, GpuJob.Commands.BenchCommand.Spec, GpuJob.Commands.TrainBenchmark.Spec,
            GpuJob.Commands.DataBenchmark.Spec, GpuJob.Commands.AgreementBenchmark.Spec,
        })
        {
            Assert.Contains("--no-onednn", spec.Usage);
            Assert.False(ComputeArguments.Read(spec.Parse(new[] { ReproducibleCpuKernels.Flag })).UseOneDnn);
        }
        Assert.Contains("--no-onednn", GpuJob.Commands.WorkerCommand.Spec.Usage);
        Assert.True(GpuJob.Commands.WorkerCommand.Spec.Find(ComputeArguments.NoOneDnn)!.IsSwitch);
    }
}
