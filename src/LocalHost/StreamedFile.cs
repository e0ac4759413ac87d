using GuidedNet.Pipeline.Api;

namespace GuidedNet.LocalHost;

/// <summary>
/// A file an API route answers with, copied from its source (a blob download, an embedded asset) to
/// the response as it arrives: a scan of any size passes through without being held in memory.
/// </summary>
internal sealed class StreamedFile(ApiFile file, int statusCode, string? contentSecurityPolicy = null) : IResult
{
    public async Task ExecuteAsync(HttpContext context)
    {
        await using var content = file.Content;
        var response = context.Response;
        response.StatusCode = statusCode;
        response.ContentType = file.ContentType;
        response.ContentLength = file.Length;
        response.Headers.XContentTypeOptions = "nosniff";
        if (contentSecurityPolicy is not null) response.Headers.ContentSecurityPolicy = contentSecurityPolicy;
        await content.CopyToAsync(response.Body, context.RequestAborted);
    }
}
