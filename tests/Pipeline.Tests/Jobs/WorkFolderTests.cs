using GuidedNet.Pipeline.Jobs.Worker;

namespace GuidedNet.Pipeline.Tests.Jobs;

public sealed class WorkFolderTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "guidednet-tests", "work-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private static void Fill(string file, int bytes, DateTime used)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllBytes(file, new byte[bytes]);
        File.SetLastWriteTimeUtc(file, used);
    }

    [Fact]
    public void Space_over_the_budget_is_freed_least_recently_used_first_and_never_from_what_is_in_use()
    {
        var work = new WorkFolder(_root, budgetBytes: 2500);
        var now = DateTime.UtcNow;
        string oldModel = work.Model("models/a/v1/model.guidednet");
        Fill(oldModel, 1000, now.AddHours(-5));
        string recentModel = work.Model("models/a/v2/model.guidednet");
        Fill(recentModel, 1000, now.AddHours(-1));
        string failedJob = work.Job("train-a~1");
        Fill(Path.Combine(failedJob, "dataset", "x.nii.gz"), 1000, now);
        Directory.SetLastWriteTimeUtc(failedJob, now.AddHours(-3));
        string running = work.Job("train-a~2"); // the oldest, but in use
        Fill(Path.Combine(running, "cache", "y.nii"), 1000, now);
        Directory.SetLastWriteTimeUtc(running, now.AddHours(-9));

        Assert.Equal(4000, work.UsedBytes());
        var removed = work.EnforceBudget(running);
        // 4000 → 3000 (oldest not in use: the v1 model) → 2000 (the failed job's folder), then within budget.
        Assert.Equal(new[] { oldModel, failedJob }, removed);
        Assert.True(Directory.Exists(running));
        Assert.True(File.Exists(recentModel));
        Assert.Equal(2000, work.UsedBytes());
        Assert.Empty(work.EnforceBudget(running));

        // A model read from the cache counts as used now: it outlives an older one.
        Fill(oldModel, 1000, now.AddHours(-5));
        work.Model("models/a/v2/model.guidednet");
        Fill(Path.Combine(work.Job("predict-b"), "scan.nii.gz"), 1000, now); // 4000 in use
        Assert.Equal(new[] { running, oldModel }, work.EnforceBudget()); // no longer in use: the oldest goes first
    }

    [Fact]
    public void A_released_job_leaves_nothing_and_a_job_id_cannot_climb_out()
    {
        var work = new WorkFolder(_root, budgetBytes: 1_000_000);
        string job = work.Job("train-x~3");
        Fill(Path.Combine(job, "attempt-1", "checkpoint.zip"), 10, DateTime.UtcNow);
        work.ReleaseJob("train-x~3");
        Assert.False(Directory.Exists(job));
        Assert.Equal(0, work.UsedBytes());
        work.ReleaseJob("train-x~3"); // already gone: nothing to do
        Assert.Throws<ArgumentException>(() => work.Job("../escape"));
        Assert.Throws<ArgumentException>(() => work.Job(".."));
    }

    [Fact]
    public void Partial_files_of_writers_that_died_are_swept_and_a_live_writer_s_stay()
    {
        var work = new WorkFolder(_root, budgetBytes: 1_000_000);
        string dead = Path.Combine(work.Job("j"), ".model.guidednet.999999999.partial");
        string live = Path.Combine(work.Job("j"), $".scan.nii.gz.{Environment.ProcessId}.partial");
        string unnamed = Path.Combine(_root, "models", ".odd.partial");
        string kept = Path.Combine(work.Job("j"), "scan.nii.gz");
        foreach (string file in new[] { dead, live, unnamed, kept }) Fill(file, 5, DateTime.UtcNow);
        var removed = work.SweepPartialFiles();
        Assert.Equal(new[] { dead, unnamed }.Order(), removed.Order());
        Assert.True(File.Exists(live));
        Assert.True(File.Exists(kept));
    }

    [Fact]
    public void A_job_folder_another_live_worker_holds_is_never_evicted_and_a_dead_worker_s_is()
    {
        var work = new WorkFolder(_root, budgetBytes: 500);
        var now = DateTime.UtcNow;
        string held = work.Job("train-held");
        string orphaned = work.Job("train-orphaned");
        Fill(Path.Combine(held, "cache.nii"), 1000, now);
        Fill(Path.Combine(orphaned, "cache.nii"), 1000, now);
        // The parent of this test process is alive and is not this process: a worker beside us.
        using var parent = System.Diagnostics.Process.GetProcessById(ParentPid());
        File.WriteAllText(Path.Combine(held, ".owner"), parent.Id.ToString());
        File.WriteAllText(Path.Combine(orphaned, ".owner"), "999999999");
        Directory.SetLastWriteTimeUtc(held, now.AddHours(-9));
        Directory.SetLastWriteTimeUtc(orphaned, now.AddHours(-1));
        Assert.Equal(new[] { orphaned }, work.EnforceBudget());
        Assert.True(Directory.Exists(held));
    }

    private static int ParentPid() =>
        int.Parse(File.ReadAllText($"/proc/{Environment.ProcessId}/stat").Split(')')[1].Trim().Split(' ')[1]);
}
