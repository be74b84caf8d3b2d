//! A machine's life after create: state, address, power (start/stop/kill/restart), the
//! checks after a boot, and its SSH host key.

use std::time::{Duration, Instant};

use super::*;
use crate::certs;
use crate::drivers::{self, Driver, MachineState, RestartKind};
use crate::engine::{self, EngineTls, EngineVersion};
use crate::error::{Error, Result};
use crate::machine::{Machine, Phase};
use crate::provision::Mode;
use crate::ssh::{self};

impl Berth {
    pub async fn state(&self, name: &str, timeout: Duration) -> Result<MachineState> {
        let m = self.store.load(name)?;
        if m.status.phase == Phase::Error {
            return Ok(MachineState::Error);
        }
        let d = drivers::load_driver(&m, self.store.root())?;
        Ok(d.state(timeout).await)
    }

    pub fn url(&self, name: &str) -> Result<String> {
        self.load_ready(name)?.1.engine_url()
    }

    pub fn ip(&self, name: &str) -> Result<String> {
        let m = self.store.load(name)?;
        drivers::load_driver(&m, self.store.root())?.address()
    }

    /// The machine's Docker server version, through the API over TLS.
    pub async fn docker_version(&self, name: &str, timeout: Duration) -> Result<EngineVersion> {
        let (_, d) = self.load_ready(name)?;
        let url = d.engine_url()?;
        let tls = EngineTls::from_machine_dir(&self.store.machine_dir(name))?;
        engine::probe(&url, &tls, timeout).await
    }

    pub(super) async fn wait_for_state(
        &self,
        driver: &dyn Driver,
        want: MachineState,
        within: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let s = driver.state(Duration::from_secs(5)).await;
            if s == want {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::timeout(format!(
                    "the machine did not reach {want} within {} s (it is {s})",
                    within.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub async fn start(&self, name: &str, progress: &ProgressRef) -> Result<()> {
        let _lock = self.lock(name).await?;
        let (mut m, mut d) = self.load_ready(name)?;
        if d.state(Duration::from_secs(5)).await == MachineState::Running {
            return Err(Error::invalid(format!(
                "Machine \"{name}\" is already running."
            )));
        }
        progress.step("start", format!("Starting \"{name}\""));
        let dir = self.store.machine_dir(name);
        let started = d.start(&self.ctx(name, &dir, progress.as_ref())).await;
        // Saved either way: a VM that launched and then failed may have moved its ports.
        m.driver = d.config()?;
        self.store.save(&mut m)?;
        started?;
        self.wait_for_state(d.as_ref(), MachineState::Running, Duration::from_secs(180))
            .await?;
        self.after_boot(&mut m, d.as_ref(), progress).await
    }

    pub async fn stop(&self, name: &str, progress: &ProgressRef) -> Result<()> {
        self.power_off(name, false, progress).await
    }

    pub async fn kill(&self, name: &str, progress: &ProgressRef) -> Result<()> {
        self.power_off(name, true, progress).await
    }

    pub(super) async fn power_off(
        &self,
        name: &str,
        kill: bool,
        progress: &ProgressRef,
    ) -> Result<()> {
        let _lock = self.lock(name).await?;
        let (_, mut d) = self.load_ready(name)?;
        if d.features().restart == RestartKind::Machine
            && d.state(Duration::from_secs(5)).await == MachineState::Stopped
        {
            return Err(Error::invalid(format!(
                "Machine \"{name}\" is already stopped."
            )));
        }
        let dir = self.store.machine_dir(name);
        let ctx = self.ctx(name, &dir, progress.as_ref());
        self.close_workspace(name).await;
        if kill {
            progress.step("kill", format!("Killing \"{name}\""));
            d.kill(&ctx).await?;
        } else {
            progress.step("stop", format!("Stopping \"{name}\""));
            d.stop(&ctx).await?;
        }
        self.wait_for_state(d.as_ref(), MachineState::Stopped, Duration::from_secs(180))
            .await
    }

    /// Restarts the machine, or for existing servers (generic) only their Docker daemon.
    pub async fn restart(&self, name: &str, progress: &ProgressRef) -> Result<()> {
        let _lock = self.lock(name).await?;
        let (mut m, mut d) = self.load_ready(name)?;
        let dir = self.store.machine_dir(name);
        match d.features().restart {
            RestartKind::Unsupported => d.restart(&self.ctx(name, &dir, progress.as_ref())).await,
            RestartKind::Engine => {
                progress.step(
                    "restart",
                    format!("Restarting the Docker daemon of \"{name}\""),
                );
                let session = self.connect_ssh(&mut m, d.as_ref(), progress).await?;
                let out = session.exec(remote::RESTART_DOCKER, None).await;
                session.close().await;
                let out = out?;
                if !out.success() {
                    return Err(Error::provision(format!(
                        "restarting dockerd on \"{name}\" failed: {}",
                        out.stderr_text().trim()
                    )));
                }
                let tls = EngineTls::from_machine_dir(&dir)?;
                engine::wait_ready(&d.engine_url()?, &tls, ENGINE_READY).await?;
                Ok(())
            }
            RestartKind::Machine => {
                progress.step("restart", format!("Restarting \"{name}\""));
                let ctx = self.ctx(name, &dir, progress.as_ref());
                // The new VM gets a new agent (the old one's forwards go with the old VM).
                self.close_workspace(name).await;
                let booted = if d.state(Duration::from_secs(5)).await == MachineState::Running {
                    d.restart(&ctx).await
                } else {
                    d.start(&ctx).await
                };
                m.driver = d.config()?;
                self.store.save(&mut m)?;
                booted?;
                self.wait_for_state(d.as_ref(), MachineState::Running, Duration::from_secs(180))
                    .await?;
                self.after_boot(&mut m, d.as_ref(), progress).await
            }
        }
    }

    /// After a VM boots: its address may have changed, so repair the certificate, then wait
    /// for Docker.
    pub(super) async fn after_boot(
        &self,
        m: &mut Machine,
        d: &dyn Driver,
        progress: &ProgressRef,
    ) -> Result<()> {
        let dir = self.store.machine_dir(&m.name);
        // The driver may have learnt a new address (a cloud instance's public IP changes).
        m.driver = d.config()?;
        self.store.save(m)?;
        if let Some(problem) = certs::check_server_cert(&dir, &d.address()?) {
            // Provisioning installs the whole set again, client copies included.
            progress.warn(format!("{}; issuing a new one", problem.describe(&m.name)));
            self.provision_with(m, d, Mode::CertsOnly, progress).await?;
            self.store.save(m)?;
        } else {
            self.repair_client_copy(&m.name, progress)?;
            progress.step("engine", "Waiting for Docker");
            let tls = EngineTls::from_machine_dir(&dir)?;
            engine::wait_ready(&d.engine_url()?, &tls, ENGINE_READY).await?;
        }
        self.open_workspace(m, d, progress).await;
        Ok(())
    }

    /// Pins the machine's SSH host key if none is pinned yet (one connection), so an external
    /// `ssh` can be held to it. Under the machine's lock, like every change to a record.
    pub async fn pin_host_key(&self, name: &str, progress: &ProgressRef) -> Result<()> {
        if self.store.load(name)?.ssh_host_key.is_some() {
            return Ok(());
        }
        let _lock = self.lock(name).await?;
        let (mut m, d) = self.load_ready(name)?;
        if m.ssh_host_key.is_none() {
            self.connect_ssh(&mut m, d.as_ref(), progress)
                .await?
                .close()
                .await;
        }
        Ok(())
    }

    /// Forgets the pinned SSH host key; the next connection pins whatever the server presents.
    pub async fn reset_host_key(&self, name: &str) -> Result<Option<String>> {
        let _lock = self.lock(name).await?;
        let mut m = self.store.load(name)?;
        let old = m.ssh_host_key.take();
        self.store.save(&mut m)?;
        Ok(old
            .and_then(|l| ssh::parse_public_key_line(&l).ok())
            .map(|k| ssh::fingerprint(&k)))
    }
}
