using GuidedNet.Evaluation;

namespace GuidedNet.Inference;

/// <summary>
/// nnU-Net's post-processing: per class, keep only the largest connected component (6-connected,
/// as scipy's default structure) and set the class's other islands to background — where the
/// validation split shows it raises the class's Dice (<see cref="Decide"/>).
/// </summary>
public static class LargestComponentPostProcessing
{
    /// <summary>Keeps the largest 6-connected component of each of <paramref name="classes"/> in a (z, y, x) label map; returns the voxels removed.</summary>
    public static long Apply(Span<float> labels, int depth, int height, int width, IReadOnlyCollection<int> classes)
    {
        long removed = 0;
        Span<int> neighbours = stackalloc int[6];
        // Components are labelled within each class's bounding box only: memory follows the organ, not
        // the scan. One pass finds every listed class's box (x0, x1, y0, y1, z0, z1).
        var boxes = classes.ToDictionary(c => c, _ => new[] { width, -1, height, -1, depth, -1 });
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] == 0 || !boxes.TryGetValue((int)labels[i], out var b)) continue;
            int x = i % width, y = i / width % height, z = i / (width * height);
            b[0] = Math.Min(b[0], x); b[1] = Math.Max(b[1], x);
            b[2] = Math.Min(b[2], y); b[3] = Math.Max(b[3], y);
            b[4] = Math.Min(b[4], z); b[5] = Math.Max(b[5], z);
        }
        foreach (int label in classes)
        {
            var box = boxes[label];
            if (box[1] < 0) continue;
            int x0 = box[0], x1 = box[1], y0 = box[2], y1 = box[3], z0 = box[4], z1 = box[5];
            int w = x1 - x0 + 1, h = y1 - y0 + 1, d = z1 - z0 + 1;
            var component = new int[(long)w * h * d]; // 0: not this class or not reached yet; n: component n
            int Full(int b) => (z0 + b / (w * h)) * width * height + (y0 + b / w % h) * width + x0 + b % w;
            var sizes = new List<long> { 0 };
            var stack = new Stack<int>();
            for (int start = 0; start < component.Length; start++)
            {
                if (component[start] != 0 || labels[Full(start)] != label) continue;
                int id = sizes.Count;
                long size = 0;
                component[start] = id;
                stack.Push(start);
                while (stack.Count > 0)
                {
                    int b = stack.Pop();
                    size++;
                    int x = b % w, y = b / w % h, z = b / (w * h);
                    int count = 0;
                    if (x > 0) neighbours[count++] = b - 1;
                    if (x < w - 1) neighbours[count++] = b + 1;
                    if (y > 0) neighbours[count++] = b - w;
                    if (y < h - 1) neighbours[count++] = b + w;
                    if (z > 0) neighbours[count++] = b - w * h;
                    if (z < d - 1) neighbours[count++] = b + w * h;
                    foreach (int n in neighbours[..count])
                        if (component[n] == 0 && labels[Full(n)] == label)
                        {
                            component[n] = id;
                            stack.Push(n);
                        }
                }
                sizes.Add(size);
            }
            if (sizes.Count <= 2) continue; // one component
            int largest = 1;
            for (int c = 2; c < sizes.Count; c++) if (sizes[c] > sizes[largest]) largest = c;
            for (int b = 0; b < component.Length; b++)
                if (component[b] != 0 && component[b] != largest)
                {
                    labels[Full(b)] = 0;
                    removed++;
                }
        }
        return removed;
    }

    /// <summary>How many validation cases must hold a class (in truth or prediction) before its post-processing is decided.</summary>
    public const int MinimumEvidenceCases = 3;

    /// <summary>A validation case: predicted and true labels in one (z, y, x) grid.</summary>
    public sealed record ValidationCase(byte[] Predicted, byte[] Truth, int Depth, int Height, int Width);

    /// <summary>
    /// The classes whose mean validation Dice (over the cases that hold the class in truth or
    /// prediction) is raised by keeping their largest component — strictly, as nnU-Net decides: a
    /// class it leaves unchanged, or that no case holds, gives no evidence, and on a test scan the
    /// largest component can be a false positive and the true organ the island removed (seen in the
    /// demo with a "does not lower" rule: a small organ's Dice fell from 0.37 to 0). A class needs
    /// at least <see cref="MinimumEvidenceCases"/> validation cases holding it: nnU-Net decides on
    /// cross-validation over every training case, and with the strict rule alone a single validation
    /// case still chose it for a small organ whose true component a test scan then lost (Dice 0.33 → 0).
    /// </summary>
    public static int[] Decide(IReadOnlyList<ValidationCase> cases, int numClasses)
    {
        var before = cases.Select(c => DiceScore.ByClass(c.Predicted, c.Truth, numClasses)).ToList();
        var chosen = new List<int>();
        for (int k = 1; k < numClasses; k++)
        {
            var after = cases.Select(c =>
            {
                var labels = c.Predicted.Select(b => (float)b).ToArray();
                Apply(labels, c.Depth, c.Height, c.Width, [k]);
                return DiceScore.ByClass(labels.Select(v => (byte)v).ToArray(), c.Truth, numClasses)[k - 1];
            }).ToList();
            var pairs = before.Select(b => b[k - 1]).Zip(after).Where(p => p.First.HasValue && p.Second.HasValue).ToList();
            if (pairs.Count < MinimumEvidenceCases) continue;
            if (pairs.Average(p => p.Second!.Value) > pairs.Average(p => p.First!.Value)) chosen.Add(k);
        }
        return chosen.ToArray();
    }
}
