using GuidedNet.Runtime;

namespace GuidedNet.Tests;

public class ComputeThreadTests
{
    [Fact]
    public void Work_posted_from_thread_pool_threads_runs_on_the_pumping_thread_and_its_result_or_exception_comes_back()
    {
        var compute = new ComputeThread();
        int pumping = Environment.CurrentManagedThreadId;
        var ranOn = new List<int>();
        var main = Task.Run(async () =>
        {
            for (int i = 0; i < 3; i++) ranOn.Add(await compute.RunAsync(() => Environment.CurrentManagedThreadId));
            var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => compute.RunAsync<int>(() => throw new InvalidOperationException("step failed")));
            Assert.Equal("step failed", failed.Message);
            return ranOn.Count;
        });
        Assert.Equal(3, compute.Pump(main));
        Assert.All(ranOn, id => Assert.Equal(pumping, id));
        Assert.True(main.IsCompletedSuccessfully);
    }

    [Fact]
    public void The_pump_ends_with_the_main_task_s_exception()
    {
        var compute = new ComputeThread();
        var main = Task.Run<int>(async () =>
        {
            await compute.RunAsync(() => 1);
            throw new IOException("storage went away");
        });
        Assert.Equal("storage went away", Assert.Throws<IOException>(() => compute.Pump(main)).Message);
    }
}
