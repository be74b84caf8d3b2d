#!/usr/bin/env bash
# Sets up this Debian/Ubuntu machine, builds Berth and launches it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ROOT=$(berth_root)
apt_install build-essential pkg-config curl ca-certificates openssh-client
ensure_rust
cd "$ROOT"
cargo build --release -q -p berth -p berth-app
echo "The berth CLI is at $CARGO_TARGET_DIR/release/berth" >&2
exec "$CARGO_TARGET_DIR/release/berth-app" "$@"
