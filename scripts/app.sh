#!/usr/bin/env bash
# Sets up this Debian/Ubuntu machine, builds Berth (app + CLI) and launches the app.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ROOT=$(berth_root)
apt_install curl ca-certificates openssh-client "${TAURI_BUILD_PKGS[@]}" libayatana-appindicator3-1
ensure_rust
ensure_node
# QEMU: the local VM driver (the wizard's "Local VM").
ensure_qemu
build_ui "$ROOT"
cd "$ROOT"
cargo build --release -q -p berth -p berth-app
echo "The berth CLI is at $CARGO_TARGET_DIR/release/berth (the app finds it next to itself or on PATH)" >&2
exec "$CARGO_TARGET_DIR/release/berth-app" "$@"
