using System.Text.Json;
using System.Text.Json.Serialization;
using Azure;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using GuidedNet.Pipeline.Options;

namespace GuidedNet.Pipeline.Storage;

/// <summary>A blob as the pipeline sees it: its path and content hash (MD5, or the ETag where the service kept none).</summary>
public sealed record BlobEntry(string Path, string ContentHash);

/// <summary>
/// The pipeline's blob operations over "container/name" paths. Every write is one committed
/// upload, so a reader sees either the old blob or the complete new one, never a partial file.
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

    public async Task<bool> ExistsAsync(string path, CancellationToken cancellation = default) =>
        (await Blob(path).ExistsAsync(cancellation)).Value;

    public async Task<T?> ReadJsonAsync<T>(string path, CancellationToken cancellation = default) where T : class
    {
        try
        {
            var content = await Blob(path).DownloadContentAsync(cancellation);
            return content.Value.Content.ToObjectFromJson<T>(Json);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON for {typeof(T).Name}: {e.Message}", e);
        }
    }

    public Task WriteJsonAsync<T>(string path, T value, CancellationToken cancellation = default) =>
        WriteBytesAsync(path, JsonSerializer.SerializeToUtf8Bytes(value, Json), "application/json", cancellation);

    public async Task WriteBytesAsync(string path, byte[] bytes, string contentType = "application/octet-stream", CancellationToken cancellation = default)
    {
        await Blob(path).UploadAsync(new BinaryData(bytes), new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = contentType } }, cancellation);
    }

    public async Task UploadFileAsync(string path, string file, CancellationToken cancellation = default)
    {
        await using var stream = File.OpenRead(file);
        await Blob(path).UploadAsync(stream, overwrite: true, cancellation);
    }

    /// <summary>Downloads to <paramref name="file"/> through a temporary name, so the file is complete or absent.</summary>
    public async Task DownloadFileAsync(string path, string file, CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path.GetFullPath(file))!);
        string temp = file + ".partial";
        try
        {
            await Blob(path).DownloadToAsync(temp, cancellation);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new FileNotFoundException($"{path}: no such blob", path, e);
        }
        File.Move(temp, file, overwrite: true);
    }

    public async Task<byte[]> ReadBytesAsync(string path, long maxBytes, CancellationToken cancellation = default)
    {
        var properties = await Blob(path).GetPropertiesAsync(cancellationToken: cancellation);
        if (properties.Value.ContentLength > maxBytes) throw new InvalidDataException($"{path}: {properties.Value.ContentLength} bytes, more than the {maxBytes} allowed");
        return (await Blob(path).DownloadContentAsync(cancellation)).Value.Content.ToArray();
    }

    /// <summary>Every blob under a "container/prefix" path, in name order.</summary>
    public async Task<List<BlobEntry>> ListAsync(string prefix, CancellationToken cancellation = default)
    {
        var (container, namePrefix) = SplitPrefix(prefix);
        var client = _service.GetBlobContainerClient(container);
        var entries = new List<BlobEntry>();
        await foreach (var item in client.GetBlobsAsync(new GetBlobsOptions { Prefix = namePrefix }, cancellation))
            entries.Add(new BlobEntry($"{container}/{item.Name}", ContentHash(item.Properties.ContentHash, item.Properties.ETag)));
        entries.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return entries;
    }

    /// <summary>What identifies a blob's content: its MD5 (hex), or its ETag where the service stored no MD5.</summary>
    public static string ContentHash(byte[]? md5, ETag? etag) =>
        md5 is { Length: > 0 } ? Convert.ToHexString(md5).ToLowerInvariant() : etag?.ToString().Trim('"') ?? "";

    /// <summary>The first-level "folders" under a "container/prefix/" path.</summary>
    public async Task<List<string>> ListFoldersAsync(string prefix, CancellationToken cancellation = default)
    {
        var (container, namePrefix) = SplitPrefix(prefix);
        var client = _service.GetBlobContainerClient(container);
        var folders = new List<string>();
        await foreach (var item in client.GetBlobsByHierarchyAsync(new GetBlobsByHierarchyOptions { Prefix = namePrefix, Delimiter = "/" }, cancellation))
            if (item.IsPrefix) folders.Add(item.Prefix[namePrefix.Length..].TrimEnd('/'));
        folders.Sort(StringComparer.Ordinal);
        return folders;
    }

    public async Task CopyAsync(string source, string destination, CancellationToken cancellation = default)
    {
        var content = await Blob(source).DownloadContentAsync(cancellation);
        await Blob(destination).UploadAsync(content.Value.Content, overwrite: true, cancellation);
    }

    /// <summary>Copy, then delete: the bytes are stored under the destination before the source goes.</summary>
    public async Task MoveAsync(string source, string destination, CancellationToken cancellation = default)
    {
        await CopyAsync(source, destination, cancellation);
        await Blob(source).DeleteIfExistsAsync(cancellationToken: cancellation);
    }

    private static (string Container, string NamePrefix) SplitPrefix(string prefix)
    {
        int slash = prefix.IndexOf('/');
        return slash < 0 ? (prefix, "") : (prefix[..slash], prefix[(slash + 1)..]);
    }
}
