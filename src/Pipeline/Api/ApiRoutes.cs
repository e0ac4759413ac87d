namespace GuidedNet.Pipeline.Api;

/// <summary>
/// The HTTP API's routes, below <c>/api/</c>, as both hosts map them (the local host's minimal API and
/// the Functions app's HTTP triggers): one template per route, so the two cannot drift, and the
/// parameter names the handlers bind.
/// </summary>
public static class ApiRoutes
{
    public const string Prefix = "/api/";

    public const string Health = "health";
    public const string StartTraining = "datasets/{name}/train";
    public const string Runs = "runs";
    public const string Run = "runs/{id}";
    public const string CancelRun = "runs/{id}/cancel";
    public const string Retrain = "retrain";

    public const string Projects = "projects";
    public const string Cases = "projects/{project}/cases";
    public const string Case = "projects/{project}/cases/{caseName}";
    public const string CaseFile = "projects/{project}/cases/{caseName}/runs/{run}/{file}";
    public const string Quarantined = "projects/{project}/quarantine";
    public const string Models = "models";
    public const string DatasetModels = "models/{dataset}";
    public const string ModelFile = "models/{dataset}/{version}/{file}";

    /// <summary>The results viewer's page and scripts in the Functions app (the local host serves them at <c>/</c>).</summary>
    public const string Viewer = "viewer/{file?}";
}
