using System.Security.Cryptography;
using System.Text;

namespace GuidedNet.LocalHost;

/// <summary>
/// What makes "listens on 127.0.0.1" mean "only this user's own programs": binding to loopback
/// keeps other machines out, but not a web page the user visits (it can send requests to
/// 127.0.0.1, or to its own name re-resolved to 127.0.0.1 — DNS rebinding), nor another local
/// process talking to the durable sidecar. The API therefore answers only requests addressed to
/// a loopback name, with a JSON body (a cross-origin page cannot send one without a CORS preflight
/// this host never grants) and without a foreign Origin; the sidecar answers only its own clients,
/// which carry a token made at start-up.
/// </summary>
public sealed class LoopbackGuard
{
    /// <summary>The gRPC metadata the host's own durable client and durable worker (both in this process) send the sidecar.</summary>
    public const string TokenHeader = "x-guidednet-sidecar-token";

    private static readonly string[] LoopbackHosts = ["127.0.0.1", "localhost", "[::1]"];

    private readonly int _apiPort;
    private readonly int _grpcPort;
    private readonly byte[] _tokenBytes;

    public LoopbackGuard(int apiPort, int grpcPort)
    {
        _apiPort = apiPort;
        _grpcPort = grpcPort;
        Token = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        _tokenBytes = Encoding.ASCII.GetBytes(Token);
    }

    /// <summary>This start's sidecar token; never written anywhere, only handed to in-process clients.</summary>
    public string Token { get; }

    /// <summary>Adds the token to every request of the host's own gRPC channel.</summary>
    public DelegatingHandler ClientHandler(HttpMessageHandler inner) => new TokenHandler(Token) { InnerHandler = inner };

    /// <summary>Null when the request may go on; otherwise the status code and the reason.</summary>
    public (int Status, string Error)? Check(HttpRequest request)
    {
        int port = request.HttpContext.Connection.LocalPort;
        if (port == _grpcPort)
        {
            byte[] given = Encoding.ASCII.GetBytes(request.Headers[TokenHeader].ToString());
            return CryptographicOperations.FixedTimeEquals(given, _tokenBytes)
                ? null
                : (StatusCodes.Status401Unauthorized, "the durable sidecar serves only this host's own clients");
        }
        if (port != _apiPort) return (StatusCodes.Status404NotFound, "no such endpoint");
        if (!IsLoopback(request.Host.Host))
            return (StatusCodes.Status400BadRequest, "the Host header must name this machine (127.0.0.1, localhost or [::1]): the local API does not answer other names");
        if (request.Headers.Origin is { Count: > 0 } origin && !IsLoopbackOrigin(origin.ToString()))
            return (StatusCodes.Status403Forbidden, "requests from web pages of other origins are refused");
        if (HttpMethods.IsPost(request.Method) && !IsJson(request.ContentType))
            return (StatusCodes.Status415UnsupportedMediaType, "POST bodies must be sent as Content-Type: application/json");
        return null;
    }

    /// <summary>The guard as middleware: a refused request is answered with a JSON error and goes no further.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (Check(context.Request) is { } refusal)
        {
            context.Response.StatusCode = refusal.Status;
            await context.Response.WriteAsJsonAsync(new { error = refusal.Error });
            return;
        }
        await next(context);
    }

    private static bool IsLoopback(string host) =>
        LoopbackHosts.Contains(host, StringComparer.OrdinalIgnoreCase) || host == "::1";

    private static bool IsLoopbackOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && IsLoopback(uri.Host);

    private static bool IsJson(string? contentType) =>
        contentType is not null && contentType.Split(';')[0].Trim().Equals("application/json", StringComparison.OrdinalIgnoreCase);

    private sealed class TokenHandler(string token) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.TryAddWithoutValidation(TokenHeader, token);
            return base.SendAsync(request, cancellationToken);
        }
    }
}
