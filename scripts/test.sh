#!/usr/bin/env bash
# Sets up this Debian/Ubuntu machine and runs Berth's whole test suite:
# formatting, clippy, unit tests, and the end-to-end suites on real test hosts (network
# namespaces with sshd and Debian's dockerd; needs root, so it re-runs itself with sudo).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ROOT=$(berth_root)
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi

apt_install build-essential pkg-config curl ca-certificates git openssh-server openssh-client \
  docker.io iproute2 iptables sudo busybox-static python3 strace bc
ensure_rust
cd "$ROOT"

TH=tests/testhost/testhost.sh
"$TH" down-all >/dev/null 2>&1 || true
trap '"$TH" down-all >/dev/null 2>&1 || true' EXIT

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -q -- -D warnings
echo "== unit tests"
cargo test --workspace -q
echo "== end-to-end: generic driver on real test hosts"
cargo test -q -p berth --test e2e_generic -- --include-ignored --test-threads=4
echo "All tests passed."
