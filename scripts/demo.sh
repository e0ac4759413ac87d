#!/usr/bin/env bash
# The main job, for now the inference core end to end (the Azurite pipeline builds on it):
# the authors' released weights segment the authors' sliding-window test volume through the
# `guidednet` command line, reproducing their labels, then the same scan goes through the
# FLARE22 preprocessing with Gaussian weighting, and both are scored.
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

echo
echo "Results: $out/raw and $out/flare22 hold <case>.nii.gz masks, <case>.png previews, metrics.json and metrics.csv"
