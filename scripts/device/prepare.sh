#!/usr/bin/env bash
# Builds .device/ (git-ignored) for scripts/device/gpu-check.sh: guidednet published without a
# libtorch package (TorchBackend=none: the device's PyTorch provides libtorch, with CUDA), the
# .NET runtime (the device image has none), and the reference files the check reads.
# Then: run "bash scripts/device/gpu-check.sh" on the device with carry [".device"].
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.device/' .git/info/exclude || echo '/.device/' >> .git/info/exclude
rm -rf .device && mkdir -p .device/ref
dotnet publish src/GpuJob -c Release -p:TorchBackend=none -o .device/app -nologo -v:q
tar cJf .device/dotnet.tar.xz -C "$(dirname "$(readlink -f "$(command -v dotnet)")")" dotnet host shared/Microsoft.NETCore.App
ref="${GUIDEDNET_REFERENCE:-../shared/reference}"
cp "$ref"/{unet_gmm_k14.pth,sw_volume.npy,sw_labels.npy} .device/ref/
du -sh .device
