namespace GuidedNet.Pipeline.Api;

/// <summary>
/// The results viewer (<c>src/Viewer</c>): its page, script and style, and NiiVue, fetched from npm at
/// build time and embedded in this assembly, so the page works without the internet and both hosts
/// serve the same bytes.
/// </summary>
public static class ViewerAssets
{
    public const string Page = "index.html";

    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.Ordinal)
    {
        [Page] = "text/html; charset=utf-8",
        ["viewer.js"] = "text/javascript; charset=utf-8",
        ["viewer.css"] = "text/css; charset=utf-8",
        ["niivue.umd.js"] = "text/javascript; charset=utf-8",
    };

    /// <summary>
    /// What the page may load: its own scripts (and its inline loader), the API, images and
    /// NiiVue's workers from blob: URLs; nothing from elsewhere, no frames.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; " +
        "worker-src 'self' blob:; connect-src 'self' blob: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    public static IReadOnlyCollection<string> Files => ContentTypes.Keys;

    /// <summary>One of the viewer's files (null or empty: the page); null for any other name.</summary>
    public static ApiFile? Open(string? name)
    {
        name = string.IsNullOrEmpty(name) ? Page : name;
        if (!ContentTypes.TryGetValue(name, out string? contentType)) return null;
        var stream = typeof(ViewerAssets).Assembly.GetManifestResourceStream("viewer/" + name)
                     ?? throw new InvalidOperationException($"the viewer's {name} is not in this build (built with -p:EmbedViewer=false, or src/Viewer was not restored)");
        return new ApiFile(stream, contentType, stream.Length, name);
    }
}
