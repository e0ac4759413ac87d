using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using GuidedNet.TestSupport;

namespace GuidedNet.Deployment.Tests;

/// <summary>
/// The infrastructure as the Bicep CLI (from NuGet) compiles it: no errors or warnings from build
/// and lint, and the compiled ARM template holds the resources, settings and role assignments the
/// pipeline relies on — with no key or keyed connection string anywhere.
/// </summary>
public sealed class BicepTests
{
    private static readonly Lazy<JsonObject> Template = new(Compile);

    private static string Bicep()
    {
        string path = typeof(BicepTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BicepPath").Value!.Replace('\\', '/');
        // NuGet does not keep the executable bit.
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        return path;
    }

    private static (int Code, string Output) Run(params string[] args)
    {
        var info = new ProcessStartInfo(Bicep()) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Reference.RepositoryRoot };
        foreach (string a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr);
    }

    private static JsonObject Compile()
    {
        var (code, output) = Run("build", "infra/main.bicep", "--stdout");
        Assert.True(code == 0, output);
        return JsonNode.Parse(output[..(output.LastIndexOf('}') + 1)])!.AsObject();
    }

    public static IEnumerable<object[]> BicepFiles() =>
        Directory.EnumerateFiles(Path.Combine(Reference.RepositoryRoot, "infra"), "*.bicep", SearchOption.AllDirectories)
            .Select(f => new object[] { Path.GetRelativePath(Reference.RepositoryRoot, f) });

    [Theory]
    [MemberData(nameof(BicepFiles))]
    public void Every_bicep_file_builds_and_lints_without_errors_or_warnings(string file)
    {
        foreach (string command in new[] { "build", "lint" })
        {
            var (code, output) = command == "build" ? Run("build", file, "--stdout") : Run("lint", file);
            Assert.True(code == 0, $"bicep {command} {file}: exit {code}\n{output}");
            string diagnostics = command == "build" ? output[(output.LastIndexOf('}') + 1)..] : output;
            Assert.DoesNotContain("Warning", diagnostics);
            Assert.DoesNotContain("Error", diagnostics);
        }
    }

    /// <summary>Every resource of the compiled template, nested deployments included.</summary>
    private static List<JsonObject> Resources()
    {
        var all = new List<JsonObject>();
        void Walk(JsonNode? resources)
        {
            var items = resources is JsonArray array ? array.Select(r => r!.AsObject())
                : resources is JsonObject map ? map.Select(kv => kv.Value!.AsObject()) : Enumerable.Empty<JsonObject>();
            foreach (var r in items)
            {
                all.Add(r);
                if (r["type"]?.GetValue<string>() == "Microsoft.Resources/deployments") Walk(r["properties"]?["template"]?["resources"]);
            }
        }
        Walk(Template.Value["resources"]);
        return all;
    }

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Text(JsonNode node) => node.ToJsonString(Relaxed);

    private static JsonObject Module(string name) =>
        Resources().Single(r => r["type"]!.GetValue<string>() == "Microsoft.Resources/deployments" && r["name"]!.GetValue<string>() == name);

    private static JsonObject Single(string type, string? nameContains = null) =>
        Assert.Single(Resources(), r => r["type"]!.GetValue<string>() == type && (nameContains is null || r["name"]!.ToJsonString().Contains(nameContains)));

    [Fact]
    public void The_template_holds_every_resource_the_pipeline_needs()
    {
        var types = Resources().Select(r => r["type"]!.GetValue<string>()).ToHashSet();
        foreach (string type in new[]
                 {
                     "Microsoft.Storage/storageAccounts", "Microsoft.Storage/storageAccounts/blobServices/containers", "Microsoft.Storage/storageAccounts/queueServices/queues",
                     "Microsoft.ServiceBus/namespaces", "Microsoft.ServiceBus/namespaces/queues", "Microsoft.Web/serverfarms", "Microsoft.Web/sites",
                     "Microsoft.App/managedEnvironments", "Microsoft.App/jobs", "Microsoft.ContainerRegistry/registries", "Microsoft.OperationalInsights/workspaces",
                     "Microsoft.Insights/components", "Microsoft.ManagedIdentity/userAssignedIdentities", "Microsoft.Authorization/roleAssignments",
                 })
            Assert.Contains(type, types);

        var storage = Single("Microsoft.Storage/storageAccounts")["properties"]!;
        Assert.False(storage["allowBlobPublicAccess"]!.GetValue<bool>());
        Assert.False(storage["allowSharedKeyAccess"]!.GetValue<bool>());
        Assert.Equal("TLS1_2", storage["minimumTlsVersion"]!.GetValue<string>());
        var blobService = Single("Microsoft.Storage/storageAccounts/blobServices")["properties"]!;
        Assert.True(blobService["deleteRetentionPolicy"]!["enabled"]!.GetValue<bool>());
        var containers = Module("storage")["properties"]!["template"]!["variables"]!["containers"]!.AsArray().Select(c => c!.GetValue<string>()).ToList();
        foreach (string c in new[] { "scans", "datasets", "models", "jobs", "results", "quarantine" }) Assert.Contains(c, containers);
        Assert.Contains("variables('containers')", Text(Single("Microsoft.Storage/storageAccounts/blobServices/containers")));

        var queue = Single("Microsoft.ServiceBus/namespaces/queues")["properties"]!;
        Assert.True(queue["requiresDuplicateDetection"]!.GetValue<bool>());
        Assert.True(queue["deadLetteringOnMessageExpiration"]!.GetValue<bool>());
        Assert.Equal("PT5M", queue["lockDuration"]!.GetValue<string>());
        Assert.InRange(queue["maxDeliveryCount"]!.GetValue<int>(), 3, 10);
        Assert.True(Single("Microsoft.ServiceBus/namespaces")["properties"]!["disableLocalAuth"]!.GetValue<bool>());

        Assert.Equal("FlexConsumption", Single("Microsoft.Web/serverfarms")["sku"]!["tier"]!.GetValue<string>());
        var site = Single("Microsoft.Web/sites");
        Assert.Equal("SystemAssigned", site["identity"]!["type"]!.GetValue<string>());
        Assert.Equal("dotnet-isolated", site["properties"]!["functionAppConfig"]!["runtime"]!["name"]!.GetValue<string>());
        var settings = site["properties"]!["siteConfig"]!["appSettings"]!.AsArray().ToDictionary(s => s!["name"]!.GetValue<string>(), s => s!["value"]!.ToJsonString());
        foreach (string name in new[] { "AzureWebJobsStorage__accountName", "ServiceBusConnection__fullyQualifiedNamespace", "DurableTaskHubName", "Storage__AccountName",
                     "Jobs__Transport", "Jobs__ServiceBusNamespace", "Jobs__QueueName", "Jobs__NoticeQueueName", "Schedule__Retrain", "Promotion__Margin" })
            Assert.True(settings.ContainsKey(name), $"app setting {name} missing");
        Assert.DoesNotContain(settings.Keys, k => k == "AzureWebJobsStorage");

        Assert.Contains("variables('gpuProfile')", Text(Single("Microsoft.App/managedEnvironments")["properties"]!["workloadProfiles"]!));
        string gpuProfile = Module("gpujob")["properties"]!["template"]!["variables"]!["gpuProfile"]!.GetValue<string>();
        Assert.Contains("Consumption-GPU-NC24-A100", gpuProfile);
        Assert.Contains("Consumption-GPU-NC8as-T4", gpuProfile);
        Assert.True(Template.Value["parameters"]!["gpuType"]!["allowedValues"]!.AsArray().Select(v => v!.GetValue<string>()).SequenceEqual(new[] { "T4", "A100" }));
        Assert.True(Template.Value["parameters"]!.AsObject().ContainsKey("workerParallelism"));
    }

    [Fact]
    public void The_gpu_job_is_triggered_by_the_queue_the_functions_app_sends_to_with_managed_identity()
    {
        var job = Single("Microsoft.App/jobs");
        var configuration = job["properties"]!["configuration"]!;
        Assert.Equal("Event", configuration["triggerType"]!.GetValue<string>());
        Assert.Equal("gpu", job["properties"]!["workloadProfileName"]!.GetValue<string>());
        var rule = Assert.Single(configuration["eventTriggerConfig"]!["scale"]!["rules"]!.AsArray())!;
        Assert.Equal("azure-servicebus", rule["type"]!.GetValue<string>());
        Assert.NotNull(rule["identity"]);
        Assert.Null(rule["auth"]);
        Assert.Contains("identity", configuration["registries"]![0]!.AsObject().Select(kv => kv.Key));
        Assert.Contains("replicaTimeout", configuration.AsObject().Select(kv => kv.Key));
        Assert.Contains("parallelism", configuration["eventTriggerConfig"]!.AsObject().Select(kv => kv.Key));

        // One queue name flows from main.bicep to the scaler, the worker and the Functions app.
        string queueName = Template.Value["variables"]!["jobQueueName"]!.GetValue<string>();
        Assert.Equal("[variables('jobQueueName')]", Module("gpujob")["properties"]!["parameters"]!["jobQueueName"]!["value"]!.GetValue<string>());
        Assert.Equal("[variables('jobQueueName')]", Module("functions")["properties"]!["parameters"]!["jobQueueName"]!["value"]!.GetValue<string>());
        Assert.Equal("[variables('jobQueueName')]", Module("servicebus")["properties"]!["parameters"]!["queueName"]!["value"]!.GetValue<string>());
        Assert.Equal("guidednet-jobs", queueName);
        Assert.Contains("parameters('jobQueueName')", rule["metadata"]!["queueName"]!.GetValue<string>());
        var env = job["properties"]!["template"]!["containers"]![0]!["env"]!.AsArray().ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"]!.GetValue<string>());
        Assert.Contains("parameters('jobQueueName')", env["Jobs__QueueName"]);
        Assert.Equal("ServiceBus", env["Jobs__Transport"]);

        // The notice queue: one name from main.bicep to the storage account that holds it, the worker that sends to it and the Functions trigger that drains it.
        Assert.Equal("guidednet-jobs-notices", Template.Value["variables"]!["noticeQueueName"]!.GetValue<string>());
        foreach (string module in new[] { "storage", "gpujob", "functions", "roles" })
            Assert.Equal("[variables('noticeQueueName')]", Module(module)["properties"]!["parameters"]!["noticeQueueName"]!["value"]!.GetValue<string>());
        Assert.Contains("parameters('noticeQueueName')", env["Jobs__NoticeQueueName"]);
        Assert.Contains("parameters('noticeQueueName')", Text(Single("Microsoft.Storage/storageAccounts/queueServices/queues")));

        // Telemetry: the worker exports to the Application Insights resource, which takes Entra ID tokens only.
        Assert.Contains("applicationInsightsConnectionString", env["APPLICATIONINSIGHTS_CONNECTION_STRING"]);
        Assert.Equal("Authorization=AAD", env["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]);
    }

    [Fact]
    public void Role_assignments_give_each_identity_only_its_roles()
    {
        var roles = Module("roles")["properties"]!["template"]!;
        var roleIds = roles["variables"]!["roleIds"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<string>());
        Assert.Equal("ba92f5b4-2d11-453d-a403-e96b0029c9fe", roleIds["storageBlobDataContributor"]);
        Assert.Equal("974c5e8b-45b9-4653-ba55-5f855dd0fb88", roleIds["storageQueueDataContributor"]);
        Assert.Equal("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", roleIds["storageTableDataContributor"]);
        Assert.Equal("69a216fc-b8fb-44d8-bc22-1f3c2cd27a39", roleIds["serviceBusDataSender"]);
        Assert.Equal("4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0", roleIds["serviceBusDataReceiver"]);
        Assert.Equal("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", roleIds["storageBlobDataReader"]);
        Assert.Equal("7f951dda-4ed3-4680-a7ca-43fe172d538d", roleIds["acrPull"]);
        Assert.Equal("c6a89b2d-59bc-44d0-9896-0f6e12d7b80a", roleIds["storageQueueDataMessageSender"]);

        var assignments = Resources().Where(r => r["type"]!.GetValue<string>() == "Microsoft.Authorization/roleAssignments").Select(Text).ToList();
        (string Role, string Principal)[] expected =
        {
            ("storageBlobDataContributor", "functionsPrincipalId"), ("storageQueueDataContributor", "functionsPrincipalId"),
            ("storageTableDataContributor", "functionsPrincipalId"), ("serviceBusDataSender", "functionsPrincipalId"),
            ("storageBlobDataReader", "workerPrincipalId"), ("storageBlobDataContributor", "workerPrincipalId"),
            ("serviceBusDataReceiver", "workerPrincipalId"), ("acrPull", "workerPrincipalId"), ("storageQueueDataMessageSender", "workerPrincipalId"),
        };
        foreach (var (role, principal) in expected)
            Assert.True(assignments.Any(a => a.Contains($"roleIds').{role}") && a.Contains($"parameters('{principal}')")
                                             || a.Contains("copy") && a.Contains($"roleIds').{role}") && a.Contains($"parameters('{principal}')")),
                $"no assignment of {role} to {principal}");
        // Every assignment is to one of the two identities, and names a role of the list (never Owner or Contributor).
        Assert.All(assignments, a =>
        {
            Assert.True(a.Contains("parameters('functionsPrincipalId')") || a.Contains("parameters('workerPrincipalId')"), a);
            Assert.Contains("variables('roleIds')", a);
            Assert.Contains("ServicePrincipal", a);
        });
        // Senders only send, the worker only receives.
        Assert.DoesNotContain(assignments, a => a.Contains("roleIds').serviceBusDataReceiver") && a.Contains("functionsPrincipalId"));
        Assert.DoesNotContain(assignments, a => a.Contains("roleIds').serviceBusDataSender") && a.Contains("workerPrincipalId"));
        // The worker's storage-queue role sends only, and only to the notice queue.
        var noticeSender = Assert.Single(Resources(), r => r["type"]!.GetValue<string>() == "Microsoft.Authorization/roleAssignments" && Text(r).Contains("storageQueueDataMessageSender"));
        Assert.Contains("parameters('workerPrincipalId')", Text(noticeSender));
        Assert.Contains("parameters('noticeQueueName')", noticeSender["scope"]!.GetValue<string>());
        Assert.DoesNotContain(assignments, a => a.Contains("roleIds').storageQueueDataContributor") && a.Contains("workerPrincipalId"));
        var workerIdentity = Module("gpujob")["properties"]!["template"]!["outputs"]!["workerPrincipalId"]!["value"]!.GetValue<string>();
        Assert.Contains("userAssignedIdentities", workerIdentity);
        Assert.Contains("principalId", Module("functions")["properties"]!["template"]!["outputs"]!["principalId"]!["value"]!.GetValue<string>());
    }

    [Fact]
    public void The_workers_blob_roles_are_scoped_to_the_containers_it_uses_and_never_reach_the_deployment_package()
    {
        var roles = Module("roles")["properties"]!["template"]!;
        var reads = roles["variables"]!["workerReads"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        var writes = roles["variables"]!["workerWrites"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Equal(new[] { "scans", "datasets" }, reads);
        Assert.Equal(new[] { "models", "jobs", "results" }, writes);
        // Containers of the storage layout the deployment creates; the Functions package's is not among the worker's.
        var containers = Module("storage")["properties"]!["template"]!["variables"]!["containers"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Superset(reads.Concat(writes).ToHashSet(), containers.ToHashSet());
        Assert.DoesNotContain("deployments", reads.Concat(writes));
        Assert.DoesNotContain("quarantine", writes);

        var worker = Resources().Where(r => r["type"]!.GetValue<string>() == "Microsoft.Authorization/roleAssignments" && Text(r).Contains("parameters('workerPrincipalId')")
                                                                                                         && Text(r).Contains("roleIds').storageBlob")).ToList();
        Assert.Equal(2, worker.Count);
        foreach (var assignment in worker)
        {
            string scope = assignment["scope"]!.GetValue<string>();
            Assert.StartsWith("[resourceId('Microsoft.Storage/storageAccounts/blobServices/containers', parameters('storageAccountName'), 'default', variables('worker", scope);
            string list = Text(assignment).Contains("storageBlobDataReader") ? "workerReads" : "workerWrites";
            Assert.Contains($"variables('{list}')[copyIndex()]", scope);
            Assert.Equal($"[length(variables('{list}'))]", assignment["copy"]!["count"]!.GetValue<string>());
        }
        // Readers read; only the written containers get the contributor role.
        Assert.Contains(worker, a => Text(a).Contains("storageBlobDataReader") && a["scope"]!.GetValue<string>().Contains("workerReads"));
        Assert.Contains(worker, a => Text(a).Contains("storageBlobDataContributor") && a["scope"]!.GetValue<string>().Contains("workerWrites"));
        // And the worker's code creates containers only where it may (Azurite), not under these roles.
        Assert.Contains("e.Status == 403", File.ReadAllText(Path.Combine(Reference.RepositoryRoot, "src/GpuJob/Commands/WorkerCommand.cs")));
    }

    [Fact]
    public void Private_endpoints_and_entra_id_are_parameters_that_close_public_access_when_chosen()
    {
        var parameters = Template.Value["parameters"]!;
        Assert.False(parameters["usePrivateEndpoints"]!["defaultValue"]!.GetValue<bool>());
        Assert.Equal("", parameters["apiAuthClientId"]!["defaultValue"]!.GetValue<string>());
        var network = Module("network");
        Assert.Equal("[parameters('usePrivateEndpoints')]", network["condition"]!.GetValue<string>());
        var networkResources = network["properties"]!["template"]!["resources"]!;
        string endpoints = Text(network["properties"]!["template"]!["variables"]!["endpoints"]!);
        foreach (string group in new[] { "blob", "queue", "table", "namespace" })
            Assert.Contains($"\"name\":\"{group}\"", endpoints);
        Assert.Contains("privatelink.servicebus.windows.net", endpoints);
        Assert.Contains("Microsoft.Network/privateEndpoints", Text(networkResources));
        Assert.Contains("Microsoft.Network/privateDnsZones/virtualNetworkLinks", Text(networkResources));

        // Storage and Service Bus close their public endpoints, Service Bus moves to Premium (which private endpoints need).
        Assert.Contains("not(parameters('usePrivateEndpoints'))", Text(Module("storage")["properties"]!["parameters"]!["publicNetworkAccess"]!));
        Assert.Contains("if(parameters('publicNetworkAccess'), 'Enabled', 'Disabled')", Text(Single("Microsoft.Storage/storageAccounts")["properties"]!["publicNetworkAccess"]!));
        var bus = Single("Microsoft.ServiceBus/namespaces");
        Assert.Contains("if(parameters('privateOnly'), 'Disabled', 'Enabled')", Text(bus["properties"]!["publicNetworkAccess"]!));
        Assert.Contains("Premium", Text(bus["sku"]!));
        // The Functions app and the Container Apps environment join the network's subnets.
        Assert.Contains("functionsSubnetId", Text(Module("functions")["properties"]!["parameters"]!["subnetId"]!));
        Assert.Contains("containerAppsSubnetId", Text(Module("gpujob")["properties"]!["parameters"]!["subnetId"]!));
        Assert.Contains("infrastructureSubnetId", Text(Single("Microsoft.App/managedEnvironments")["properties"]!["vnetConfiguration"]!));

        // Entra ID in front of the API when a client id is given: unauthenticated calls get 401.
        var auth = Single("Microsoft.Web/sites/config");
        Assert.Equal("[not(empty(parameters('apiAuthClientId')))]", auth["condition"]!.GetValue<string>());
        Assert.Equal("Return401", auth["properties"]!["globalValidation"]!["unauthenticatedClientAction"]!.GetValue<string>());
        Assert.True(auth["properties"]!["globalValidation"]!["requireAuthentication"]!.GetValue<bool>());
    }

    [Fact]
    public void No_key_or_keyed_connection_string_appears_anywhere()
    {
        string compiled = Template.Value.ToJsonString();
        string sources = string.Join("\n", Directory.EnumerateFiles(Path.Combine(Reference.RepositoryRoot, "infra"), "*", SearchOption.AllDirectories).Select(File.ReadAllText));
        foreach (string text in new[] { compiled, sources })
            foreach (string forbidden in new[] { "listKeys", "listkeys", "AccountKey=", "SharedAccessKey", "primaryKey", "primarySharedKey", "connectionString\"", "listConnectionStrings" })
                Assert.DoesNotContain(forbidden, text);
        // The Application Insights connection string holds no secret (an ingestion id) and ingestion is Entra-only.
        Assert.True(Single("Microsoft.Insights/components")["properties"]!["DisableLocalAuth"]!.GetValue<bool>());
    }
}
