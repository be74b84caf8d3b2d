//! Host folders in the VM through virtiofs: one virtiofsd per folder, started before QEMU and
//! ending with it (it exits when QEMU closes its socket), the guest memory shared with it
//! (memfd), and `mount -t virtiofs berthN PATH` in the guest. virtiofs because the Debian and
//! Ubuntu cloud kernels carry it (they have no 9p), and it is the fastest of the choices.
//! virtiofsd exists for Linux hosts only: on macOS and Windows the folders are not shared yet
//! (the machine says so).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::process;
use crate::drivers::workspace::{SharedFolder, share_tag};
use crate::error::{Error, Result};

/// How long virtiofsd may take to open its socket.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// virtiofsd: on PATH, else where distributions put it (the Rust daemon in /usr/libexec,
/// QEMU ≤ 7.2's own in /usr/lib/qemu).
pub fn virtiofsd() -> Option<PathBuf> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("virtiofsd"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        ["/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    })
}

/// Why this computer cannot share folders into QEMU VMs, if it cannot.
pub fn unavailable() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("sharing folders into QEMU VMs needs virtiofsd, which exists for Linux only; use `berth scp` or `berth mount` meanwhile".into());
    }
    virtiofsd().is_none().then(|| {
        "virtiofsd was not found: install it (sudo apt install virtiofsd, or qemu-system-common on Debian 12)".into()
    })
}

fn pidfile(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("virtiofsd-{i}.pid"))
}

/// Starts one virtiofsd per share; their sockets, in order.
pub async fn launch(dir: &Path, shares: &[SharedFolder]) -> Result<Vec<PathBuf>> {
    let Some(daemon) = virtiofsd() else {
        return Err(Error::driver(unavailable().unwrap_or_default()));
    };
    stop_all(dir).await;
    let mut sockets = vec![];
    for (i, share) in shares.iter().enumerate() {
        let socket = super::qmp::named_socket_path(dir, &format!("vfs{i}"))?;
        let _ = std::fs::remove_file(&socket);
        let mut cmd = crate::child::background(&daemon);
        cmd.arg(format!("--socket-path={}", socket.display()))
            .args(["-o", &format!("source={}", share.host), "-o", "cache=auto"])
            .current_dir(dir);
        // SAFETY: geteuid(2) cannot fail.
        #[cfg(unix)]
        if unsafe { libc::geteuid() } != 0 {
            // Unprivileged: the Rust daemon runs without its namespace sandbox.
            cmd.arg("--sandbox=none");
        }
        let log = dir.join(format!("virtiofsd-{i}.log"));
        let mut child = process::Launched::new(process::spawn_named(cmd, &log, "virtiofsd")?);
        crate::fsutil::atomic_write(
            &pidfile(dir, i),
            child.id().to_string().as_bytes(),
            crate::fsutil::PUBLIC_MODE,
        )?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while !socket.exists() {
            if child.exited().is_some() || Instant::now() > deadline {
                child.kill();
                return Err(Error::driver(format!(
                    "virtiofsd could not share {}: {}",
                    share.host,
                    super::super::localvm::log_tail(&log, 3).trim()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sockets.push(socket);
    }
    Ok(sockets)
}

/// QEMU's arguments for the shares: guest memory virtiofsd can map, one device per socket.
pub fn qemu_args(sockets: &[PathBuf], memory_mb: u32) -> Vec<String> {
    if sockets.is_empty() {
        return vec![];
    }
    let mut a = vec![
        "-object".into(),
        format!("memory-backend-memfd,id=mem,size={memory_mb}M,share=on"),
        "-numa".into(),
        "node,memdev=mem".into(),
    ];
    for (i, s) in sockets.iter().enumerate() {
        a.extend([
            "-chardev".into(),
            format!(
                "socket,id=vfs{i},path={}",
                s.display().to_string().replace(',', ",,")
            ),
            "-device".into(),
            format!(
                "vhost-user-fs-pci,queue-size=1024,chardev=vfs{i},tag={}",
                share_tag(i)
            ),
        ]);
    }
    a
}

/// Stops the machine's virtiofsd daemons that outlived their QEMU (one that failed to start).
pub async fn stop_all(dir: &Path) {
    for i in 0..64 {
        let pf = pidfile(dir, i);
        let Ok(text) = std::fs::read_to_string(&pf) else {
            break;
        };
        let socket = super::qmp::named_socket_path(dir, &format!("vfs{i}"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if let Ok(pid) = text.trim().parse::<u32>()
            && !socket.is_empty()
            && process::runs_with(pid, &[&socket], false).await
        {
            process::kill(pid).await;
        }
        let _ = std::fs::remove_file(&pf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_share_gets_a_device_and_guest_memory_is_shared() {
        let a = qemu_args(
            &[
                PathBuf::from("/m/vfs0.sock"),
                PathBuf::from("/m,x/vfs1.sock"),
            ],
            2048,
        );
        let s = a.join(" ");
        assert!(
            s.contains("memory-backend-memfd,id=mem,size=2048M,share=on"),
            "{s}"
        );
        assert!(s.contains("-numa node,memdev=mem"), "{s}");
        assert!(s.contains("chardev=vfs1,tag=berth1"), "{s}");
        assert!(s.contains("path=/m,,x/vfs1.sock"), "commas doubled: {s}");
        assert!(qemu_args(&[], 2048).is_empty());
    }
}
