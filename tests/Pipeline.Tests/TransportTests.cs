using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Jobs.Transport;

namespace GuidedNet.Pipeline.Tests;

/// <summary>The job message format both transports carry (Service Bus cannot run here; its message mapping can be checked).</summary>
public sealed class TransportTests
{
    private static readonly JobMessage Message = new()
    {
        JobId = "train~liver~v1~train",
        Kind = JobKind.Train,
        Attempt = 2,
        OrchestrationId = "train~liver~v1",
        Train = new TrainJob("liver", "v1", "datasets/liver/manifests/v1.json", "models/liver/v1/", new TrainRequest { Iterations = 10 }),
    };

    [Fact]
    public void Service_bus_messages_carry_the_job_id_and_attempt_so_duplicates_of_one_dispatch_are_dropped()
    {
        var sb = ServiceBusJobQueue.ToMessage(Message);
        Assert.Equal("train~liver~v1~train.2", sb.MessageId);
        Assert.NotEqual(ServiceBusJobQueue.ToMessage(Message with { Attempt = 3 }).MessageId, sb.MessageId);
        Assert.Equal(sb.MessageId, ServiceBusJobQueue.ToMessage(Message).MessageId);
        Assert.Equal("Train", sb.Subject);
        Assert.Equal("train~liver~v1", sb.CorrelationId);
        var back = JobQueue.TryParse(sb.Body.ToString());
        Assert.NotNull(back);
        Assert.Equal(Message.JobId, back.JobId);
        Assert.Equal(2, back.Attempt);
        Assert.Equal(10, back.Train!.Settings.Iterations);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{}")]
    [InlineData("{\"jobId\": \"x\", \"kind\": \"train\", \"orchestrationId\": \"o\"}")]
    public void Bodies_that_are_not_complete_job_messages_are_recognised(string body) => Assert.Null(JobQueue.TryParse(body));
}
