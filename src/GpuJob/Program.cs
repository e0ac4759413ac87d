using GuidedNet.GpuJob.Cli;

return GuidedNetCli.Run(args);
