using System.Text;
using System.Text.Json;
using GuidedNet.Imaging.Labels;
using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using Xunit;

namespace GuidedNet.Pipeline.Tests;

public sealed class ModelCardTests
{
    private static readonly RegisterModelInput Input = new("liver-ct", "v20261130-120000-000-abcdef", "models/liver-ct/v20261130-120000-000-abcdef/",
        "datasets/liver-ct/manifests/v20261130-120000-000-abcdef.json", new TrainRequest(), 0.0);

    private static readonly ModelMetrics Metrics = new("v20261130-120000-000-abcdef", 0.8125, 400, 500,
        new Dictionary<string, double?> { ["liver"] = 0.9, ["tumour"] = 0.725 }, 321, new CaseCounts(3, 7, 2));

    private static readonly ModelRegistration Registration = new("v20261130-120000-000-abcdef", 0.8125, null, null, true, "first model of this dataset");

    private static DatasetManifest Manifest() => new("liver-ct", "v20261130-120000-000-abcdef", new DateTime(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc), 3,
        new BlobPin("datasets/liver-ct/dataset.json", "\"0x1\"", "0123456789abcdef0123456789abcdef"), [], [], []);

    private static JsonElement Plan() => JsonDocument.Parse("""{"name": "auto", "reorientToCanonical": true, "targetSpacing": {"x": 0.8, "y": 0.8, "z": 2.5}, "perCaseNormalization": null}""").RootElement.Clone();

    [Fact]
    public void The_card_states_licence_provenance_plan_labels_and_the_validation_n_beside_every_figure()
    {
        byte[] datasetJson = Encoding.UTF8.GetBytes("""
            {"name": "Liver CT", "description": "Portal venous\nphase CT", "licence": "CC-BY-SA 4.0", "reference": "Hospital X, 2026",
             "labels": {"0": "background", "1": "liver", "2": "tumour"}}
            """);
        string card = ModelCard.Write(Input, Metrics, Registration, Manifest(), datasetJson, Plan());

        Assert.Contains("- Status: production (first model of this dataset)", card);
        Assert.Contains("- Dataset: Liver CT — Portal venous phase CT", card);
        Assert.Contains("- Licence: CC-BY-SA 4.0", card);
        Assert.Contains("- Reference: Hospital X, 2026", card);
        Assert.Contains("(dataset.json `datasets/liver-ct/dataset.json`, MD5 0123456789abcdef0123456789abcdef)", card);
        Assert.Contains("- Cases: 3 labeled, 7 unlabeled, 2 validation", card);
        Assert.Contains("- reorientToCanonical: true", card);
        Assert.Contains("- targetSpacing: {\"x\":0.8,\"y\":0.8,\"z\":2.5}", card);
        Assert.DoesNotContain("perCaseNormalization", card);
        var liver = LabelTable.DefaultColour(1);
        Assert.Contains($"| 1 | liver | #{liver[0]:x2}{liver[1]:x2}{liver[2]:x2} |", card);
        Assert.Contains("| 2 | tumour |", card);
        Assert.Contains("- Mean Dice: 0.8125 (n = 2 validation cases)", card);
        Assert.Contains("| class | validation Dice (n = 2 validation cases) |", card);
        Assert.Contains("| tumour | 0.7250 |", card);
    }

    [Fact]
    public void A_missing_licence_is_called_out_and_nnunet_v2_labels_are_read()
    {
        byte[] datasetJson = Encoding.UTF8.GetBytes("""{"channel_names": {"0": "CT"}, "labels": {"background": 0, "spleen": 1}}""");
        string card = ModelCard.Write(Input, Metrics with { Cases = new CaseCounts(2, 0, 1) }, Registration, Manifest(), datasetJson, plan: null);

        Assert.Contains("- Licence: not stated in dataset.json: state the data's licence before this model is shared", card);
        Assert.Contains("- Dataset: liver-ct", card);
        Assert.Contains("| 1 | spleen |", card);
        Assert.Contains("- not recorded (the run's training.json has no plan)", card);
        Assert.Contains("(n = 1 validation case)", card);
        // dataset.json no longer stored: the card still says what it can.
        Assert.Contains("- Licence: not stated", ModelCard.Write(Input, Metrics, Registration, null, null, null));
    }
}
