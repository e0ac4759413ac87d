using System.Reflection;
using System.Text.Json;
using GuidedNet.Pipeline.Activities;
using GuidedNet.TestSupport;

namespace GuidedNet.Functions.Tests;

/// <summary>The Functions build output: functions.metadata lists every function with its trigger, and host.json ships beside it.</summary>
public sealed class FunctionsMetadataTests
{
    private static string Output(string file)
    {
        string configuration = AppContext.BaseDirectory.Contains("/Debug/") ? "Debug" : "Release";
        return Path.Combine(Reference.RepositoryRoot, "src", "Functions", "bin", configuration, "net10.0", "linux-x64", file);
    }

    [Fact]
    public void Functions_metadata_lists_every_orchestrator_activity_and_trigger()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Output("functions.metadata")));
        var functions = doc.RootElement.EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!,
            f => f.GetProperty("bindings").EnumerateArray().Select(b => b.Clone()).ToList());

        var taskNames = typeof(TaskNames).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetValue(null)!).ToList();
        Assert.Equal(13, taskNames.Count);
        foreach (string name in taskNames)
        {
            Assert.True(functions.ContainsKey(name), $"{name} is not a function");
            string trigger = functions[name][0].GetProperty("type").GetString()!;
            Assert.Equal(name is TaskNames.TrainDataset or TaskNames.SegmentScan ? "orchestrationTrigger" : "activityTrigger", trigger);
        }

        var blob = functions["ScanDropped"][0];
        Assert.Equal("blobTrigger", blob.GetProperty("type").GetString());
        Assert.Equal("scans/incoming/{project}/{name}", blob.GetProperty("path").GetString());
        Assert.Equal("EventGrid", blob.GetProperty("source").GetString());
        var label = functions["LabelDropped"][0];
        Assert.Equal("blobTrigger", label.GetProperty("type").GetString());
        Assert.Equal("scans/labels/{project}/{name}", label.GetProperty("path").GetString());
        Assert.Equal("EventGrid", label.GetProperty("source").GetString());
        Assert.Equal("%Schedule:Retrain%", functions["ScheduledRetrain"][0].GetProperty("schedule").GetString());
        foreach (var (name, route, method) in new[] { ("StartTraining", "datasets/{name}/train", "post"), ("GetRun", "runs/{id}", "get"), ("CancelRun", "runs/{id}/cancel", "post") })
        {
            var http = functions[name][0];
            Assert.Equal("httpTrigger", http.GetProperty("type").GetString());
            Assert.Equal(route, http.GetProperty("route").GetString());
            Assert.Equal("Function", http.GetProperty("authLevel").GetString(), ignoreCase: true);
            Assert.Equal(method, Assert.Single(http.GetProperty("methods").EnumerateArray()).GetString());
            Assert.Contains(functions[name], b => b.GetProperty("type").GetString() == "durableClient");
        }
        // The viewer's read-only routes: GET only, behind the same function keys.
        foreach (var (name, route) in new[]
                 {
                     ("ListRuns", "runs"), ("ListProjects", "projects"), ("ListCases", "projects/{project}/cases"), ("GetCase", "projects/{project}/cases/{caseName}"),
                     ("GetCaseFile", "projects/{project}/cases/{caseName}/runs/{run}/{file}"), ("ListQuarantined", "projects/{project}/quarantine"), ("ListModels", "models"), ("GetModels", "models/{dataset}"),
                     ("GetModelFile", "models/{dataset}/{version}/{file}"), ("Viewer", "viewer/{file?}"),
                 })
        {
            var http = functions[name][0];
            Assert.Equal("httpTrigger", http.GetProperty("type").GetString());
            Assert.Equal(route, http.GetProperty("route").GetString());
            Assert.Equal("Function", http.GetProperty("authLevel").GetString(), ignoreCase: true);
            Assert.Equal("get", Assert.Single(http.GetProperty("methods").EnumerateArray()).GetString());
        }
        var notice = functions["JobNoticeArrived"][0];
        Assert.Equal("queueTrigger", notice.GetProperty("type").GetString());
        Assert.Equal("%Jobs:NoticeQueueName%", notice.GetProperty("queueName").GetString());
        Assert.Contains(functions["JobNoticeArrived"], b => b.GetProperty("type").GetString() == "durableClient");
        Assert.Equal(taskNames.Count + 17, functions.Count);
    }

    [Fact]
    public void Host_json_is_copied_to_the_output_and_configures_durable_task()
    {
        string source = Path.Combine(Reference.RepositoryRoot, "host.json");
        Assert.Equal(File.ReadAllText(source), File.ReadAllText(Output("host.json")));
        using var doc = JsonDocument.Parse(File.ReadAllText(source));
        var root = doc.RootElement;
        Assert.Equal("2.0", root.GetProperty("version").GetString());
        var durable = root.GetProperty("extensions").GetProperty("durableTask");
        Assert.Equal("%DurableTaskHubName%", durable.GetProperty("hubName").GetString());
        Assert.Equal("AzureStorage", durable.GetProperty("storageProvider").GetProperty("type").GetString());
        Assert.False(durable.GetProperty("extendedSessionsEnabled").GetBoolean());
        Assert.True(durable.GetProperty("maxConcurrentActivityFunctions").GetInt32() > 0);
        Assert.True(TimeSpan.Parse(root.GetProperty("functionTimeout").GetString()!) >= TimeSpan.FromMinutes(10));
        Assert.True(root.GetProperty("logging").GetProperty("logLevel").TryGetProperty("default", out _));
        // Workers send notices as plain JSON (JobNoticeQueue); the trigger's default would expect base64.
        Assert.Equal("none", root.GetProperty("extensions").GetProperty("queues").GetProperty("messageEncoding").GetString());
    }
}
