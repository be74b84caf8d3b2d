#!/usr/bin/env bash
# The GUI end-to-end suite: the real app binary in a private X server (Xvfb) and D-Bus session,
# driven by tauri-driver + WebKitWebDriver. Needs root (it builds a test host in a network
# namespace), the debug binaries built, and `npm ci` done here. scripts/test.sh calls this.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export BERTH_APP_BIN=${BERTH_APP_BIN:-$TARGET/debug/berth-app}
export BERTH_CLI_BIN=${BERTH_CLI_BIN:-$TARGET/debug/berth}
export BERTH_GUI_ARTIFACTS=${BERTH_GUI_ARTIFACTS:-$(mktemp -d /tmp/berth-gui-artifacts.XXXXXX)}
cd "$HERE"
echo "screenshots go to $BERTH_GUI_ARTIFACTS"
xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
  dbus-run-session -- node --test --test-concurrency=1 --test-reporter=spec app.test.mjs
