using System.Security.Claims;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Http;

namespace GuidedNet.Functions.Tests;

/// <summary>
/// What the Functions host would hand a shim: an invocation context and HTTP request/response
/// objects. The host itself cannot run here; the shims are called directly with these.
/// </summary>
public sealed class ShimFunctionContext(IServiceProvider services) : FunctionContext
{
    public override string InvocationId { get; } = Guid.NewGuid().ToString("N");
    public override string FunctionId => "test";
    public override TraceContext TraceContext => null!;
    public override BindingContext BindingContext => null!;
    public override RetryContext RetryContext => null!;
    public override IServiceProvider InstanceServices { get; set; } = services;
    public override FunctionDefinition FunctionDefinition => null!;
    public override IDictionary<object, object> Items { get; set; } = new Dictionary<object, object>();
    public override IInvocationFeatures Features => null!;
}

public sealed class ShimHttpRequest(FunctionContext context, string method, string url, string body) : HttpRequestData(context)
{
    public override Stream Body { get; } = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(body));
    public override HttpHeadersCollection Headers { get; } = new();
    public override IReadOnlyCollection<IHttpCookie> Cookies { get; } = Array.Empty<IHttpCookie>();
    public override Uri Url { get; } = new(url);
    public override IEnumerable<ClaimsIdentity> Identities { get; } = Array.Empty<ClaimsIdentity>();
    public override string Method { get; } = method;
    public override HttpResponseData CreateResponse() => new ShimHttpResponse(FunctionContext);
}

public sealed class ShimHttpResponse(FunctionContext context) : HttpResponseData(context)
{
    public override System.Net.HttpStatusCode StatusCode { get; set; }
    public override HttpHeadersCollection Headers { get; set; } = new();
    public override Stream Body { get; set; } = new MemoryStream();
    public override HttpCookies Cookies { get; } = null!;

    public string Text => System.Text.Encoding.UTF8.GetString(((MemoryStream)Body).ToArray());
}
