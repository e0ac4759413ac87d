using System.Net;
using System.Text;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// The local host answers only this machine's own programs: requests addressed to another name
/// (DNS rebinding), sent from a foreign web page (Origin) or as a form/plain-text POST (CSRF) are
/// refused before any route runs, and the durable sidecar refuses every gRPC call without the
/// host's start-up token, while the host's own client (which carries it) works.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class LoopbackTests
{
    [Fact]
    public async Task Only_loopback_names_json_posts_and_own_origins_reach_the_api_and_only_the_host_reaches_its_sidecar()
    {
        await using var pipeline = new PipelineHarness("loopback");
        await pipeline.StartHostAsync(withWorker: false);
        const string dataset = "target";
        await pipeline.UploadDatasetAsync(dataset, cases: 3, labeled: 2, seed: 4);

        async Task<HttpStatusCode> Send(HttpMethod method, string path, string? host = null, string? origin = null, HttpContent? content = null)
        {
            using var request = new HttpRequestMessage(method, path) { Content = content };
            if (host is not null) request.Headers.Host = $"{host}:{pipeline.ApiPort}";
            if (origin is not null) request.Headers.Add("Origin", origin);
            using var response = await pipeline.Http.SendAsync(request);
            return response.StatusCode;
        }
        StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

        Assert.Equal(HttpStatusCode.BadRequest, await Send(HttpMethod.Get, "api/health", host: "attacker.example"));
        Assert.Equal(HttpStatusCode.BadRequest, await Send(HttpMethod.Get, "api/health", host: "127.0.0.1.attacker.example"));
        foreach (string name in new[] { "127.0.0.1", "localhost", "[::1]" })
            Assert.Equal(HttpStatusCode.OK, await Send(HttpMethod.Get, "api/health", host: name));

        // A page on another origin: a plain-text or form POST needs no preflight, so it is refused by type;
        // a JSON one it could only send after a preflight this host never grants, and its Origin is refused.
        string train = $"api/datasets/{dataset}/train";
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, await Send(HttpMethod.Post, train, content: new StringContent("{}", Encoding.UTF8, "text/plain")));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, await Send(HttpMethod.Post, train, content: new FormUrlEncodedContent([])));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, await Send(HttpMethod.Post, "api/retrain"));
        Assert.Equal(HttpStatusCode.Forbidden, await Send(HttpMethod.Post, train, origin: "http://attacker.example", content: Json("{}")));
        Assert.Equal(HttpStatusCode.Forbidden, await Send(HttpMethod.Get, "api/runs/x", origin: "null"));
        Assert.False(await pipeline.Storage.ExistsAsync(BlobLayout.ActiveTrainingRun(dataset)), "a refused request started a run");

        // The host's own durable client carries the token: a run lookup reaches the sidecar (404, not 500/503).
        Assert.Equal(HttpStatusCode.NotFound, await Send(HttpMethod.Get, "api/runs/train-none", origin: $"http://localhost:{pipeline.ApiPort}"));

        // Any other local process talking gRPC to the sidecar is refused, with or without a guessed token.
        using var sidecar = new HttpClient();
        foreach (string? token in new[] { null, "", new string('0', 64) })
        {
            using var call = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{pipeline.GrpcPort}/TaskHubSidecarService/Hello")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ByteArrayContent([0, 0, 0, 0, 0]) { Headers = { { "Content-Type", "application/grpc" } } },
            };
            if (token is not null) call.Headers.Add("x-guidednet-sidecar-token", token);
            using var answer = await sidecar.SendAsync(call);
            Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
        }

        // The guarded host still trains: a proper request from this machine is accepted.
        Assert.Equal(HttpStatusCode.Accepted, await Send(HttpMethod.Post, train, content: Json("""{"iterations": 5, "patch": [16, 32, 32], "batch": 2, "labeledBatch": 1, "baseChannels": 4}""")));
    }
}
