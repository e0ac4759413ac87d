namespace GuidedNet.Pipeline.Tests.Infrastructure;

/// <summary>The pipeline tests run one at a time: each starts several processes on a 2-core machine.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PipelineCollection
{
    public const string Name = "pipeline";
}
