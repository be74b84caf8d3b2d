#!/usr/bin/env bash
# The machine page's figures (issue 17): a page of 500 containers rendered after the click, a
# docker CLI change -> visible in the window, 100 000 log lines followed (longest frame), and
# memory afterwards. Printed, not asserted. The release app in a private Xvfb + D-Bus session,
# driven by tauri-driver, against a real test host (needs root, like the e2e suites).
# Usage: tests/bench/page-bench.sh   (BERTH_BENCH_CONTAINERS=N for another count;
# BERTH_BENCH_NO_BUILD=1 measures the release binaries already built)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "$@"
(cd "$ROOT/ui" && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build >/dev/null)
[ -n "${BERTH_BENCH_NO_BUILD:-}" ] || (cd "$ROOT" && cargo build --release -q -p berth-app -p berth)
(cd "$ROOT/tests/gui" && { [ -d node_modules ] || npm ci --no-audit --no-fund; })
export BERTH_APP_BIN=$TARGET/release/berth-app BERTH_CLI_BIN=$TARGET/release/berth
cd "$ROOT/tests/gui"
xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" dbus-run-session -- node page-bench.mjs
