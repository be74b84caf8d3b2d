//! Provisioning: the script over SSH, certificates issued for the current address, the
//! Docker API checked; `provision` and `regenerate-certs` run it again.

use super::*;
use crate::certs;
use crate::drivers::{self, Driver, DriverOptions};
use crate::engine::{self, EngineTls};
use crate::error::{Error, Result};
use crate::machine::{Machine, Phase};
use crate::provision::{self, Mode, ProvisionSpec, TlsFiles};

impl Berth {
    /// Issues a server certificate for the machine's current address and runs the provisioning
    /// script over one SSH connection, then waits for the Docker API over TLS.
    pub(super) async fn provision_with(
        &self,
        m: &mut Machine,
        driver: &dyn Driver,
        mode: Mode,
        progress: &ProgressRef,
    ) -> Result<()> {
        let name = m.name.clone();
        let target = driver
            .ssh_target()
            .ok_or_else(|| Error::driver("this driver has no SSH access"))?;
        progress.step("ssh", format!("Connecting to {}", target.describe()));
        let session = self.connect_ssh(m, driver, progress).await?;

        let address = driver.address()?;
        let mut sans = vec![address.clone(), "localhost".to_string()];
        sans.extend(driver.extra_sans());
        sans.extend(m.host_options.auth_options.server_cert_sans.iter().cloned());
        let set = certs::issue_machine_certs(&self.store, &name, &sans)?;
        let dir = self.store.machine_dir(&name);
        let ca_fp = certs::fingerprint_pem(&set.ca_pem)?;

        let spec = ProvisionSpec {
            machine: &name,
            driver_name: driver.name(),
            engine: &m.host_options.engine_options,
            engine_port: driver.engine_port(),
            tls: TlsFiles {
                ca_pem: &set.ca_pem,
                server_pem: &set.server.cert_pem,
                server_key_pem: &set.server.key_pem,
            },
            ca_fingerprint: &ca_fp,
            mode,
            trace: self.debug,
        };
        let script = provision::render(&spec, false)?;
        if self.debug {
            progress.debug(format!(
                "provisioning script (key redacted):\n{}",
                provision::render(&spec, true)?
            ));
        }
        let report = provision::run_script(&session, &script, progress.as_ref()).await;
        session.close().await;
        let report = report?;
        // Only now: until the host took the new set, the machine keeps the one it still uses.
        certs::write_machine_certs(&self.store, &name, &set)?;

        let url = driver.engine_url()?;
        progress.step("engine", format!("Waiting for Docker at {url}"));
        let tls = EngineTls::from_machine_dir(&dir)?;
        let version = engine::wait_ready(&url, &tls, ENGINE_READY).await?;
        let mut facts = report.host_facts(&ca_fp);
        facts.docker_version = version.version.clone();
        if let Some(prev) = &m.host {
            facts.installed_docker |= prev.installed_docker;
        }
        m.host = Some(facts);
        progress.log(format!(
            "Docker {} is up and running at {url}",
            version.version
        ));
        Ok(())
    }

    /// Runs provisioning again (optionally with changed driver options, e.g. a new address).
    pub async fn provision(
        &self,
        name: &str,
        update: Option<&DriverOptions>,
        progress: &ProgressRef,
    ) -> Result<Machine> {
        let _lock = self.lock(name).await?;
        let mut m = self.store.load(name)?;
        let mut driver = drivers::load_driver(&m, self.store.root())?;
        if let Some(opts) = update.filter(|o| !o.0.is_empty()) {
            driver = self.updated_driver(&m, driver.as_ref(), opts)?;
            m.driver = driver.config()?;
            self.store.save(&mut m)?;
        }
        if !driver.features().provisions {
            return Err(Error::driver(format!(
                "machine \"{name}\" ({} driver) has nothing to provision",
                driver.name()
            )));
        }
        let was_ready = m.status.phase == Phase::Ready;
        match self
            .provision_with(&mut m, driver.as_ref(), Mode::Full, progress)
            .await
        {
            Ok(()) => {
                m.set_ready();
                self.store.save(&mut m)?;
                Ok(m)
            }
            // A machine that worked keeps working: the script puts the host's previous
            // configuration back when it fails, and the machine keeps its certificates until
            // the host took new ones. Only a machine that never worked is marked Error.
            Err(e) if was_ready => Err(e),
            Err(e) => {
                m.set_error(&e);
                let _ = self.store.save(&mut m);
                Err(e)
            }
        }
    }

    /// Applies new create-time options to an existing machine's driver configuration.
    pub(super) fn updated_driver(
        &self,
        m: &Machine,
        current: &dyn Driver,
        opts: &DriverOptions,
    ) -> Result<Box<dyn Driver>> {
        let info = drivers::driver_info(&m.driver_name)?;
        opts.check_known(&info)?;
        current.reconfigured(&info, opts)
    }

    /// New server certificate (and with `client_certs`, a new CA and client certificate for the
    /// whole store), installed on the machine, dockerd restarted. Containers keep running
    /// (live-restore).
    pub async fn regenerate_certs(
        &self,
        name: &str,
        client_certs: bool,
        progress: &ProgressRef,
    ) -> Result<Machine> {
        let _lock = self.lock(name).await?;
        let mut m = self.store.load(name)?;
        let driver = drivers::load_driver(&m, self.store.root())?;
        if client_certs {
            progress.step("ca", "Regenerating the CA and client certificate");
            let aside = certs::regenerate_store_certs(&self.store)?;
            progress.log(format!(
                "The previous CA and client certificate are in {}",
                aside.display()
            ));
        } else {
            certs::bootstrap(&self.store)?;
        }
        if !driver.features().provisions {
            certs::install_machine_certs(&self.store, name, &["localhost".to_string()])?;
            self.refresh_context(name, progress);
            return Ok(m);
        }
        self.provision_with(&mut m, driver.as_ref(), Mode::CertsOnly, progress)
            .await?;
        m.set_ready();
        self.store.save(&mut m)?;
        self.refresh_context(name, progress);
        Ok(m)
    }
}
