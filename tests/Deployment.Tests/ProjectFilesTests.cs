using System.Text.RegularExpressions;
using GuidedNet.TestSupport;
using YamlDotNet.RepresentationModel;

namespace GuidedNet.Deployment.Tests;

/// <summary>azure.yaml, host.json and the GPU job's Dockerfile point at what exists in the repository.</summary>
public sealed class ProjectFilesTests
{
    private static string Root => Reference.RepositoryRoot;

    [Fact]
    public void Azure_yaml_parses_and_every_service_points_at_a_project()
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(Path.Combine(Root, "azure.yaml"))));
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        Assert.Equal("bicep", ((YamlScalarNode)((YamlMappingNode)root["infra"])["provider"]).Value);
        Assert.True(File.Exists(Path.Combine(Root, ((YamlScalarNode)((YamlMappingNode)root["infra"])["path"]).Value!, "main.bicep")));
        var services = (YamlMappingNode)root["services"];
        var hosts = new Dictionary<string, string>();
        foreach (var (key, value) in services.Children)
        {
            var service = (YamlMappingNode)value;
            string project = ((YamlScalarNode)service["project"]).Value!;
            string folder = Path.Combine(Root, project);
            Assert.True(Directory.Exists(folder), $"{key}: {project} does not exist");
            Assert.NotEmpty(Directory.GetFiles(folder, "*.csproj"));
            hosts[((YamlScalarNode)key).Value!] = ((YamlScalarNode)service["host"]).Value!;
            if (service.Children.TryGetValue("docker", out var docker))
                Assert.True(File.Exists(Path.Combine(folder, ((YamlScalarNode)((YamlMappingNode)docker)["path"]).Value!)), $"{key}: Dockerfile missing");
        }
        Assert.Equal("function", hosts["functions"]);
        Assert.Equal("containerapp", hosts["gpujob"]);
        var hooks = (YamlMappingNode)root["hooks"];
        foreach (var (_, hook) in hooks.Children)
            Assert.True(File.Exists(Path.Combine(Root, ((YamlScalarNode)((YamlMappingNode)hook)["run"]).Value!)));
        // The names azd tags resources with match the Bicep tags.
        Assert.Contains("'azd-service-name': 'functions'", File.ReadAllText(Path.Combine(Root, "infra/modules/functions.bicep")));
        Assert.Contains("'azd-service-name': 'gpujob'", File.ReadAllText(Path.Combine(Root, "infra/modules/gpujob.bicep")));
    }

    [Fact]
    public void The_dockerfile_builds_the_worker_from_real_paths_with_cuda_libtorch_as_a_non_root_user()
    {
        string dockerfile = File.ReadAllText(Path.Combine(Root, "src/GpuJob/Dockerfile"));
        var copies = Regex.Matches(dockerfile, @"^COPY (?!--from)(.+) (\S+)$", RegexOptions.Multiline);
        Assert.NotEmpty(copies);
        foreach (Match copy in copies)
            foreach (string source in copy.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                Assert.True(File.Exists(Path.Combine(Root, source)) || Directory.Exists(Path.Combine(Root, source)), $"COPY source {source} does not exist");
        foreach (Match project in Regex.Matches(dockerfile, @"(src/\S+\.csproj)"))
            Assert.True(File.Exists(Path.Combine(Root, project.Groups[1].Value)), $"{project.Groups[1].Value} does not exist");
        Assert.Matches(@"dotnet publish src/GpuJob/GpuJob\.csproj .*-p:TorchBackend=cuda", dockerfile);
        // The image has no npm and no src/Viewer: the worker serves no page, so it is built without the viewer.
        Assert.Matches(@"dotnet publish src/GpuJob/GpuJob\.csproj .*-p:EmbedViewer=false", dockerfile);
        Assert.Contains("fonts-dejavu-core", dockerfile); // the text of curves.png and preview.png
        Assert.Matches(@"dotnet restore src/GpuJob/GpuJob\.csproj -p:TorchBackend=cuda", dockerfile);
        Assert.Matches(@"FROM nvidia/cuda:\S+-runtime", dockerfile);
        Assert.Matches(@"(?m)^USER (?!root|0\b)\S+", dockerfile);
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"/app/guidednet.dll\", \"worker\"]", dockerfile);
        // Every project the worker references, directly or through another, is copied into the build stage.
        var pending = new Queue<string>(["GpuJob"]);
        var seen = new HashSet<string>();
        while (pending.TryDequeue(out string? project))
        {
            if (!seen.Add(project)) continue;
            Assert.Contains($"COPY src/{project}/{project}.csproj src/{project}/", dockerfile);
            Assert.Contains($"COPY src/{project}/ src/{project}/", dockerfile);
            string csproj = File.ReadAllText(Path.Combine(Root, $"src/{project}/{project}.csproj"));
            foreach (Match reference in Regex.Matches(csproj, "ProjectReference Include=\"\\.\\./(\\w+)/"))
                pending.Enqueue(reference.Groups[1].Value);
        }
        Assert.Superset(new HashSet<string> { "GpuJob", "GuidedNet", "Pipeline", "Imaging", "Settings" }, seen);
        // The default build (everything outside the image) stays on the CPU libtorch package.
        Assert.Contains("<TorchBackend Condition=\"'$(TorchBackend)' == ''\">cpu</TorchBackend>", File.ReadAllText(Path.Combine(Root, "src/GuidedNet/GuidedNet.csproj")));
    }
}
