using System.Diagnostics;

namespace GuidedNet.TestSupport.Browser;

/// <summary>
/// Debian's <c>chromium</c>, headless, as the tests drive it: a page is loaded and given a budget of
/// virtual time (timers and network settle within it) before its DOM is printed or a screenshot is
/// taken. WebGL runs on SwiftShader, the software renderer, so no GPU is needed.
/// </summary>
public static class HeadlessChromium
{
    public const string Executable = "/usr/bin/chromium";

    /// <summary>The page's DOM once it has settled.</summary>
    public static async Task<string> DumpDomAsync(string url, int budgetMs = 30_000) =>
        await RunAsync(["--dump-dom", $"--virtual-time-budget={budgetMs}", url]);

    /// <summary>Writes a PNG screenshot of the page at <paramref name="width"/>×<paramref name="height"/> once it has settled.</summary>
    public static async Task<PngImage> ScreenshotAsync(string url, string file, int width = 1280, int height = 900, int budgetMs = 30_000)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        File.Delete(file);
        await RunAsync([$"--screenshot={file}", $"--window-size={width},{height}", "--hide-scrollbars", $"--virtual-time-budget={budgetMs}", url]);
        return File.Exists(file) ? PngImage.Read(file) : throw new InvalidOperationException($"chromium wrote no screenshot of {url}");
    }

    private static async Task<string> RunAsync(IEnumerable<string> arguments)
    {
        if (!File.Exists(Executable)) throw new FileNotFoundException($"{Executable}: install Debian's chromium (scripts/test.sh does)", Executable);
        string profile = Directory.CreateTempSubdirectory("guidednet-chromium-").FullName;
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        // --no-sandbox: CI runs as root, where chromium's sandbox cannot start.
        foreach (string a in new[] { "--headless", "--no-sandbox", "--disable-gpu-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                                     "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage", $"--user-data-dir={profile}" })
            start.ArgumentList.Add(a);
        foreach (string a in arguments) start.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"chromium did not finish within 120 s:\n{await errors}");
            }
            if (process.ExitCode != 0) throw new InvalidOperationException($"chromium exited with {process.ExitCode}:\n{await errors}");
            return await output;
        }
        finally
        {
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
