#!/usr/bin/env bash
# Sets up this Debian/Ubuntu machine and runs Berth's whole test suite:
# formatting, clippy (also for Windows), unit tests, UI component tests, the end-to-end suite on real test hosts
# (network namespaces with sshd and Debian's dockerd; needs root, so it re-runs itself with
# sudo), and the GUI suite on the real app window (Xvfb + D-Bus + tauri-driver).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ROOT=$(berth_root)
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi

apt_install curl ca-certificates git openssh-server openssh-client \
  docker.io iproute2 iptables sudo busybox-static python3 strace bc \
  "${TAURI_BUILD_PKGS[@]}" libayatana-appindicator3-1 \
  xvfb xauth dbus dbus-x11 at-spi2-core fonts-dejavu-core webkit2gtk-driver python3-dbus python3-gi imagemagick xdotool \
  gnome-keyring libsecret-tools python3-yaml openssl util-linux sshfs docker-registry
ensure_rust
ensure_node
ensure_qemu
apt_install mmdebstrap e2fsprogs
cd "$ROOT"

# The fault suite's scenarios (here and in the cloud suites) each add a row to this ledger;
# its table is printed at the end.
BERTH_FAULT_LEDGER=$(mktemp /tmp/berth-faults.XXXXXX)
export BERTH_FAULT_LEDGER

TH=tests/testhost/testhost.sh
"$TH" down-all >/dev/null 2>&1 || true
trap '"$TH" down-all >/dev/null 2>&1 || true' EXIT

echo "== UI: install, type-check, component tests, build"
build_ui "$ROOT"
(cd ui && npm run -s check && npm test --silent)
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -q -- -D warnings
echo "== cargo clippy -D warnings for Windows (the core and the CLI)"
ensure_windows_target
CARGO_TARGET_DIR=$CARGO_TARGET_DIR-windows cargo clippy -q --target "$WINDOWS_TARGET" \
  -p berth-core -p berth -- -D warnings
echo "== unit tests"
# QEMU is installed above: the unit tests that run it must not skip.
BERTH_REQUIRE_QEMU=1 cargo test --workspace -q
echo "== keychain: berth credentials against gnome-keyring's Secret Service"
cargo build -q -p berth
tests/keychain/run.sh "${CARGO_TARGET_DIR:-$ROOT/target}/debug/berth"
echo "== cloud: the DigitalOcean client against Prism on DigitalOcean's OpenAPI contract"
npm_ci tests/cloud
ensure_moto
tests/cloud/run.sh "${CARGO_TARGET_DIR:-$ROOT/target}/debug/berth"
echo "== end-to-end: generic driver on real test hosts"
cargo test -q -p berth --test e2e_generic -- --include-ignored --test-threads=4
echo "== end-to-end: the machine page (containers, logs, run, inspect, pull from a local registry, disk use) on a real test host"
cargo test -q -p berth --test e2e_containers -- --include-ignored
echo "== end-to-end: DigitalOcean driver (Prism proxy + stateful fake) on real test hosts"
cargo test -q -p berth --test e2e_digitalocean -- --include-ignored --test-threads=2
echo "== end-to-end: AWS EC2 driver (moto with signatures and validation) on real test hosts"
cargo test -q -p berth --test e2e_amazonec2 -- --include-ignored --test-threads=2
echo "== faults: SSH cut and dropped, sshd killed, full disks, SIGKILL at random points, app + CLI at once"
cargo test -q -p berth --test e2e_faults -- --include-ignored --test-threads=3
echo "== end-to-end: VirtualBox driver against a recording VBoxManage stand-in"
cargo test -q -p berth --test e2e_virtualbox
echo "== end-to-end: Hyper-V driver against a recording PowerShell stand-in"
cargo test -q -p berth --test e2e_hyperv
echo "== end-to-end: QEMU driver, a real VM booted under TCG (image built from Debian packages, cached)"
BERTH_QEMU_TEST_IMAGE=$(tests/qemu/build-image.sh)
export BERTH_QEMU_TEST_IMAGE
cargo test -q -p berth --test e2e_qemu -- --include-ignored --nocapture
echo "== GUI end-to-end: the real app window"
cargo build -q -p berth-app -p berth
TAURI_DRIVER=$HOME/.cargo/bin/tauri-driver
if ! "$TAURI_DRIVER" --help >/dev/null 2>&1; then
  cargo install -q tauri-driver --version 2.1.0 --locked
fi
npm_ci tests/gui
TAURI_DRIVER=$TAURI_DRIVER tests/gui/run.sh
echo "== the fault suite's table (faults injected; lost and leaked must be 0)"
python3 tests/faults/table.py "$BERTH_FAULT_LEDGER"
echo "All tests passed."
