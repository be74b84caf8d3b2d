//! QEMU as a background process, started the same way on every OS: detached from Berth (its
//! own session on Unix, no console on Windows, where QEMU has no -daemonize), its output in a
//! log file, its PID in the machine directory. Berth's own process may exit at once (the CLI)
//! or live for days (the app): a thread waits for the VM so it never lingers as a zombie.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::error::{Error, Result};

/// Starts `cmd` detached, stdout and stderr to `log` (truncated). A std `Command` is fine in
/// async code here: spawning does not wait, and a thread (not the runtime) reaps QEMU.
pub fn spawn(cmd: Command, log: &Path) -> Result<Child> {
    spawn_named(cmd, log, "QEMU")
}

/// `spawn` for QEMU's helpers (virtiofsd): `what` names it in an error.
pub fn spawn_named(cmd: Command, log: &Path, what: &str) -> Result<Child> {
    let out = std::fs::File::create(log)
        .map_err(|e| Error::io(format!("cannot write {}: {e}", log.display())))?;
    spawn_to(cmd, out, what)
}

/// `spawn` with output to an open file (the port agent appends to its log).
pub fn spawn_to(mut cmd: Command, out: std::fs::File, what: &str) -> Result<Child> {
    let err = out
        .try_clone()
        .map_err(|e| Error::io(format!("cannot write the log of {what}: {e}")))?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    detach(&mut cmd);
    cmd.spawn()
        .map_err(|e| Error::driver(format!("cannot start {what}: {e}")))
}

#[cfg(unix)]
fn detach(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid(2) is async-signal-safe; nothing else runs between fork and exec.
    // Its own session: Ctrl-C in the terminal or a closed terminal does not take the VM down.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

#[cfg(windows)]
fn detach(cmd: &mut Command) {
    use std::os::windows::process::CommandExt;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    // No console window, and Ctrl-C in the user's console does not reach the VM.
    cmd.creation_flags(CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW);
}

#[cfg(not(any(unix, windows)))]
fn detach(_: &mut Command) {}

/// Lets `child` run on; a thread reaps it when it exits.
pub fn release(mut child: Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

/// A QEMU being started: released to the reaper thread when dropped, however the start ends
/// (the app cancels a create by dropping its future).
pub struct Launched(Option<Child>);

impl Launched {
    pub fn new(child: Child) -> Launched {
        Launched(Some(child))
    }

    /// Its PID (0 once it has exited or been killed).
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Its exit status if it has exited (and so was reaped).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.0.as_mut()?.try_wait().ok()??;
        self.0 = None;
        Some(status)
    }

    /// Stops and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            release(c);
        }
    }
}

/// Whether process `pid` is alive and is this machine's QEMU (a PID file outlives reboots and
/// PIDs get reused): its command line names the machine's disk. On Windows, should PowerShell
/// not answer, a qemu-system process of that PID will do. Async: outside Linux it asks a
/// program (ps, PowerShell), which must not block the runtime.
pub async fn alive(pid: u32, disk: &Path) -> bool {
    runs_with(pid, &[&disk.to_string_lossy()], true).await
}

/// Whether process `pid` is alive and its command line contains every one of `markers` (a
/// path only it has; read once, which outside Linux means one `ps` or PowerShell). `qemu_fallback`: on Windows, a qemu-system process of that PID will do when
/// PowerShell does not answer.
pub async fn runs_with(pid: u32, markers: &[&str], qemu_fallback: bool) -> bool {
    let has_all = |cmdline: &str| markers.iter().all(|m| cmdline.contains(m));
    #[cfg(unix)]
    let _ = qemu_fallback;
    if pid <= 1 || pid > i32::MAX as u32 {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| has_all(&String::from_utf8_lossy(&c)))
            .unwrap_or(false)
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        crate::child::async_background("ps")
            .args(["-o", "command=", "-p", &pid.to_string()])
            .output()
            .await
            .map(|o| has_all(&String::from_utf8_lossy(&o.stdout)))
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        let filter = format!("ProcessId={pid}");
        let cmdline = crate::child::async_background("powershell")
            .args(["-NoProfile", "-NonInteractive", "-Command"])
            .arg(format!(
                "(Get-CimInstance Win32_Process -Filter '{filter}').CommandLine"
            ))
            .output()
            .await;
        if let Ok(o) = cmdline
            && o.status.success()
        {
            // Empty: no such process.
            return has_all(&String::from_utf8_lossy(&o.stdout));
        }
        if !qemu_fallback {
            return false;
        }
        crate::child::async_background("tasklist")
            .args(["/FI", &format!("PID eq {pid}"), "/FO", "CSV", "/NH"])
            .output()
            .await
            .map(|o| tasklist_shows_qemu(&String::from_utf8_lossy(&o.stdout), pid))
            .unwrap_or(false)
    }
}

/// `tasklist /FO CSV /NH` output names process `pid` as qemu-system-*.
/// A match: `"qemu-system-x86_64.exe","4242","Console","1","1,234,567 K"`;
/// none: `INFO: No tasks are running which match the specified criteria.`
#[cfg_attr(unix, allow(dead_code))]
fn tasklist_shows_qemu(out: &str, pid: u32) -> bool {
    out.lines().any(|line| {
        let fields: Vec<&str> = line.split("\",\"").map(|f| f.trim_matches('"')).collect();
        fields.len() >= 2
            && fields[0].to_ascii_lowercase().starts_with("qemu-system")
            && fields[1].trim() == pid.to_string()
    })
}

/// Stops process `pid` at once (the caller checked it is this machine's QEMU). Async: on
/// Windows it waits for taskkill.
pub async fn kill(pid: u32) {
    #[cfg(unix)]
    // SAFETY: a plain kill(2) of a process checked to be this machine's QEMU.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    #[cfg(not(unix))]
    {
        let _ = crate::child::async_background("taskkill")
            .args(["/F", "/PID", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasklist_output_is_read_by_pid_and_image_name() {
        let row = "\"qemu-system-x86_64.exe\",\"4242\",\"Console\",\"1\",\"1,234,567 K\"\r\n";
        assert!(tasklist_shows_qemu(row, 4242));
        assert!(!tasklist_shows_qemu(row, 424));
        assert!(!tasklist_shows_qemu(
            "\"notepad.exe\",\"4242\",\"Console\",\"1\",\"9,000 K\"",
            4242
        ));
        assert!(!tasklist_shows_qemu(
            "INFO: No tasks are running which match the specified criteria.",
            4242
        ));
        assert!(!tasklist_shows_qemu("", 4242));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_detached_process_has_its_own_session_and_log_and_is_reaped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("out.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; echo oops >&2; sleep 30"]);
        let child = spawn(cmd, &log).expect("spawn");
        let pid = child.id();
        // Its own session: the test's terminal signals do not reach it.
        let sid = unsafe { libc::getsid(pid as i32) };
        assert_eq!(sid, pid as i32);
        release(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains("oops")) {
            assert!(std::time::Instant::now() < deadline, "no output in the log");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        kill(pid).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(std::time::Instant::now() < deadline, "not reaped");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(text.contains("started\n"), "stdout too: {text}");
    }
}
