//! Reverse SSHFS: a folder of this computer mounted in a machine over Berth's own SSH
//! connection. The machine runs `sshfs -o passive`, which speaks SFTP on its standard input
//! and output instead of dialling anywhere; Berth answers that SFTP itself (`folder.rs`), so
//! this computer needs no SSH server and no `sftp-server` binary (Windows has neither by
//! default). It works wherever Berth can log in: Hyper-V VMs, QEMU on macOS and Windows, and
//! any machine with SSH (`berth share`). The mount lives as long as the SSH channel: when
//! Berth stops serving, the guest's sshfs sees the end of its input and unmounts.

pub mod folder;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use russh::ChannelMsg;
use tokio::io::AsyncWriteExt;

use crate::drivers::workspace::SharedFolder;
use crate::error::{Error, Result};
use crate::ssh::{SshSession, sh_quote};

/// How long the guest gets to show the mount (sshfs starts and mounts in well under a second).
const MOUNT_TIMEOUT: Duration = Duration::from_secs(20);
/// Exit code of the guest command when sshfs is missing there.
const NO_SSHFS: u32 = 127;

/// The guest's side: sshfs in passive mode on the channel (installed first where it is missing
/// and apt can: Debian cloud images lack it). Nothing else may write to standard output,
/// which is the SFTP stream. A stale mount at the same place
/// (from a connection that died) is lazily unmounted first. Attributes are cached for a
/// second only, so edits made on this computer show in the VM at once.
pub fn guest_command(guest: &str) -> String {
    let g = sh_quote(guest);
    format!(
        "if ! command -v sshfs >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
         echo 'installing sshfs in the machine' >&2; \
         {{ sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sshfs || \
         {{ sudo apt-get update -qq && sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sshfs; }}; }} </dev/null >/dev/null 2>&1; fi; \
         command -v sshfs >/dev/null 2>&1 || {{ echo 'sshfs is not installed in the machine' >&2; exit {NO_SSHFS}; }}; \
         if mountpoint -q {g} 2>/dev/null; then sudo umount -l {g}; fi; \
         sudo mkdir -p {g} && exec sudo sshfs -f -o passive,allow_other,dcache_timeout=1,noatime :{g} {g}"
    )
}

/// Serves `share` to the machine behind `session` until `stop` resolves (then unmounts it) or
/// the machine's sshfs ends. `mounted` is called once the folder shows as mounted there.
pub async fn serve(
    session: &SshSession,
    share: &SharedFolder,
    stop: impl std::future::Future<Output = ()>,
    mounted: impl FnOnce(),
) -> Result<()> {
    let folder = folder::Folder::new(std::path::Path::new(&share.host), &share.guest)
        .map_err(|e| Error::invalid(format!("cannot share {}: {e}", share.host)))?;
    let channel = session.open_exec(&guest_command(&share.guest)).await?;
    let (mut from_guest, to_guest) = channel.split();
    // The SFTP server runs on one end of a pipe; the channel is pumped to and from the other.
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    russh_sftp::server::run(theirs, folder).await;
    let (mut answers, mut requests) = tokio::io::split(ours);
    let mut writer = to_guest.make_writer();
    let pump_answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut answers, &mut writer).await;
        let _ = writer.shutdown().await;
    });

    let mut mounted = Some(mounted);
    let check_mounted = wait_mounted(session, &share.guest);
    tokio::pin!(check_mounted, stop);
    let mut stderr = Vec::new();
    let mut status = None;
    let mut stopping = false;
    // The unmount runs while the channel is still pumped: sshfs answers the kernel's last
    // requests (closing files) through it before it lets go.
    let mut unmount: Option<Pin<Box<dyn Future<Output = ()> + Send + '_>>> = None;
    let mut give_up: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let result = loop {
        tokio::select! {
            msg = from_guest.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    if requests.write_all(&data).await.is_err() {
                        break Err(Error::io("Berth's SFTP server stopped"));
                    }
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    if stderr.len() < 4096 {
                        stderr.extend_from_slice(&data);
                    }
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                Some(_) => {}
                None => break ended(session, share, status, &stderr, stopping),
            },
            ok = &mut check_mounted, if mounted.is_some() => match ok {
                Ok(()) => {
                    if let Some(f) = mounted.take() {
                        f();
                    }
                }
                Err(e) => break Err(e.with_hint(hint_from(&stderr))),
            },
            () = &mut stop, if !stopping => {
                stopping = true;
                // Unmounting ends sshfs, which closes the channel: the loop ends there.
                let cmd = format!("sudo umount {} || sudo umount -l {}", sh_quote(&share.guest), sh_quote(&share.guest));
                unmount = Some(Box::pin(async move {
                    let _ = session.exec(&cmd, None).await;
                }));
            },
            () = async { if let Some(u) = unmount.as_mut() { u.await } }, if unmount.is_some() => {
                unmount = None;
                // sshfs should be gone now; if it lingers, closing the channel ends it.
                give_up = Some(Box::pin(tokio::time::sleep(Duration::from_secs(5))));
            },
            () = async { if let Some(g) = give_up.as_mut() { g.await } }, if give_up.is_some() => break Ok(()),
        }
    };
    drop(requests);
    pump_answers.abort();
    result
}

/// What the end of the guest's sshfs means.
fn ended(
    session: &SshSession,
    share: &SharedFolder,
    status: Option<u32>,
    stderr: &[u8],
    stopping: bool,
) -> Result<()> {
    let said = String::from_utf8_lossy(stderr).trim().to_string();
    match status {
        _ if stopping => Ok(()),
        Some(NO_SSHFS) => Err(Error::driver(format!(
            "cannot mount {} in the machine: sshfs is not installed there",
            share.host
        ))
        .with_hint("install it in the machine (Debian/Ubuntu: sudo apt-get install sshfs)")),
        Some(0) => Ok(()),
        _ if session.is_closed() => Err(Error::ssh(format!(
            "the SSH connection to {} ended",
            session.target().host
        ))),
        Some(code) => Err(Error::driver(format!(
            "sshfs in the machine stopped (exit {code}){}",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ))),
        None => Err(Error::driver(format!(
            "sshfs in the machine ended{}",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ))),
    }
}

fn hint_from(stderr: &[u8]) -> String {
    let said = String::from_utf8_lossy(stderr);
    if said.contains("fuse") {
        "the machine's kernel needs FUSE (modprobe fuse)".into()
    } else {
        "look at the machine's sshfs: `berth ssh NAME -- sshfs --version`".into()
    }
}

/// Resolves once `guest` is a mount point in the machine, or fails after `MOUNT_TIMEOUT`.
async fn wait_mounted(session: &SshSession, guest: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + MOUNT_TIMEOUT;
    let g = sh_quote(guest);
    let check = format!("mountpoint -q {g} && stat -f -c %T {g} | grep -q fuse");
    loop {
        if session.exec(&check, None).await?.success() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::timeout(format!(
                "{guest} was not mounted in the machine within {} s",
                MOUNT_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_guest_command_quotes_its_path() {
        let c = super::guest_command("/home/me/my src");
        assert!(c.contains("exec sudo sshfs -f -o passive"), "{c}");
        assert!(c.contains(":'/home/me/my src' '/home/me/my src'"), "{c}");
    }
}
