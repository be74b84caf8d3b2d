//! The port agent: a small background process per running local VM that follows the
//! machine's Docker events and publishes every container port on this computer (through the
//! driver: QMP `hostfwd_add`, VirtualBox NAT rules). It is Berth's own executable (the CLI's
//! or the app's) started with a hidden first argument, detached like QEMU, so it outlives the
//! terminal and the app; `create`/`start` start it, `stop`/`kill`/`rm` stop it, it ends by
//! itself when the VM stops, and any command that lists the machine starts it again if it
//! died. Its log is `agent.log` and what it did is `ports.json`, both in the machine folder.

pub mod ports;
mod run;
mod shares;

use std::path::Path;

use crate::drivers::qemu::process;
use crate::error::{Error, Result};

/// The hidden first argument that makes a Berth executable the agent.
pub const ARG: &str = "__berth-agent";
const PIDFILE: &str = "agent.pid";
pub const LOG: &str = "agent.log";

/// For the binaries' `main`: runs the agent when the process was started as one, and returns
/// its exit code; None for every other start.
pub fn main_if_agent() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(ARG)) {
        return None;
    }
    let Some(dir) = args.next() else {
        eprintln!("usage: berth {ARG} MACHINE_DIR");
        return Some(2);
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return Some(1);
        }
    };
    Some(match rt.block_on(run::run(Path::new(&dir))) {
        Ok(()) => 0,
        Err(e) => {
            run::log(&format!("stopped: {e}"));
            1
        }
    })
}

/// The agent's PID if it runs for the machine in `dir`.
pub async fn running(dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join(PIDFILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // A PID file outlives reboots: the process must be an agent, and this machine's.
    process::runs_with(pid, &[ARG, &dir.to_string_lossy()], false)
        .await
        .then_some(pid)
}

/// Starts the machine's agent unless it runs.
pub async fn start(dir: &Path) -> Result<u32> {
    if let Some(pid) = running(dir).await {
        return Ok(pid);
    }
    let exe = own_executable()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG))
        .map_err(|e| Error::io(format!("cannot write {}: {e}", dir.join(LOG).display())))?;
    let mut cmd = crate::child::background(exe);
    cmd.arg(ARG).arg(dir).current_dir(dir);
    let child = process::spawn_to(cmd, log, "the port agent")?;
    let pid = child.id();
    crate::fsutil::atomic_write(
        &dir.join(PIDFILE),
        pid.to_string().as_bytes(),
        crate::fsutil::PUBLIC_MODE,
    )?;
    process::release(child);
    Ok(pid)
}

/// This program's file. After an upgrade replaced it while the app ran, Linux names the old
/// one "… (deleted)": the new one at the same path is the agent to start.
fn own_executable() -> Result<std::path::PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::io(format!("cannot find Berth's own executable: {e}")))?;
    if exe.is_file() {
        return Ok(exe);
    }
    let text = exe.to_string_lossy();
    match text.strip_suffix(" (deleted)") {
        Some(p) if Path::new(p).is_file() => Ok(p.into()),
        _ => Err(Error::io(format!("Berth's own executable {text} is gone"))
            .with_hint("start Berth again (it was upgraded or moved while it ran)")),
    }
}

/// Stops the machine's agent (the VM is going away: its forwards go with it).
pub async fn stop(dir: &Path) {
    if let Some(pid) = running(dir).await {
        process::kill(pid).await;
        for _ in 0..50 {
            if !process::runs_with(pid, &[ARG], false).await {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let _ = std::fs::remove_file(dir.join(PIDFILE));
    let _ = std::fs::remove_file(dir.join(ports::FILE));
}
