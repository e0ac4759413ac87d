#!/usr/bin/env bash
# The main job: the whole pipeline on this machine. Azurite (installed through npm when missing)
# holds the blobs and the job queue, a second one the durable state; guidednet-local runs the orchestrations and the
# HTTP API on 127.0.0.1 and starts a guidednet worker (CPU, or a local GPU with DEVICE=cuda, which
# builds with TorchSharp's CUDA libtorch: TORCH_BACKEND=cuda, or none with one on LD_LIBRARY_PATH).
# A synthetic dataset with 4 labeled cases is uploaded and trained (small width, a few minutes on
# CPU), two scans are dropped into the drop zone, and their masks, reports and previews come back.
# Ctrl+C or the end of the demo stops every process it started; with KEEP=1 the stack stays up for
# the results viewer (http://127.0.0.1:7071/) until Ctrl+C.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
demo=artifacts/pipeline-demo
rm -rf "$demo"; mkdir -p "$demo"
api_port=${API_PORT:-7071}; blob_port=${BLOB_PORT:-10100}
project=demo-abdomen
started=$(date +%s)

azurite=$(bash scripts/azurite.sh)
echo "== building"
dotnet build src/LocalHost -c Release -nologo -v:q >/dev/null
torch_backend=${TORCH_BACKEND:-$([ "${DEVICE:-}" = cuda ] && echo cuda || echo cpu)}
dotnet build src/GpuJob -c Release -nologo -v:q -p:TorchBackend="$torch_backend" >/dev/null
guidednet() { dotnet src/GpuJob/bin/Release/net10.0/linux-x64/guidednet.dll "$@"; }
json() { node -e "const d=JSON.parse(require('fs').readFileSync(0,'utf8')); $1"; }

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo; echo "== stopping"
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    pid=${pids[$i]}
    # Azurite may need a second SIGTERM; the host stops its worker itself.
    for _ in 1 2; do kill -TERM "$pid" 2>/dev/null || true; for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

# Two Azurites: the pipeline's blobs and job queue in one, the durable backend's queues and tables
# in the other. Azurite reads every message it holds on each queue request, so a backlog of jobs
# would slow the durable backend's polls; apart, each also gets its own core (docs/performance.md).
azurite_connection() {
  echo "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$1/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$(($1 + 1))/devstoreaccount1;TableEndpoint=http://127.0.0.1:$(($1 + 2))/devstoreaccount1;"
}
start_azurite() { # first port, folder
  "$azurite" --silent --skipApiVersionCheck --location "$2" \
    --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
    --blobPort "$1" --queuePort "$(($1 + 1))" --tablePort "$(($1 + 2))" > "$2.log" 2>&1 &
  pids+=($!)
}
durable_port=$((blob_port + 3))
echo "== Azurite on 127.0.0.1:$blob_port-$((blob_port + 2)) (data in $demo/azurite) and $durable_port-$((durable_port + 2)) (durable state in $demo/azurite-durable)"
start_azurite "$blob_port" "$demo/azurite"
start_azurite "$durable_port" "$demo/azurite-durable"
export Storage__ConnectionString="$(azurite_connection "$blob_port")"
export LocalHost__DurableStorageConnectionString="$(azurite_connection "$durable_port")"
for port in $((blob_port + 2)) $((durable_port + 2)); do
  for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
done

echo "== guidednet-local on http://127.0.0.1:$api_port/api with a ${DEVICE:-auto} worker (log: $demo/host.log); results viewer: http://127.0.0.1:$api_port/"
export LocalHost__TaskHub="demo$(date +%H%M%S)" LocalHost__ApiPort="$api_port" \
  LocalHost__WorkerCommand="dotnet $PWD/src/GpuJob/bin/Release/net10.0/linux-x64/guidednet.dll" \
  LocalHost__WorkerArguments="--device ${DEVICE:-auto} --work $PWD/$demo/worker" \
  Jobs__PollInterval=00:00:01 Jobs__QueueName=guidednet-jobs Schedule__DropZonePoll=00:00:01
dotnet src/LocalHost/bin/Release/net10.0/linux-x64/guidednet-local.dll > "$demo/host.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$api_port/api/health" >/dev/null && break; sleep 0.2; done

echo "== a synthetic dataset: 14 phantoms, 4 labeled, 4 classes -> datasets/$project"
guidednet synth --out "$demo/dataset" --cases 14 --labeled 4 --test 2 --classes 4 --size 48,48,24 --seed 5
guidednet upload --from "$demo/dataset/dataset.json" --to "datasets/$project"
guidednet upload --from "$demo/dataset/imagesTr" --to "datasets/$project/imagesTr"
guidednet upload --from "$demo/dataset/labelsTr" --to "datasets/$project/labelsTr"

echo "== POST /api/datasets/$project/train"
# 150 iterations are far too few for nnU-Net's augmentation (the auto recipe's default) to pay off:
# measured on this demo, mean Dice 0.38 with it and 0.78 with the reference's rot90 + flip.
body='{"iterations": 150, "patch": [16, 32, 32], "batch": 4, "labeledBatch": 2, "baseChannels": 8, "rampupIterations": 75, "validateEvery": 50, "checkpointEvery": 50, "validationFraction": 0.25, "augmentation": "reference"}'
train_started=$(date +%s)
run=$(curl -sf -X POST "http://127.0.0.1:$api_port/api/datasets/$project/train" -H 'Content-Type: application/json' -d "$body" | json 'console.log(d.id)')
echo "run $run"
last=""
while true; do
  status=$(curl -sf "http://127.0.0.1:$api_port/api/runs/$run")
  state=$(echo "$status" | json 'console.log(d.state)')
  line=$(echo "$status" | json 'const p=d.progress||{}, j=p.job||{}; const l=j.losses||{};
    console.log(`  ${d.state} | ${p.phase||""} | cases ${p.casesDone??"-"}/${p.casesTotal??"-"} | job ${j.state||"-"} ${j.phase||""} it ${j.iteration??"-"}/${j.totalIterations??"-"}` +
      (l.total!==undefined ? ` | loss ${l.total.toFixed(4)}` : "") + (j.validationDice!==undefined ? ` | val Dice ${j.validationDice.toFixed(4)}` : ""))')
  [ "$line" != "$last" ] && echo "$line"; last=$line
  case "$state" in Completed) break;; Failed|Terminated) echo "training run $state: $status" >&2; exit 1;; esac
  sleep 4
done
echo "$status" | json 'const o=d.output; console.log(`model ${o.modelPrefix}: validation mean Dice ${o.validationMeanDice.toFixed(4)}, ${o.promoted ? "promoted to production" : "kept as a candidate"} (${o.decision})`)'
echo "$status" | json "const t=d.progress.job.timings; console.log('training run $(( $(date +%s) - train_started )) s from POST to registration; job: ' + Object.entries(t).map(([k, v]) => k + ' ' + v.toFixed(2) + ' s').join(', '))"

echo "== dropping two scans (with ground truth) into scans/incoming/$project/"
for c in phantom_ts000 phantom_ts001; do
  guidednet upload --from "$demo/dataset/labelsTs/$c.nii.gz" --to "scans/labels/$project"
  guidednet upload --from "$demo/dataset/imagesTs/${c}_0000.nii.gz" --to "scans/incoming/$project"
done
for _ in $(seq 1 120); do
  guidednet download --from "results/$project" --to "$demo/results" >/dev/null
  [ -f "$demo/results/phantom_ts000/latest.json" ] && [ -f "$demo/results/phantom_ts001/latest.json" ] && [ -f "$demo/results/summary.csv" ] && break
  sleep 2
done
for c in phantom_ts000 phantom_ts001; do
  # latest.json names the run of the newest drop; its folder holds the mask, preview and report.
  report="$demo/results/$(json "console.log(d.report.slice('results/$project/'.length))" < "$demo/results/$c/latest.json")"
  json 'console.log(`${d.case} (run ${d.run}; scan ${d.scan.path} md5 ${d.scan.md5}): model ${d.modelVersion}, mean Dice ${d.meanDice.toFixed(4)} | ` + d.organs.map(o => `${o.name} ${o.volumeMl.toFixed(1)} mL Dice ${o.dice===undefined||o.dice===null ? "-" : o.dice.toFixed(3)}`).join(", ") +
    ` | queue ${(d.timingsSeconds.queueWait||0).toFixed(2)} s, download ${(d.timingsSeconds.downloading||0).toFixed(2)} s, preprocess ${(d.timingsSeconds.preprocess||0).toFixed(2)} s, model ${(d.timingsSeconds.model||0).toFixed(2)} s, upload ${(d.timingsSeconds.uploading||0).toFixed(2)} s`)' < "$report"
done
guidednet download --from "models/$project" --to "$demo/models" >/dev/null

echo
echo "Done in $(( $(date +%s) - started )) s. Look at:"
echo "  $demo/results/<case>/latest.json   the run of the case's newest drop"
echo "  $demo/results/<case>/<run>/   <case>_seg.nii.gz (mask in the scan's geometry), report.json (scan blob, ETag, MD5; mask MD5; model), preview.png"
echo "  $demo/results/summary.json, summary.csv   the project's batch summary"
echo "  $demo/models/           production.json, <version>/model.guidednet, training.json, curves.png, model-card.md"
echo "  $demo/host.log          orchestrations and worker progress; the API: curl http://127.0.0.1:$api_port/api/runs/$run"
if [ -n "${KEEP:-}" ]; then
  # The stack stays up for the results viewer until Ctrl+C.
  echo "  results viewer: http://127.0.0.1:$api_port/#/projects/$project (KEEP is set: Ctrl+C stops everything)"
  wait "${pids[1]}" || true
fi
