//! What the local VM drivers (qemu, virtualbox) share: the cloud image cache, the NoCloud seed,
//! and the wait for a booting VM's sshd.

pub mod host;
pub mod image;
pub mod quickstart;
pub mod seed;

use std::time::{Duration, Instant};

use super::DriverContext;
use crate::error::{Error, Result};

/// Waits for an sshd banner on 127.0.0.1:`port`: a forwarded port accepts connections before
/// anything listens inside the VM, so an open port proves nothing. `alive` says whether the VM
/// still runs (false ends the wait with `console_hint`); it is async, as asking may run a
/// program (VBoxManage, ps).
pub async fn wait_sshd<A: Future<Output = bool>>(
    port: u16,
    limit: Duration,
    slow: bool,
    ctx: &DriverContext<'_>,
    alive: impl Fn() -> A,
    console_hint: impl Fn() -> String,
) -> Result<()> {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut last_note = Instant::now();
    ctx.progress.log(if slow {
        "Waiting for the VM to boot (software emulation: a minute or two)..."
    } else {
        "Waiting for the VM to boot..."
    });
    loop {
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
        if let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(2), connect).await {
            let mut buf = [0u8; 64];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await
                && buf[..n].starts_with(b"SSH-")
            {
                ctx.progress
                    .log(format!("SSH is up after {} s", started.elapsed().as_secs()));
                return Ok(());
            }
        }
        if !alive().await {
            return Err(Error::driver("the VM stopped while booting").with_hint(console_hint()));
        }
        if started.elapsed() > limit {
            return Err(Error::timeout(format!(
                "the VM did not start sshd in {} s",
                limit.as_secs()
            ))
            .with_hint(console_hint()));
        }
        if last_note.elapsed() >= Duration::from_secs(15) {
            last_note = Instant::now();
            ctx.progress.log(format!(
                "Still booting ({} s)...",
                started.elapsed().as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The last `lines` lines of a log ("" when it is missing or empty).
pub fn log_tail(path: &std::path::Path, lines: usize) -> String {
    crate::fsutil::tail_lines(path, lines).unwrap_or_default()
}

/// The last lines of a VM's log, for an error's hint.
pub fn log_hint(what: &str, path: &std::path::Path) -> String {
    let tail = log_tail(path, 5);
    format!(
        "the VM's {what} is {}{}",
        path.display(),
        if tail.is_empty() {
            String::new()
        } else {
            format!("; it ends:\n{tail}")
        }
    )
}
