using System.Globalization;
using System.Text.Json;
using GuidedNet.GpuJob.Cli;
using GuidedNet.TestSupport;
using static GuidedNet.Tests.InProcessCli;

namespace GuidedNet.Tests;

/// <summary>
/// The command line is defined once (<see cref="CommandSpec"/>): each command's --help is generated
/// from its options, a default given there is the one the command reads, and sizes say their axes.
/// </summary>
public sealed class CommandLineHelpTests
{
    public static TheoryData<string> Commands() => new(GuidedNetCli.Specs.Select(s => s.Words));

    [Theory]
    [MemberData(nameof(Commands))]
    public void Help_is_generated_from_the_options_and_shows_each_default_the_parser_applies(string words)
    {
        var spec = GuidedNetCli.Specs.Single(s => s.Words == words).Spec;
        var (code, help, _) = Run([.. words.Split(' '), "--help"]);
        Assert.Equal(0, code);
        Assert.Equal(spec.Usage, help);
        Assert.Contains("guidednet " + words, help);
        var parsed = spec.Parse([]);
        foreach (var option in spec.Options.Where(o => !o.Hidden))
        {
            Assert.Contains("--" + option.Name + (option.Value is null ? "" : " " + option.Value), help);
            if (option.Default is not { } value) continue;
            Assert.Contains($"(default: {value})", System.Text.RegularExpressions.Regex.Replace(help, @"\s+", " "));
            // What the command reads when the option is not given is that value.
            switch (option.Value)
            {
                case "D,H,W" or "X,Y,Z" when option.Name == "spacing":
                    Assert.Equal(value.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)), parsed.DoubleTriple(option.Name)!);
                    break;
                case "D,H,W" or "X,Y,Z":
                    Assert.Equal(value.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)), parsed.Triple(option.Name)!);
                    break;
                case "N" or "K" or "C" or "B" or "S":
                    Assert.Equal(int.Parse(value, CultureInfo.InvariantCulture), parsed.Int(option.Name));
                    break;
                case "F" or "MM":
                    Assert.Equal(double.Parse(value, CultureInfo.InvariantCulture), parsed.Double(option.Name));
                    break;
                default:
                    Assert.Equal(value, parsed.String(option.Name));
                    break;
            }
        }
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_size_states_its_axes_scans_in_x_y_z_and_network_arrays_in_d_h_w(string words)
    {
        foreach (var option in GuidedNetCli.Specs.Single(s => s.Words == words).Spec.Options.Where(o => o.Value is "D,H,W" or "X,Y,Z"))
            Assert.Contains(option.Value == "D,H,W" ? "z,y,x" : "x,y,z", option.Help);
        Assert.DoesNotContain(GuidedNetCli.Specs.SelectMany(s => s.Spec.Options), o => o.Value is { } v && v.Count(c => c == ',') == 2 && v is not ("D,H,W" or "X,Y,Z"));
    }

    [Fact]
    public void Synth_writes_what_its_help_says_it_writes_by_default()
    {
        using var tmp = new TempFolder();
        var spec = GuidedNetCli.Specs.Single(s => s.Words == "synth").Spec;
        var (code, _, error) = Run("synth", "--out", tmp.Path);
        Assert.True(code == 0, error);
        using var dataset = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, "dataset.json")));
        Assert.Equal(int.Parse(spec.Find("cases")!.Default!, CultureInfo.InvariantCulture), Directory.GetFiles(Path.Combine(tmp.Path, "imagesTr")).Length);
        Assert.Equal(int.Parse(spec.Find("classes")!.Default!, CultureInfo.InvariantCulture), dataset.RootElement.GetProperty("labels").EnumerateObject().Count());
        var image = Imaging.Nifti.NiftiReader.Read(Directory.GetFiles(Path.Combine(tmp.Path, "imagesTr")).Order().First());
        var size = spec.Find("size")!.Default!.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).Order().ToArray();
        Assert.Equal(size, new[] { image.SizeX, image.SizeY, image.SizeZ }.Order()); // a random orientation may swap the axes
    }

    [Fact]
    public void A_default_has_one_source_and_an_option_outside_the_spec_is_refused_before_anything_runs()
    {
        var spec = new CommandSpec("guidednet t", [new OptionSpec("steps", "N", "steps", Default: "4"), new OptionSpec("seed", "S", "seed", DefaultText: "the clock")]);
        Assert.Equal(4, spec.Parse([]).Int("steps"));
        Assert.Equal(9, spec.Parse(["--steps", "9"]).Int("steps"));
        Assert.Equal(7, spec.Parse([]).Int("seed", 7));
        Assert.Throws<InvalidOperationException>(() => spec.Parse([]).Int("steps", 5)); // a second default in code
        Assert.Throws<InvalidOperationException>(() => spec.Parse([]).Int("seed"));     // no default anywhere
        var e = Assert.Throws<UsageException>(() => spec.Parse(["--stpes", "3"]));
        Assert.Contains("--stpes", e.Message);
        var (code, _, error) = Run("predict", "--model", "m.pth", "--input", "x", "--output", "y", "--overlapp", "0.3");
        Assert.Equal(2, code);
        Assert.Contains("unknown option: --overlapp", error);
    }
}
