using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using GuidedNet.Imaging;
using Azure;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using GuidedNet.Pipeline.Options;

namespace GuidedNet.Pipeline.Storage;

/// <summary>A listed blob: its path, ETag (always quoted), content MD5 (hex, where the service kept one) and last-modified time.</summary>
public sealed record BlobEntry(string Path, string ETag, string? Md5, DateTimeOffset LastModified)
{
    public string ContentHash => Md5 ?? ETag;

    public BlobPin Pin() => new(Path, ETag, Md5);
}

/// <summary>A small blob's bytes and the pin that names exactly those bytes.</summary>
public sealed record BlobContent(BlobPin Pin, byte[] Bytes);

/// <summary>A blob opened for streaming: its content (the caller disposes it), length and stored content type.</summary>
public sealed record BlobReadStream(Stream Content, long Length, string? ContentType);

/// <summary>A JSON document with the ETag it was read at, for a conditional write back.</summary>
public sealed record Versioned<T>(T Value, string ETag);

/// <summary>
/// The pipeline's blob operations over "container/name" paths. Every write is one committed
/// upload, so a reader sees either the old blob or the complete new one. Writes that two actors
/// can race take a condition (<c>IfMatch</c> an ETag that was read, or create-only) and report
/// a refusal to the caller instead of overwriting; copies run inside the service, never through
/// this process's memory.
/// </summary>
public sealed class PipelineStorage
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private static readonly BlobRequestConditions CreateOnly = new() { IfNoneMatch = ETag.All };

    private readonly BlobServiceClient _service;

    public PipelineStorage(BlobServiceClient service) => _service = service;

    public static PipelineStorage Create(StorageOptions options)
    {
        options.Validate();
        var service = options.ConnectionString is { Length: > 0 } cs
            ? new BlobServiceClient(cs)
            : new BlobServiceClient(new Uri($"https://{options.AccountName}.blob.core.windows.net"), new DefaultAzureCredential());
        return new PipelineStorage(service);
    }

    /// <summary>A write refused by its condition: the blob changed since it was read (412) or already exists (409).</summary>
    public static bool IsConflict(RequestFailedException e) => e.Status is 409 or 412;

    /// <summary>ETags come quoted in headers and bare in listings; the pipeline stores and compares the quoted form.</summary>
    public static string Quote(string etag) => etag.StartsWith('"') ? etag : $"\"{etag}\"";

    private static string Quote(ETag etag) => Quote(etag.ToString());

    private static string? Hex(byte[]? md5) => md5 is { Length: > 0 } ? Convert.ToHexString(md5).ToLowerInvariant() : null;

    public async Task EnsureContainersAsync(CancellationToken cancellation = default)
    {
        foreach (string name in BlobLayout.Containers)
            await _service.GetBlobContainerClient(name).CreateIfNotExistsAsync(cancellationToken: cancellation);
    }

    public BlobClient Blob(string path)
    {
        var (container, name) = BlobLayout.Split(path);
        return _service.GetBlobContainerClient(container).GetBlobClient(name);
    }

    /// <summary>The pinned bytes: the snapshot when the pin has one, else the blob itself.</summary>
    public BlobClient Blob(BlobPin pin) => pin.Snapshot is { } snapshot ? Blob(pin.Path).WithSnapshot(snapshot) : Blob(pin.Path);

    public async Task<bool> ExistsAsync(string path, CancellationToken cancellation = default) =>
        (await Blob(path).ExistsAsync(cancellation)).Value;

    /// <summary>The blob's ETag, MD5 and time; null when there is no such blob.</summary>
    public async Task<BlobEntry?> GetAsync(string path, CancellationToken cancellation = default)
    {
        try
        {
            var p = (await Blob(path).GetPropertiesAsync(cancellationToken: cancellation)).Value;
            return new BlobEntry(path, Quote(p.ETag), Hex(p.ContentHash), p.LastModified);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<T?> ReadJsonAsync<T>(string path, CancellationToken cancellation = default) where T : class =>
        (await ReadVersionedJsonAsync<T>(path, cancellation))?.Value;

    /// <summary>A JSON blob and its ETag; null when there is no such blob.</summary>
    public async Task<Versioned<T>?> ReadVersionedJsonAsync<T>(string path, CancellationToken cancellation = default) where T : class
    {
        BlobDownloadResult content;
        try
        {
            content = (await Blob(path).DownloadContentAsync(cancellation)).Value;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
        try
        {
            var value = content.Content.ToObjectFromJson<T>(Json) ?? throw new JsonException("null document");
            return new Versioned<T>(value, Quote(content.Details.ETag));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON for {typeof(T).Name}: {e.Message}", e);
        }
    }

    /// <summary>Writes a JSON blob that only one actor ever writes (its name is that actor's).</summary>
    public Task WriteJsonAsync<T>(string path, T value, CancellationToken cancellation = default) =>
        WriteBytesAsync(path, JsonSerializer.SerializeToUtf8Bytes(value, Json), "application/json", cancellation);

    /// <summary>
    /// Writes a JSON blob on a condition: over the version read at <paramref name="ifMatch"/>, or,
    /// when it is null, only if the blob does not exist yet. Returns the new ETag, or null when the
    /// condition failed (another actor wrote first; nothing was changed).
    /// </summary>
    public Task<string?> TryWriteJsonAsync<T>(string path, T value, string? ifMatch, CancellationToken cancellation = default) =>
        TryWriteBytesAsync(path, JsonSerializer.SerializeToUtf8Bytes(value, Json), ifMatch, "application/json", cancellation);

    /// <summary>The conditional write behind <see cref="TryWriteJsonAsync{T}"/>, for any content.</summary>
    public async Task<string?> TryWriteBytesAsync(string path, byte[] bytes, string? ifMatch, string contentType, CancellationToken cancellation = default)
    {
        var conditions = ifMatch is null ? CreateOnly : new BlobRequestConditions { IfMatch = new ETag(ifMatch) };
        try
        {
            var info = await Blob(path).UploadAsync(new BinaryData(bytes), new BlobUploadOptions
            {
                Conditions = conditions,
                HttpHeaders = new BlobHttpHeaders { ContentType = contentType, ContentHash = MD5.HashData(bytes) },
            }, cancellation);
            return Quote(info.Value.ETag);
        }
        catch (RequestFailedException e) when (IsConflict(e))
        {
            return null;
        }
    }

    public async Task WriteBytesAsync(string path, byte[] bytes, string contentType = "application/octet-stream", CancellationToken cancellation = default)
    {
        await Blob(path).UploadAsync(new BinaryData(bytes), new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = contentType, ContentHash = MD5.HashData(bytes) },
        }, cancellation);
    }

    /// <summary>
    /// Uploads a file with its MD5 (the service checks it and keeps it, so copies and later readers
    /// can compare content); <paramref name="createOnly"/> refuses (409) when the blob exists.
    /// </summary>
    public async Task<BlobPin> UploadFileAsync(string path, string file, bool createOnly = false, CancellationToken cancellation = default)
    {
        byte[] md5 = await Md5Async(file, cancellation);
        await using var stream = File.OpenRead(file);
        var info = await Blob(path).UploadAsync(stream, new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentHash = md5 },
            Conditions = createOnly ? CreateOnly : null,
        }, cancellation);
        return new BlobPin(path, Quote(info.Value.ETag), Hex(md5));
    }

    /// <summary>Downloads to <paramref name="file"/> through a temporary name, so the file is complete or absent.</summary>
    public async Task DownloadFileAsync(string path, string file, CancellationToken cancellation = default)
    {
        try
        {
            await DownloadToAsync(Blob(path), null, file, cancellation);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new FileNotFoundException($"{path}: no such blob", path, e);
        }
    }

    /// <summary>
    /// Downloads exactly the pinned bytes (from the pin's snapshot, or from the blob on the condition
    /// that its ETag is still the pinned one — or its MD5 the pinned MD5, when only properties
    /// changed); returns the MD5 of what was written to <paramref name="file"/>.
    /// </summary>
    /// <param name="pinnedWhen">how the pin came about, for the message ("it was validated")</param>
    /// <exception cref="PinnedBlobChangedException">the blob holds other bytes now, or is gone</exception>
    public async Task<string> DownloadPinnedAsync(BlobPin pin, string file, string pinnedWhen, CancellationToken cancellation = default)
    {
        var conditions = pin.Snapshot is null ? new BlobRequestConditions { IfMatch = new ETag(pin.ETag) } : null;
        try
        {
            await DownloadToAsync(Blob(pin), conditions, file, cancellation);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new PinnedBlobChangedException($"{pin.Path}{(pin.Snapshot is null ? "" : $" (snapshot {pin.Snapshot})")} was removed since {pinnedWhen}");
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            var now = await GetAsync(pin.Path, cancellation);
            if (now is null) throw new PinnedBlobChangedException($"{pin.Path} was removed since {pinnedWhen}");
            if (pin.Md5 is null || now.Md5 != pin.Md5)
                throw new PinnedBlobChangedException($"{pin.Path} changed since {pinnedWhen} (ETag {pin.ETag}, now {now.ETag})");
            return await DownloadPinnedAsync(pin with { ETag = now.ETag }, file, pinnedWhen, cancellation);
        }
        string md5 = Hex(await Md5Async(file, cancellation))!;
        if (pin.Md5 is not null && md5 != pin.Md5)
        {
            File.Delete(file);
            throw new InvalidDataException($"{pin.Path}: the downloaded bytes have MD5 {md5}, not the pinned {pin.Md5}");
        }
        return md5;
    }

    private static async Task DownloadToAsync(BlobClient blob, BlobRequestConditions? conditions, string file, CancellationToken cancellation)
    {
        await AtomicFile.WriteFileAsync(file, temp => blob.DownloadToAsync(temp, conditions, cancellationToken: cancellation));
    }

    private static async Task<byte[]> Md5Async(string file, CancellationToken cancellation)
    {
        await using var stream = File.OpenRead(file);
        return await MD5.HashDataAsync(stream, cancellation);
    }

    /// <exception cref="FileNotFoundException">there is no such blob</exception>
    public async Task<byte[]> ReadBytesAsync(string path, long maxBytes, CancellationToken cancellation = default) =>
        (await ReadContentAsync(path, maxBytes, cancellation))?.Bytes ?? throw new FileNotFoundException($"{path}: no such blob", path);

    /// <summary>
    /// A blob of at most <paramref name="maxBytes"/> with the pin of the version read (the download is
    /// conditional on the ETag whose length was checked, so a blob rewritten in between is read again,
    /// never a larger version or bytes the pin does not name); null when there is no such blob.
    /// </summary>
    public async Task<BlobContent?> ReadContentAsync(string path, long maxBytes, CancellationToken cancellation = default)
    {
        var blob = Blob(path);
        for (int tries = 0; tries < 10; tries++)
        {
            BlobProperties properties;
            try
            {
                properties = (await blob.GetPropertiesAsync(cancellationToken: cancellation)).Value;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                return null;
            }
            if (properties.ContentLength > maxBytes) throw new InvalidDataException($"{path}: {properties.ContentLength} bytes, more than the {maxBytes} allowed");
            try
            {
                var options = new BlobDownloadOptions { Conditions = new BlobRequestConditions { IfMatch = properties.ETag } };
                var content = (await blob.DownloadContentAsync(options, cancellation)).Value;
                return new BlobContent(new BlobPin(path, Quote(properties.ETag), Hex(properties.ContentHash)), content.Content.ToArray());
            }
            catch (RequestFailedException e) when (e.Status is 404 or 412)
            {
                // Rewritten or removed between the two requests: look again.
            }
        }
        throw new IOException($"{path}: could not read one version after 10 tries (other writers kept changing it)");
    }

    /// <summary>
    /// Opens the pinned bytes for streaming (the pin's snapshot, or the blob on the condition that its
    /// ETag is still the pinned one): whatever is read is the version the pin names, never a newer
    /// one. Null when those bytes are no longer there (removed, or replaced since they were pinned).
    /// </summary>
    public Task<BlobReadStream?> OpenPinnedAsync(BlobPin pin, CancellationToken cancellation = default) =>
        OpenStreamAsync(Blob(pin), pin.Snapshot is null ? new BlobRequestConditions { IfMatch = new ETag(pin.ETag) } : null, cancellation);

    private static async Task<BlobReadStream?> OpenStreamAsync(BlobClient blob, BlobRequestConditions? conditions, CancellationToken cancellation)
    {
        try
        {
            var download = (await blob.DownloadStreamingAsync(new BlobDownloadOptions { Conditions = conditions }, cancellation)).Value;
            return new BlobReadStream(download.Content, download.Details.ContentLength, download.Details.ContentType);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            return null;
        }
    }

    /// <summary>Every blob under a "container/prefix" path, in name order.</summary>
    public async Task<List<BlobEntry>> ListAsync(string prefix, CancellationToken cancellation = default)
    {
        var (container, namePrefix) = BlobLayout.SplitPrefix(prefix);
        var client = _service.GetBlobContainerClient(container);
        var entries = new List<BlobEntry>();
        await foreach (var item in client.GetBlobsAsync(new GetBlobsOptions { Prefix = namePrefix }, cancellation))
            entries.Add(Entry(container, item));
        entries.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return entries;
    }

    /// <summary>
    /// One page (at most <paramref name="pageSize"/> blobs, in name order) of the blobs under a
    /// "container/prefix" path, from where <paramref name="continuation"/> left off (null: the start);
    /// returns the marker of the next page, null after the last.
    /// </summary>
    public async Task<(List<BlobEntry> Page, string? Next)> ListPageAsync(string prefix, string? continuation, int pageSize,
        CancellationToken cancellation = default)
    {
        var (container, namePrefix) = BlobLayout.SplitPrefix(prefix);
        var client = _service.GetBlobContainerClient(container);
        await foreach (var page in client.GetBlobsAsync(new GetBlobsOptions { Prefix = namePrefix }, cancellation).AsPages(continuation, pageSize))
            return (page.Values.Select(item => Entry(container, item)).ToList(), string.IsNullOrEmpty(page.ContinuationToken) ? null : page.ContinuationToken);
        return ([], null);
    }

    private static BlobEntry Entry(string container, BlobItem item) =>
        new($"{container}/{item.Name}", Quote(item.Properties.ETag!.Value), Hex(item.Properties.ContentHash), item.Properties.LastModified ?? DateTimeOffset.MinValue);

    /// <summary>The first-level "folders" under a "container/prefix/" path.</summary>
    public async Task<List<string>> ListFoldersAsync(string prefix, CancellationToken cancellation = default) =>
        (await ListFoldersAsync(prefix, int.MaxValue, cancellation)).Folders;

    /// <summary>The first <paramref name="limit"/> first-level "folders" under a "container/prefix/" path, in name order, and whether there are more.</summary>
    public async Task<(List<string> Folders, bool Truncated)> ListFoldersAsync(string prefix, int limit, CancellationToken cancellation = default)
    {
        var (container, namePrefix) = BlobLayout.SplitPrefix(prefix);
        var client = _service.GetBlobContainerClient(container);
        var folders = new List<string>();
        // The service lists in name order, so the first ones listed are the first ones by name.
        await foreach (var item in client.GetBlobsByHierarchyAsync(new GetBlobsByHierarchyOptions { Prefix = namePrefix, Delimiter = "/" }, cancellation))
            if (item.IsPrefix)
            {
                if (folders.Count == limit) return (folders, true);
                folders.Add(item.Prefix[namePrefix.Length..].TrimEnd('/'));
            }
        folders.Sort(StringComparer.Ordinal);
        return (folders, false);
    }

    /// <summary>Opens a blob for streaming (whatever version it holds now); null when there is no such blob.</summary>
    public async Task<BlobReadStream?> OpenReadAsync(string path, CancellationToken cancellation = default) =>
        await OpenStreamAsync(Blob(path), conditions: null, cancellation);

    /// <summary>
    /// Copies the pinned bytes to a name that must not exist yet, inside the service. Idempotent: a
    /// destination that already holds the same content (a retry after a partial success) counts as
    /// copied. Returns false when the destination holds other bytes; throws
    /// <see cref="PinnedBlobChangedException"/> when the source no longer holds the pinned bytes.
    /// </summary>
    public async Task<bool> TryCopyCreateOnlyAsync(BlobPin source, string destination, CancellationToken cancellation = default)
    {
        var target = Blob(destination);
        try
        {
            var copy = await target.StartCopyFromUriAsync(Blob(source).Uri, new BlobCopyFromUriOptions
            {
                DestinationConditions = CreateOnly,
                SourceConditions = source.Snapshot is null ? new BlobRequestConditions { IfMatch = new ETag(source.ETag) } : null,
            }, cancellation);
            await copy.WaitForCompletionAsync(cancellation);
            return true;
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            // The destination's condition is create-only, refused with 409; a 412 is the source's If-Match.
            throw new PinnedBlobChangedException($"{source.Path} changed or was removed before it could be copied to {destination}");
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            var existing = await GetAsync(destination, cancellation);
            return existing is not null && existing.Md5 is not null && existing.Md5 == await SourceMd5Async(source, cancellation);
        }
    }

    private async Task<string?> SourceMd5Async(BlobPin source, CancellationToken cancellation) =>
        source.Md5 ?? Hex((await Blob(source).GetPropertiesAsync(cancellationToken: cancellation)).Value.ContentHash);

    /// <summary>
    /// Deletes the blob (and its snapshots) only if it still holds the pinned version; true when it
    /// is gone, false when it was replaced meanwhile (and kept).
    /// </summary>
    public async Task<bool> DeleteIfUnchangedAsync(BlobPin pin, CancellationToken cancellation = default)
    {
        try
        {
            await Blob(pin.Path).DeleteAsync(DeleteSnapshotsOption.IncludeSnapshots, new BlobRequestConditions { IfMatch = new ETag(pin.ETag) }, cancellation);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            // An If-Match on a blob that is gone fails with 412 (Azurite) as well as a changed one.
            return await GetAsync(pin.Path, cancellation) is null;
        }
    }

    /// <summary>
    /// A snapshot holding the pinned version of a blob, so the bytes stay readable if the blob is
    /// replaced. Idempotent: an existing snapshot of that version is reused.
    /// </summary>
    /// <exception cref="PinnedBlobChangedException">the blob no longer holds the pinned version</exception>
    public async Task<BlobPin> SnapshotAsync(BlobPin pin, string pinnedWhen, CancellationToken cancellation = default)
    {
        var (container, name) = BlobLayout.Split(pin.Path);
        await foreach (var item in _service.GetBlobContainerClient(container)
                           .GetBlobsAsync(new GetBlobsOptions { Prefix = name, States = BlobStates.Snapshots }, cancellation))
            if (item.Name == name && item.Snapshot is { } existing && Quote(item.Properties.ETag!.Value) == pin.ETag)
                return pin with { Snapshot = existing };
        try
        {
            var snapshot = await Blob(pin.Path).CreateSnapshotAsync(conditions: new BlobRequestConditions { IfMatch = new ETag(pin.ETag) }, cancellationToken: cancellation);
            return pin with { Snapshot = snapshot.Value.Snapshot };
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            throw new PinnedBlobChangedException($"{pin.Path} changed or was removed since {pinnedWhen}");
        }
    }
}
