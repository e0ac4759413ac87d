#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine: installs the Debian packages whose
# NIfTI files the tests read, the DICOM tools they check against, chromium for the viewer's page, and Azurite, builds, tests, and prints one "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -f /usr/share/mricron/templates/ch2.nii.gz ] || need+=(mricron-data)
[ -f /usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz ] || need+=(insighttoolkit5-examples)
# DICOM: series are written with pydicom and checked against dcm2niix, the field's converter;
# written SEG objects are checked with dciodvfy (dicom3tools) and read back with pydicom.
command -v dcm2niix >/dev/null || need+=(dcm2niix)
command -v dciodvfy >/dev/null || need+=(dicom3tools)
/usr/bin/python3 -c "import pydicom, numpy" 2>/dev/null || need+=(python3-pydicom python3-numpy)
# The results viewer is tested in a real browser (headless, WebGL on SwiftShader).
[ -x /usr/bin/chromium ] || need+=(chromium)
# Charts and previews are drawn with text in DejaVu Sans.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test data packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The pipeline tests start their own Azurite instances (private ports and folders).
export AZURITE="$(bash scripts/azurite.sh)"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build GuidedNet.Cloud.sln -c Release -nologo -v:q
log=$(mktemp)
set +e
dotnet test GuidedNet.Cloud.sln -c Release --no-build -nologo 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
rm -f "$log"
echo "$passed passed, $failed failed"
exit "$status"
