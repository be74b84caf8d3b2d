//! Operations: the one API the CLI and the GUI call. Each takes a machine name, does its work
//! under that machine's lock, reports progress, and leaves the store consistent on failure.

use std::sync::Arc;
use std::time::Duration;

use crate::certs;
use crate::drivers::{self, Driver, DriverContext, DriverOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::machine::{EngineOptions, Machine, Phase};
use crate::progress::Progress;
use crate::ssh::{self, HostKeyPolicy, SshSession};
use crate::store::{MachineLock, Store};

mod containers;
pub use containers::LOCAL_DOCKER;
mod create;
pub mod details;
pub mod env;
mod lifecycle;
pub mod list;
mod provisioning;
pub mod remote;
mod remove;
pub mod workspace;

pub use create::{Cancel, cancelled_error};
#[cfg(test)]
mod tests;

pub type ProgressRef = Arc<dyn Progress>;

/// How long to wait for another process that holds a machine's lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long dockerd gets to answer over TLS after a restart.
const ENGINE_READY: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Berth {
    pub store: Store,
    /// Show every remote command and the provisioning script's trace.
    pub debug: bool,
    /// How long to wait for another process that holds a machine's lock.
    pub lock_wait: Duration,
    /// Docker clients of the machine page, kept between calls (see `ops::containers`).
    pub(crate) docker_clients: containers::Clients,
}

/// Everything `create` needs to know.
#[derive(Debug, Clone, Default)]
pub struct CreateSpec {
    pub name: String,
    pub driver: String,
    pub driver_options: DriverOptions,
    pub engine: EngineOptions,
    pub tls_sans: Vec<String>,
    /// Leave what a failed create made (droplet, instance, keys) for inspection.
    pub keep_on_failure: bool,
}

/// The machine actions the window's row menu and the tray offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum MachineAction {
    Start,
    Stop,
    Restart,
    Kill,
    RegenerateCerts,
    Provision,
}

impl Berth {
    pub fn new(store: Store) -> Berth {
        Berth {
            store,
            debug: false,
            lock_wait: LOCK_WAIT,
            docker_clients: Default::default(),
        }
    }

    pub fn load(&self, name: &str) -> Result<Machine> {
        self.store.load(name)
    }

    /// The machine's lock, waited for on the runtime's timer (never blocking a worker).
    pub(super) async fn lock(&self, name: &str) -> Result<MachineLock> {
        if !self.store.exists(name) {
            self.store.load(name)?;
        }
        let lock = self.store.lock_async(name, self.lock_wait).await?;
        // A process killed while it wrote the machine's certificates left them half done.
        certs::recover_machine_certs(&self.store.machine_dir(name))?;
        Ok(lock)
    }

    /// Runs one of the row menu's actions.
    pub async fn act(
        &self,
        name: &str,
        action: MachineAction,
        progress: &ProgressRef,
    ) -> Result<()> {
        match action {
            MachineAction::Start => self.start(name, progress).await,
            MachineAction::Stop => self.stop(name, progress).await,
            MachineAction::Restart => self.restart(name, progress).await,
            MachineAction::Kill => self.kill(name, progress).await,
            MachineAction::RegenerateCerts => self
                .regenerate_certs(name, false, progress)
                .await
                .map(|_| ()),
            MachineAction::Provision => self.provision(name, None, progress).await.map(|_| ()),
        }
    }

    /// A loaded machine that must have finished creating.
    pub fn load_ready(&self, name: &str) -> Result<(Machine, Box<dyn Driver>)> {
        let m = self.store.load(name)?;
        match m.status.phase {
            Phase::Ready => {}
            Phase::Creating if self.store.is_busy(name) => {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!("machine \"{name}\" is still being created"),
                ));
            }
            Phase::Creating => {
                return Err(Error::store(format!(
                    "the creation of machine \"{name}\" was interrupted"
                ))
                .with_hint(format!(
                    "run `berth provision {name}` to finish it, or `berth rm {name}`"
                )));
            }
            Phase::Error => {
                let why = m
                    .status
                    .error
                    .clone()
                    .unwrap_or_else(|| "unknown error".into());
                return Err(
                    Error::store(format!("machine \"{name}\" is in error: {why}")).with_hint(
                        m.status.hint.clone().unwrap_or_else(|| {
                            format!(
                                "run `berth provision {name}` to try again, or `berth rm {name}`"
                            )
                        }),
                    ),
                );
            }
        }
        let d = drivers::load_driver(&m, self.store.root())?;
        Ok((m, d))
    }

    pub(super) fn ctx<'a>(
        &'a self,
        name: &'a str,
        dir: &'a std::path::Path,
        progress: &'a dyn Progress,
    ) -> DriverContext<'a> {
        DriverContext {
            name,
            store_root: self.store.root(),
            machine_dir: dir,
            progress,
            records: Some(&self.store),
        }
    }

    pub(super) fn command_log(&self, progress: &ProgressRef) -> Option<ssh::CommandLog> {
        self.debug.then(|| {
            let p = progress.clone();
            Arc::new(move |cmd: &str| p.debug(format!("ssh: {cmd}"))) as ssh::CommandLog
        })
    }

    /// Connects to a machine over SSH. The first connection pins the host key in the record;
    /// later ones must see the same key.
    pub async fn connect_ssh(
        &self,
        m: &mut Machine,
        driver: &dyn Driver,
        progress: &ProgressRef,
    ) -> Result<SshSession> {
        let target = driver.ssh_target().ok_or_else(|| {
            Error::driver(format!("the {} driver has no SSH access", driver.name()))
        })?;
        let policy = match &m.ssh_host_key {
            Some(k) => HostKeyPolicy::Pinned(k.clone()),
            None => HostKeyPolicy::TrustOnFirstUse,
        };
        let session = SshSession::connect(&target, &policy, ssh::DEFAULT_CONNECT_TIMEOUT, self.command_log(progress))
            .await
            .map_err(|e| {
                if e.kind() == ErrorKind::HostKeyChanged {
                    e.with_hint(format!(
                        "if the server was reinstalled and you trust its new key, run `berth reset-host-key {}`",
                        m.name
                    ))
                } else {
                    e
                }
            })?;
        if m.ssh_host_key.is_none() {
            let line = ssh::public_key_line(session.host_key());
            progress.log(format!(
                "Pinned the SSH host key of {} ({})",
                target.address(),
                ssh::fingerprint(session.host_key())
            ));
            m.ssh_host_key = Some(line);
            self.store.save(m)?;
        }
        Ok(session)
    }
}
