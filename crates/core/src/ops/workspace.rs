//! After a local VM boots: this computer's folders mounted in it, and its port agent running.
//! Neither failing fails the boot (a VM without them is still a working Docker host): each
//! problem is a warning, and `berth ports` and the app's machine row say it again.

use std::path::Path;

use super::{Berth, ProgressRef};
use crate::agent::{self, ports::PortStatus};
use crate::drivers::Driver;
use crate::drivers::workspace::{self, ShareStatus};
use crate::error::Result;
use crate::machine::Machine;

/// What the machine's shares and published ports came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Workspace {
    pub shares: Vec<ShareStatus>,
    pub ports: Vec<PortStatus>,
    /// The port agent runs (false for machines without one, and for stopped VMs).
    pub agent: bool,
}

const SHARES_FILE: &str = "shares.json";
/// A share's problem while the port agent has yet to mount it over SSH.
pub const MOUNTING: &str = "being mounted";
/// How long a boot waits for the agent's reverse SSHFS mounts (each takes about a second).
const AGENT_MOUNT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Writes what the machine's shares came to (the boot, or the port agent for reverse SSHFS).
pub fn record_shares(dir: &Path, status: &[ShareStatus]) -> Result<()> {
    crate::fsutil::write_json(&dir.join(SHARES_FILE), &status, crate::fsutil::PUBLIC_MODE)
}

/// Every share of `shares`, not mounted (yet) for `why`.
pub(crate) fn unmounted(shares: &[workspace::SharedFolder], why: &str) -> Vec<ShareStatus> {
    shares
        .iter()
        .map(|s| ShareStatus {
            host: s.host.clone(),
            guest: s.guest.clone(),
            problem: why.to_string(),
        })
        .collect()
}

impl Workspace {
    /// Read from the machine folder (what the last boot and the agent wrote), and whether
    /// the agent runs.
    pub async fn read(dir: &Path) -> Workspace {
        Workspace {
            agent: agent::running(dir).await.is_some(),
            ..Workspace::read_files(dir)
        }
    }

    /// The files only (`agent` false).
    pub fn read_files(dir: &Path) -> Workspace {
        Workspace {
            shares: crate::fsutil::read_json_or_default(&dir.join(SHARES_FILE)),
            ports: agent::ports::PortsFile::read(dir).ports,
            agent: false,
        }
    }
}

impl Berth {
    /// Mounts the shares and starts the port agent, for drivers that have them.
    pub(super) async fn open_workspace(
        &self,
        m: &mut Machine,
        d: &dyn Driver,
        progress: &ProgressRef,
    ) {
        let dir = self.store.machine_dir(&m.name);
        let features = d.features();
        let over_ssh = features.shared_folders && d.shares_over_ssh() && !d.shares().is_empty();
        if features.shared_folders {
            let status = if over_ssh {
                match d.share_problem() {
                    Some(why) => unmounted(&d.shares(), &why),
                    None => unmounted(&d.shares(), MOUNTING),
                }
            } else {
                self.mount_shares(m, d, progress).await
            };
            if let Err(e) = record_shares(&dir, &status) {
                progress.warn(format!("could not record the shared folders: {e}"));
            }
        }
        let mut agent_runs = false;
        if features.port_forwarding || over_ssh {
            match agent::start(&dir).await {
                Ok(_) => {
                    agent_runs = true;
                    progress.log("Container ports will answer on 127.0.0.1 (the port agent runs)")
                }
                Err(e) => {
                    let why = format!("the port agent cannot start: {}", e.message());
                    if over_ssh {
                        let _ = record_shares(&dir, &unmounted(&d.shares(), &why));
                    }
                    progress.warn(format!("published ports will not reach this computer: {e}"))
                }
            }
        }
        if over_ssh && agent_runs {
            progress.step("shares", "Mounting your folders in the VM (reverse SSHFS)");
            wait_agent_mounts(&dir).await;
        }
        if features.shared_folders {
            for s in Workspace::read_files(&dir).shares {
                match s.problem.as_str() {
                    "" => progress.log(format!("{} is mounted at {} in the VM", s.host, s.guest)),
                    why => progress.warn(format!("{} is not mounted in the VM: {why}", s.host)),
                }
            }
        }
    }

    async fn mount_shares(
        &self,
        m: &mut Machine,
        d: &dyn Driver,
        progress: &ProgressRef,
    ) -> Vec<ShareStatus> {
        let shares = d.shares();
        if shares.is_empty() {
            return vec![];
        }
        if let Some(why) = d.share_problem() {
            return unmounted(&shares, &why);
        }
        progress.step("shares", "Mounting your folders in the VM");
        let script = workspace::mount_script(&d.guest_mounts());
        let out = match self.connect_ssh(m, d, progress).await {
            Ok(session) => {
                let out = session.exec(&script, None).await;
                session.close().await;
                out
            }
            Err(e) => Err(e),
        };
        match out {
            Ok(out) => workspace::mount_results(&shares, &out.stdout_text()),
            Err(e) => unmounted(
                &shares,
                &format!("could not log in to mount it: {}", e.message()),
            ),
        }
    }

    /// What the machine's shares and published ports came to (`berth ports`).
    pub async fn workspace(&self, name: &str) -> Result<Workspace> {
        self.load(name)?;
        Ok(Workspace::read(&self.store.machine_dir(name)).await)
    }

    /// `berth port-forward`: 127.0.0.1:`local` (default: the same number as `remote`) on this
    /// computer reaches port `remote` of the machine, through its SSH connection — for any
    /// machine with SSH, clouds and servers included. `bound` hears the local port once it
    /// listens; this runs until the connection ends (or the caller drops it).
    pub async fn port_forward(
        &self,
        name: &str,
        local: Option<u16>,
        remote: u16,
        progress: &ProgressRef,
        bound: impl FnOnce(u16),
    ) -> Result<()> {
        self.pin_host_key(name, progress).await?;
        let (mut m, d) = self.load_ready(name)?;
        let session = self.connect_ssh(&mut m, d.as_ref(), progress).await?;
        let want = local.unwrap_or(remote);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", want))
            .await
            .map_err(|e| {
                crate::Error::invalid(format!("cannot listen on 127.0.0.1:{want}: {e}")).with_hint(
                    format!(
                        "choose another local port: `berth port-forward {name} LOCAL:{remote}`"
                    ),
                )
            })?;
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .map_err(|e| crate::Error::io(format!("cannot read the local port: {e}")))?;
        bound(port);
        let p = progress.clone();
        session
            .forward_local(listener, "127.0.0.1", remote, move |why| {
                p.warn(format!("a connection was refused: {why}"));
            })
            .await
    }

    /// `berth share`: a folder of this computer (`HOST[:GUEST]`) mounted in the machine over
    /// its SSH connection (reverse SSHFS: Berth serves the files itself), for any machine with
    /// SSH and sshfs. `mounted` hears where once it is; this runs until `stop` resolves (the
    /// folder is then unmounted) or the connection ends.
    pub async fn share_folder(
        &self,
        name: &str,
        folder: &str,
        progress: &ProgressRef,
        stop: impl std::future::Future<Output = ()>,
        mounted: impl FnOnce(&workspace::SharedFolder),
    ) -> Result<()> {
        let share = workspace::parse_share("the folder", folder)?;
        self.pin_host_key(name, progress).await?;
        let (mut m, d) = self.load_ready(name)?;
        let session = self.connect_ssh(&mut m, d.as_ref(), progress).await?;
        progress.step(
            "share",
            format!("Mounting {} at {} in \"{name}\"", share.host, share.guest),
        );
        let r = crate::reverse_sshfs::serve(&session, &share, stop, || mounted(&share)).await;
        session.close().await;
        r
    }

    /// Stops the machine's port agent (before its VM stops or goes).
    pub(super) async fn close_workspace(&self, name: &str) {
        agent::stop(&self.store.machine_dir(name)).await;
    }

    /// Starts the port agent of a running VM whose agent died (`ls` and the app's refresh call
    /// this): it restarts without anyone having to notice.
    pub(super) async fn revive_agent(&self, name: &str, driver_name: &str) {
        let dir = self.store.machine_dir(name);
        if crate::drivers::registry::features(driver_name).port_forwarding
            && agent::running(&dir).await.is_none()
            && let Err(e) = agent::start(&dir).await
        {
            note_in_agent_log(&dir, &format!("could not restart the port agent: {e}"));
        }
    }
}

/// A line in the agent's log from the process that tried to start it.
fn note_in_agent_log(dir: &Path, msg: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(agent::LOG))
    {
        let _ = writeln!(f, "{msg}");
    }
}

/// Waits until the port agent has mounted the shares (or said why not), for a boot that
/// should end with the folders in place: `docker run -v` right after must see them.
async fn wait_agent_mounts(dir: &Path) {
    let deadline = tokio::time::Instant::now() + AGENT_MOUNT_WAIT;
    while tokio::time::Instant::now() < deadline {
        let shares = Workspace::read_files(dir).shares;
        if shares.iter().all(|s| s.problem != MOUNTING) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
