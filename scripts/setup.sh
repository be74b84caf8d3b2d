# Shared by scripts/test.sh and scripts/app.sh: installs what Berth needs on Debian/Ubuntu.
# Sourced, not run. Idempotent: apt runs only when a package is missing.

berth_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: installs the packages that are not installed yet.
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing Debian packages: ${missing[*]}" >&2
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ensure_rust() {
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  if ! command -v cargo >/dev/null 2>&1; then
    echo "Installing the Rust toolchain (rustup)" >&2
    curl -fsSL https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
    . "$HOME/.cargo/env"
  fi
  for c in clippy rustfmt; do
    if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1 && command -v rustup >/dev/null; then
      rustup component add "$c" >&2
    fi
  done
}

# Build products live outside the clone, so a fresh clone (CI) reuses them.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/berth/target}

# What the desktop app needs to build (WebKitGTK, GTK, the tray library) and Node for its UI.
TAURI_BUILD_PKGS=(build-essential pkg-config file libwebkit2gtk-4.1-dev libgtk-3-dev
  libayatana-appindicator3-dev librsvg2-dev libsoup-3.0-dev libssl-dev libxdo-dev libdbus-1-dev)

# QEMU for the local VM driver. One package at a time: installing qemu-system-x86 may replace a
# qemu-utils from backports, which the second call then brings back at the matching version.
ensure_qemu() {
  apt_install qemu-system-x86
  apt_install qemu-utils
  # Shared folders: virtiofsd (QEMU <= 7.2 ships its own in /usr/lib/qemu; later Debian and
  # Ubuntu releases have the Rust daemon as a package of its own).
  if [ ! -x /usr/lib/qemu/virtiofsd ] && apt-cache show virtiofsd >/dev/null 2>&1; then
    apt_install virtiofsd
  fi
}

# Windows' Rust target and a MinGW C compiler (for dependencies' build scripts): no Windows
# machine runs the suite, so the Windows-only code is at least compiled and linted.
WINDOWS_TARGET=x86_64-pc-windows-gnu
ensure_windows_target() {
  apt_install gcc-mingw-w64-x86-64
  if ! rustup target list --installed | grep -qx "$WINDOWS_TARGET"; then
    rustup target add "$WINDOWS_TARGET" >&2
  fi
}

ensure_node() {
  if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 18 ]; then
    echo "Node $major is too old for the UI build (Vite needs 18 or newer)" >&2
    exit 1
  fi
}

# npm_ci DIR: installs DIR's locked npm packages unless they are already there.
npm_ci() {
  if [ ! -d "$1/node_modules" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    # `npm ci` refuses a lock without the other platforms' optional packages (the Tauri CLI's
    # prebuilt binaries), which some registry mirrors leave out; install from the lock then.
    (cd "$1" && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null ||
      npm install --no-save --no-audit --no-fund --loglevel=error; })
  fi
}

# The web UI the app embeds (ui/dist); the app's build needs it.
build_ui() {
  npm_ci "$1/ui"
  (cd "$1/ui" && npm run -s build >/dev/null)
}

# moto (the AWS emulator the EC2 tests run against) in its own virtualenv, reused across runs.
MOTO_VERSION=5.2.1
ensure_moto() {
  local venv=${BERTH_MOTO_VENV:-$HOME/.cache/berth/moto-venv-$MOTO_VERSION}
  if [ ! -x "$venv/bin/moto_server" ]; then
    apt_install python3-venv
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q "moto[server]==$MOTO_VERSION"
  fi
  export BERTH_MOTO_VENV=$venv
}
