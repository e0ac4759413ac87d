using System.IO.Compression;

namespace GuidedNet.Imaging.Dicom;

/// <summary>
/// The files a DICOM input holds — a folder (searched recursively), a <c>.zip</c>, or one file —
/// each read with a bound on its size, so that a lying zip entry or a huge stray file is refused
/// with the limit it hit rather than read into memory.
/// </summary>
internal sealed class DicomSources : IDisposable
{
    /// <summary>One file of the input; <see cref="Name"/> is how messages name it.</summary>
    public sealed record Entry(string Name, long Length, Func<Stream> Open);

    private readonly ZipArchive? _zip;

    private DicomSources(IReadOnlyList<Entry> entries, ZipArchive? zip)
    {
        Entries = entries;
        _zip = zip;
    }

    public IReadOnlyList<Entry> Entries { get; }

    /// <summary>Whether a file is a zip archive (by its first bytes, not its name).</summary>
    public static bool IsZip(string path)
    {
        if (!File.Exists(path)) return false;
        Span<byte> magic = stackalloc byte[4];
        using var file = File.OpenRead(path);
        return file.Read(magic) == 4 && magic.SequenceEqual("PK\u0003\u0004"u8);
    }

    public static DicomSources Open(string path, DicomReadOptions options)
    {
        List<Entry> entries;
        ZipArchive? zip = null;
        if (Directory.Exists(path))
        {
            entries = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                .OrderBy(f => f, StringComparer.Ordinal)
                .Take(options.MaxFiles + 1)
                .Select(f => new Entry(f, new FileInfo(f).Length, () => File.OpenRead(f)))
                .ToList();
        }
        else if (IsZip(path))
        {
            try
            {
                zip = ZipFile.OpenRead(path);
                entries = zip.Entries.Where(e => !e.FullName.EndsWith('/'))
                    .OrderBy(e => e.FullName, StringComparer.Ordinal)
                    .Take(options.MaxFiles + 1)
                    .Select(e => new Entry($"{path}!{e.FullName}", e.Length, e.Open))
                    .ToList();
            }
            catch (InvalidDataException e)
            {
                zip?.Dispose();
                throw new DicomFormatException(path, $"not a readable zip archive: {e.Message}", e);
            }
        }
        else if (File.Exists(path))
        {
            entries = [new Entry(path, new FileInfo(path).Length, () => File.OpenRead(path))];
        }
        else
        {
            throw new DicomFormatException(path, "no such file or folder");
        }
        if (entries.Count > options.MaxFiles)
        {
            zip?.Dispose();
            throw new DicomFormatException(path, $"holds more than {options.MaxFiles} files, over the limit MaxFiles");
        }
        return new DicomSources(entries, zip);
    }

    /// <summary>Up to <paramref name="count"/> first bytes of an entry (all of it when count is -1), within MaxFileBytes.</summary>
    public static byte[] Read(Entry entry, long count, DicomReadOptions options)
    {
        if (entry.Length > options.MaxFileBytes)
            throw new DicomFormatException(entry.Name, $"{entry.Length} bytes, over the limit MaxFileBytes = {options.MaxFileBytes}");
        long want = count < 0 ? entry.Length : Math.Min(count, entry.Length);
        var buffer = new byte[want];
        try
        {
            using var stream = entry.Open();
            int got = 0;
            while (got < want)
            {
                int n = stream.Read(buffer, got, (int)Math.Min(want - got, 1 << 20));
                if (n == 0) break;
                got += n;
            }
            if (got < want)
                throw new DicomFormatException(entry.Name, $"ends after {got} of its {entry.Length} bytes (truncated)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new DicomFormatException(entry.Name, $"cannot be read: {e.Message}", e);
        }
        return buffer;
    }

    public void Dispose() => _zip?.Dispose();
}
