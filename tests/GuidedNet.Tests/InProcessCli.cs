using GuidedNet.GpuJob.Cli;

namespace GuidedNet.Tests;

/// <summary>
/// The <c>guidednet</c> command line run in this process, its output captured. A command that runs
/// a network must be given <see cref="ReproducibleCpuKernels.Flag"/>: without it the command
/// switches oneDNN on for the whole test assembly.
/// </summary>
internal static class InProcessCli
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = GuidedNetCli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
