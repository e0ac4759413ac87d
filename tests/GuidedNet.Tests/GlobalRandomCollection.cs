namespace GuidedNet.Tests;

/// <summary>
/// Tests that seed or draw from libtorch's process-wide random generator. The trainer seeds it for
/// the networks' initialisation and for every iteration's dropout, so a test drawing from it at the
/// same time would change a training run's masks (a resumed run then differs from an uninterrupted
/// one); the tests of this collection run one at a time.
/// </summary>
[CollectionDefinition(Name)]
public sealed class GlobalRandomCollection
{
    public const string Name = "libtorch global random generator";
}
