//! Finding qemu-system-* and choosing an accelerator that really works. A /dev/kvm that exists
//! can still hang the guest at its first instruction (nested virtualisation gone wrong), so
//! "auto" boots a 512-byte probe under the accelerator and keeps it only if the probe exits
//! through the isa-debug-exit port within a few seconds; otherwise TCG, with a warning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// How long a working accelerator may take to run the probe (it needs well under a second).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(4);

/// The probe's exit code: isa-debug-exit turns the byte 1 into (1 << 1) | 1.
const PROBE_EXIT: i32 = 3;

/// `mov al, 1; out 0xf4, al; hlt; jmp $` as a boot sector.
fn probe_image() -> Vec<u8> {
    let code = [0xB0, 0x01, 0xE6, 0xF4, 0xF4, 0xEB, 0xFE];
    let mut img = vec![0u8; 512];
    img[..code.len()].copy_from_slice(&code);
    img[510] = 0x55;
    img[511] = 0xAA;
    img
}

/// The guest architecture's QEMU binary name for this computer.
pub fn system_binary_name() -> String {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "aarch64",
        _ => "x86_64",
    };
    format!("qemu-system-{arch}{}", std::env::consts::EXE_SUFFIX)
}

/// `qemu-system-*` from `explicit`, else $PATH, Homebrew's prefixes (macOS) and where QEMU's
/// Windows installer puts it (it does not add itself to PATH).
pub fn find_qemu(explicit: &str) -> Result<PathBuf> {
    let name = system_binary_name();
    if !explicit.is_empty() {
        let p = PathBuf::from(explicit);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(
                Error::invalid(format!("QEMU binary \"{explicit}\" does not exist")).with_hint(
                    "pass the path of qemu-system-x86_64 (or -aarch64) with --qemu-binary",
                ),
            )
        };
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/opt/homebrew/bin", "/usr/local/bin", "/usr/bin"].map(PathBuf::from));
    if cfg!(windows) {
        dirs.extend(std::env::var_os("ProgramFiles").map(|p| PathBuf::from(p).join("qemu")));
    }
    dirs.into_iter()
        .map(|d| d.join(&name))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::invalid(format!("{name} was not found")).with_hint(install_hint()))
}

pub fn install_hint() -> &'static str {
    match std::env::consts::OS {
        "macos" => "install QEMU: brew install qemu",
        "windows" => {
            "install QEMU from https://www.qemu.org/download/#windows (or: winget install SoftwareFreedomConservancy.QEMU)"
        }
        _ => {
            "install QEMU: sudo apt install qemu-system-x86 qemu-utils (Fedora: sudo dnf install qemu-kvm qemu-img)"
        }
    }
}

/// The hardware accelerator this OS would use.
pub fn native_accel() -> &'static str {
    match std::env::consts::OS {
        "macos" => "hvf",
        "windows" => "whpx",
        _ => "kvm",
    }
}

/// Whether the native accelerator's device is there at all (a cheap first test).
async fn native_present() -> bool {
    match std::env::consts::OS {
        "linux" => Path::new("/dev/kvm").exists(),
        "macos" => crate::child::async_background("sysctl")
            .args(["-n", "kern.hv_support"])
            .output()
            .await
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "1")
            .unwrap_or(false),
        // whpx has no device node; the probe decides.
        _ => true,
    }
}

/// The probe is an x86 boot sector; on ARM hosts the presence test has to do.
fn can_probe() -> bool {
    cfg!(target_arch = "x86_64")
}

/// Boots the probe under `accel`; true if it exited as planned within `timeout`. Waits without
/// blocking the runtime.
pub async fn probe(qemu: &Path, accel: &str, work_dir: &Path, timeout: Duration) -> bool {
    let img = work_dir.join(format!(".accel-probe-{}.img", std::process::id()));
    if std::fs::write(&img, probe_image()).is_err() {
        return false;
    }
    let child = crate::child::async_background(qemu)
        .args([
            "-accel",
            accel,
            "-machine",
            "pc",
            "-m",
            "16",
            "-nodefaults",
            "-no-user-config",
        ])
        .args(["-display", "none", "-boot", "a"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=floppy,readonly=on",
            img.display()
        ))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let ok = match child {
        Ok(mut c) => match tokio::time::timeout(timeout, c.wait()).await {
            Ok(Ok(status)) => status.code() == Some(PROBE_EXIT),
            Ok(Err(_)) => false,
            Err(_) => {
                // Hung (the case this probe exists for): stop it (kill, then reap).
                let _ = c.kill().await;
                false
            }
        },
        Err(_) => false,
    };
    let _ = std::fs::remove_file(&img);
    ok
}

/// The accelerator to use for `wanted` (auto, kvm, hvf, whpx, tcg), and a warning when auto
/// had to fall back to TCG.
pub async fn choose(
    qemu: &Path,
    wanted: &str,
    work_dir: &Path,
) -> Result<(String, Option<String>)> {
    match wanted {
        "tcg" => Ok(("tcg".into(), None)),
        "auto" => {
            let native = native_accel();
            if native_present().await
                && (!can_probe() || probe(qemu, native, work_dir, PROBE_TIMEOUT).await)
            {
                return Ok((native.into(), None));
            }
            Ok((
                "tcg".into(),
                Some(format!(
                    "{native} is not usable here (it is missing or hung a test boot): using software emulation (TCG), which is several times slower"
                )),
            ))
        }
        accel => {
            if !can_probe() || probe(qemu, accel, work_dir, PROBE_TIMEOUT).await {
                Ok((accel.into(), None))
            } else {
                Err(Error::invalid(format!(
                    "the {accel} accelerator did not run a test boot within {} s",
                    PROBE_TIMEOUT.as_secs()
                ))
                .with_hint("use --qemu-accel auto (falls back to TCG) or tcg"))
            }
        }
    }
}

/// QEMU for the tests that run it. Without one they skip, unless BERTH_REQUIRE_QEMU is set
/// (scripts/test.sh sets it: there a skip would hide a broken setup).
#[cfg(test)]
pub(crate) fn qemu_for_tests() -> Option<PathBuf> {
    match find_qemu("") {
        Ok(q) => Some(q),
        Err(e) if std::env::var_os("BERTH_REQUIRE_QEMU").is_some() => {
            panic!("BERTH_REQUIRE_QEMU is set but {e}")
        }
        Err(_) => {
            eprintln!("skipped: no QEMU on this machine");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_a_boot_sector() {
        let img = probe_image();
        assert_eq!(img.len(), 512);
        assert_eq!(&img[510..], &[0x55, 0xAA]);
    }

    /// With QEMU installed: TCG runs the probe; a missing accelerator fails fast, never hangs.
    #[tokio::test]
    async fn probes_answer_within_seconds() {
        let Some(qemu) = qemu_for_tests() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        assert!(probe(&qemu, "tcg", dir.path(), PROBE_TIMEOUT).await);
        let started = std::time::Instant::now();
        let (accel, warning) = choose(&qemu, "auto", dir.path()).await.unwrap();
        assert!(started.elapsed() < PROBE_TIMEOUT + Duration::from_secs(2));
        if accel == "tcg" {
            assert!(warning.unwrap().contains("TCG"));
        }
        assert!(!probe(&qemu, "nosuchaccel", dir.path(), PROBE_TIMEOUT).await);
    }
}
