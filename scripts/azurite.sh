#!/usr/bin/env bash
# Installs Azurite (npm) into .tools/azurite when it is missing and prints its path.
# Used by scripts/test.sh and scripts/demo.sh; the tests start their own instances from it.
set -euo pipefail
cd "$(dirname "$0")/.."
AZURITE_VERSION=3.37.0
bin=.tools/azurite/node_modules/.bin/azurite
if [ ! -x "$bin" ]; then
  command -v npm >/dev/null || { echo "npm is needed to install Azurite (Debian: apt-get install npm)" >&2; exit 1; }
  echo "installing Azurite $AZURITE_VERSION into .tools/azurite" >&2
  npm install --prefix .tools/azurite --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >&2
fi
echo "$PWD/$bin"
