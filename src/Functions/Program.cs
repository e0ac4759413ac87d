using GuidedNet.Functions;
using Microsoft.Extensions.Hosting;

// The Azure Functions app: blob, timer and HTTP triggers and one-line shims over the Pipeline
// classes. It never loads libtorch: GPU work goes to the Container Apps job through the job queue.
FunctionsApp.CreateHost(args).Run();
