#!/usr/bin/env bash
# The method end to end on the command line (the pipeline demo is scripts/demo.sh):
# the authors' released weights segment the authors' sliding-window test volume,
# reproducing their labels; the same scan goes through the FLARE22 preprocessing with Gaussian
# weighting and TTA; then a small GuidedNet is trained on synthetic phantoms with 3 labeled
# cases, predicts the test scans and is scored.
set -euo pipefail
cd "$(dirname "$0")/.."
ref="${GUIDEDNET_REFERENCE:-$(cd .. && pwd)/shared/reference}"
[ -f "$ref/unet_gmm_k14.pth" ] || { echo "reference fixtures not found in $ref (set GUIDEDNET_REFERENCE)" >&2; exit 1; }
out=artifacts/demo
rm -rf "$out"; mkdir -p "$out/scans" "$out/truth"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build src/GpuJob -c Release -nologo -v:q
guidednet() { dotnet src/GpuJob/bin/Release/net10.0/linux-x64/guidednet.dll "$@"; }

guidednet convert --input "$ref/sw_volume.npy" --output "$out/scans/demo_0000.nii.gz" --spacing 2.5,1.2225,1.2225
guidednet convert --input "$ref/sw_labels.npy" --output "$out/truth/demo.nii.gz" --spacing 2.5,1.2225,1.2225 --labels

echo; echo "== reference behaviour (--raw): must reproduce the authors' labels exactly"
guidednet predict --model "$ref/unet_gmm_k14.pth" --input "$out/scans" --output "$out/raw" \
  --raw --patch 16,32,32 --stride 8,16,16 --device "${DEVICE:-auto}" --preview
guidednet evaluate --pred "$out/raw" --truth "$out/truth"

echo; echo "== FLARE22 preprocessing, Gaussian weighting, mirroring TTA"
guidednet predict --model "$ref/unet_gmm_k14.pth" --input "$out/scans" --output "$out/flare22" \
  --preset flare22 --patch 16,32,32 --overlap 0.5 --gaussian --tta --device "${DEVICE:-auto}" --preview
guidednet evaluate --pred "$out/flare22" --truth "$out/truth"

echo; echo "== semi-supervised training: phantoms, 3 labeled + 9 unlabeled cases, a small network on the CPU"
guidednet synth --out "$out/phantoms" --cases 14 --labeled 14 --test 2 --classes 4 --size 48,48,24 --seed 5
guidednet train --dataset "$out/phantoms" --out "$out/training" --labeled 3 --val-fraction 0.15 --iterations 120 \
  --patch 16,32,32 --batch 4 --labeled-batch 2 --base-channels 8 --rampup-iterations 60 --validate-every 40 \
  --checkpoint-every 40 --device "${DEVICE:-auto}" --cache "$out/cache"
guidednet predict --model "$out/training/model.guidednet" --input "$out/phantoms/imagesTs" --output "$out/training/test" \
  --device "${DEVICE:-auto}" --preview
guidednet evaluate --pred "$out/training/test" --truth "$out/phantoms/labelsTs" --labels "$out/phantoms/dataset.json"

echo
echo "Results: $out/raw and $out/flare22 hold <case>.nii.gz masks, <case>.png previews, metrics.json and metrics.csv;"
echo "$out/training holds the trained model (model.guidednet), training.json, curves.png and the test predictions"
