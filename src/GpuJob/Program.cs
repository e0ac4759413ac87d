using System.Runtime.InteropServices;
using GuidedNet.GpuJob.Cli;

using var stop = new CancellationTokenSource();
// First Ctrl+C / SIGTERM asks long commands to stop at a safe point (training saves a checkpoint).
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
GuidedNetCli.Cancellation = stop.Token;
return GuidedNetCli.Run(args);
