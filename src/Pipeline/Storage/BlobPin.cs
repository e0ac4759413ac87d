namespace GuidedNet.Pipeline.Storage;

/// <summary>
/// The exact bytes a step works on: the blob's path, its ETag when it was pinned, its content MD5
/// (hex) where the service stored one, and the snapshot that keeps those bytes readable when the
/// blob itself may be replaced (dropped scans). Results and manifests carry pins, never bare paths,
/// so what was validated is what is trained or segmented, and every result names its input.
/// </summary>
public sealed record BlobPin(string Path, string ETag, string? Md5 = null, string? Snapshot = null)
{
    /// <summary>What identifies the content: its MD5, or its ETag where the service stored no MD5 (block uploads).</summary>
    public string ContentHash => Md5 ?? ETag;
}

/// <summary>A pinned blob no longer holds the pinned bytes (replaced or removed); the message names the blob and what changed.</summary>
public sealed class PinnedBlobChangedException(string message) : IOException(message);
