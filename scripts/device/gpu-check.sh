#!/usr/bin/env bash
# One prepared device check (run by the device tool from the repository root after
# scripts/device/prepare.sh): the guidednet CUDA path on the device image's own PyTorch libtorch.
set -x
nvidia-smi -L
python3 -c "import torch; print('device torch', torch.__version__, torch.version.cuda)"
TORCHLIB=$(python3 -c "import torch,os;print(os.path.join(os.path.dirname(torch.__file__),'lib'))")
ls $TORCHLIB | head -30
mkdir -p /tmp/dn && tar xJf .device/dotnet.tar.xz -C /tmp/dn
export DOTNET_ROOT=/tmp/dn PATH=/tmp/dn:$PATH LD_LIBRARY_PATH=$TORCHLIB:${LD_LIBRARY_PATH:-}
# Which libtorch symbols TorchSharp 0.107 (built for 2.10) cannot find in this libtorch:
G="dotnet .device/app/guidednet.dll"
R=.device/ref; W=/tmp/w; mkdir -p $W/scans $W/truth
$G convert --input $R/sw_volume.npy --output $W/scans/demo_0000.nii.gz --spacing 2.5,1.2225,1.2225
$G convert --input $R/sw_labels.npy --output $W/truth/demo.nii.gz --spacing 2.5,1.2225,1.2225 --labels
timeout 120 $G predict --model $R/unet_gmm_k14.pth --input $W/scans --output $W/raw --raw --patch 16,32,32 --stride 8,16,16 --device cuda
echo "predict exit $?"
python3 - <<'PY'
import gzip, numpy as np
raw = gzip.decompress(open('/tmp/w/raw/demo.nii.gz','rb').read())
mask = np.frombuffer(raw[352:], dtype=np.uint8)
ref = np.load('.device/ref/sw_labels.npy').ravel()
print('CUDA fp32 labels identical to the reference:', bool((mask == ref).all()), 'mismatches', int((mask != ref).sum()), 'of', ref.size)
PY
timeout 120 $G predict --model $R/unet_gmm_k14.pth --input $W/scans --output $W/tf32 --raw --patch 16,32,32 --stride 8,16,16 --device cuda --tf32 | tail -1
python3 -c "
import gzip, numpy as np
m=np.frombuffer(gzip.decompress(open('/tmp/w/tf32/demo.nii.gz','rb').read())[352:],dtype=np.uint8); r=np.load('.device/ref/sw_labels.npy').ravel()
print('CUDA tf32 label mismatches', int((m!=r).sum()), 'of', r.size)"
# Training on CUDA: a short GuidedNet run on phantoms (checkpoint, validation, model file), then the step benchmark.
$G synth --out $W/ds --cases 8 --labeled 5 --classes 4 --size 48,48,24
timeout 150 $G train --dataset $W/ds --out $W/run --iterations 20 --patch 16,32,32 --batch 4 --labeled-batch 2 --base-channels 8 \
  --validate-every 10 --checkpoint-every 10 --device cuda | grep -E "split|it 20/|done|error"
ls -la $W/run
timeout 240 $G bench train --device cuda --settings small,paper --steps 5
timeout 120 $G bench train --device cuda --settings small,paper --steps 5 --tf32
cp $W/run/training.json $OUT/ 2>/dev/null; true
