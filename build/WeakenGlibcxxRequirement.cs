// MSBuild inline task (compiled by RoslynCodeTaskFactory from build/TorchSharpNative.targets).
//
// Why: libLibTorchSharp.so from TorchSharp 0.107.0 declares a requirement on GLIBCXX_3.4.32,
// which Debian 12's libstdc++ (GLIBCXX up to 3.4.30) does not define, so dlopen fails. The
// only symbol bound to that version is a no-op marker, so marking the requirement weak
// (VER_FLG_WEAK in its .gnu.version_r entry) lets the dynamic loader accept the library.
// The task edits one 16-bit flag in place, only for versions the system library lacks,
// and is idempotent.
using System;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class WeakenGlibcxxRequirement : Task
{
    [Required] public ITaskItem[] Libraries { get; set; } = Array.Empty<ITaskItem>();
    [Required] public string Versions { get; set; } = "";
    public string SystemLibStdCxx { get; set; } = "";

    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    public override bool Execute()
    {
        string libstdcxx = FindSystemLibStdCxx();
        if (libstdcxx.Length == 0)
        {
            Log.LogMessage(MessageImportance.Low, "No system libstdc++ found; nothing to weaken.");
            return true;
        }
        byte[] systemBytes = File.ReadAllBytes(libstdcxx);
        string[] missing = Versions.Split(new[] { ';', ',' }, StringSplitOptions.RemoveEmptyEntries)
            .Select(v => v.Trim())
            .Where(v => IndexOf(systemBytes, Encoding.ASCII.GetBytes(v + "\0")) < 0)
            .ToArray();
        if (missing.Length == 0)
        {
            Log.LogMessage(MessageImportance.Low, $"{libstdcxx} defines {Versions}; no patch needed.");
            return true;
        }
        foreach (ITaskItem item in Libraries)
        {
            string path = item.GetMetadata("FullPath");
            if (!File.Exists(path)) continue;
            try
            {
                int changed = Patch(path, missing);
                Log.LogMessage(MessageImportance.Normal,
                    changed > 0 ? $"Marked {string.Join(",", missing)} weak in {path}" : $"{path} already patched");
            }
            catch (Exception e)
            {
                Log.LogError($"Cannot patch {path}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    private string FindSystemLibStdCxx()
    {
        if (SystemLibStdCxx.Length > 0) return File.Exists(SystemLibStdCxx) ? SystemLibStdCxx : "";
        string[] candidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        };
        return candidates.FirstOrDefault(File.Exists) ?? "";
    }

    private static int Patch(string path, string[] versions)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("only little-endian ELF64 is supported");

        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        int changed = 0;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
            uint link = BitConverter.ToUInt32(elf, (int)sh + 0x28);
            uint count = BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strtab = (long)BitConverter.ToUInt64(elf, (int)(shoff + link * shentsize) + 0x18);

            long verneed = offset;
            for (uint n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, (int)verneed + 2);
                long aux = verneed + BitConverter.ToUInt32(elf, (int)verneed + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                    string name = ReadCString(elf, strtab + BitConverter.ToUInt32(elf, (int)aux + 8));
                    if (versions.Contains(name) && (flags & VerFlagWeak) == 0)
                    {
                        stream.Position = aux + 4;
                        stream.Write(BitConverter.GetBytes((ushort)(flags | VerFlagWeak)), 0, 2);
                        changed++;
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                verneed += BitConverter.ToUInt32(elf, (int)verneed + 12);
            }
        }
        return changed;
    }

    private static string ReadCString(byte[] data, long start)
    {
        long end = start;
        while (data[end] != 0) end++;
        return Encoding.ASCII.GetString(data, (int)start, (int)(end - start));
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i <= haystack.Length - needle.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }
}
