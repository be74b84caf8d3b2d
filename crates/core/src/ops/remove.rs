//! `rm`: undo Berth's Docker configuration on a server it set up, delete what the driver
//! made, then the record.

use super::*;
use crate::certs;
use crate::drivers::{self, Driver, RestartKind};
use crate::error::{Error, Result};
use crate::machine::Machine;
use crate::provision::{self};
use crate::shellenv::ActiveFiles;

impl Berth {
    /// Removes a machine: undoes Berth's Docker configuration on a server it provisioned
    /// (generic), deletes what the driver created, then the local record. With `force`, remote
    /// failures are reported as warnings and the record is removed anyway.
    pub async fn remove(&self, name: &str, force: bool, progress: &ProgressRef) -> Result<()> {
        let lock = self.lock(name).await?;
        // A record Berth cannot read may stand for a droplet, an instance or a VM it can no
        // longer find: forgetting it takes -f. A create interrupted before its record was
        // written made nothing, so that leftover goes without.
        let loaded = self
            .store
            .load(name)
            .and_then(|m| drivers::load_driver(&m, self.store.root()).map(|d| (m, d)));
        let (mut m, mut driver) = match loaded {
            Ok(pair) => pair,
            Err(e) if force || self.store.is_unwritten_reservation(name) => {
                progress.warn(format!("{e}; removing the local record only"));
                self.store.remove(lock)?;
                self.forget_local_traces(name, progress);
                return Ok(());
            }
            Err(e) => {
                return Err(e.with_hint(format!(
                    "Berth cannot read this record, so it cannot remove what the machine made \
                     (a server's configuration, a droplet, an instance, a VM); fix the record, or \
                     forget it anyway with `berth rm -f {name}` and remove those yourself"
                )));
            }
        };
        let dir = self.store.machine_dir(name);
        let soft = |e: Error, what: &str| -> Result<()> {
            if force {
                progress.warn(format!("{what}: {e} (removed locally anyway)"));
                Ok(())
            } else {
                Err(e.context(what).or_hint(format!(
                    "`berth rm -f {name}` removes the local record anyway"
                )))
            }
        };
        if driver.features().restart == RestartKind::Engine
            && let Some((ca_fp, known)) = self.configured_with(&m)
        {
            progress.step(
                "deprovision",
                "Removing Berth's Docker configuration from the server",
            );
            if let Err(e) = self
                .deprovision(&mut m, driver.as_ref(), &ca_fp, progress)
                .await
            {
                if known {
                    soft(e, "could not restore the server's Docker configuration")?;
                } else {
                    // A create that failed or was interrupted after logging in: it may or may
                    // not have configured the server.
                    progress.warn(format!(
                        "could not check the server for Berth's Docker configuration: {e}"
                    ));
                }
            }
        }
        progress.step(
            "driver",
            format!("Removing the machine ({})", driver.name()),
        );
        self.close_workspace(name).await;
        if let Err(e) = driver
            .remove(&self.ctx(name, &dir, progress.as_ref()))
            .await
        {
            soft(e, "could not remove the machine's resources")?;
        }
        self.store.remove(lock)?;
        self.forget_local_traces(name, progress);
        Ok(())
    }

    /// After a machine's record is gone: its docker context goes, and if it was the active
    /// host, shells (and the current context) fall back to the local Docker.
    pub(super) fn forget_local_traces(&self, name: &str, progress: &ProgressRef) {
        if let Some(dir) = crate::contexts::docker_config_dir()
            && let Err(e) = crate::contexts::remove(&dir, name)
        {
            progress.warn(format!("could not remove the docker context: {e}"));
        }
        let active = ActiveFiles::in_store(self.store.root());
        if active.current().as_deref() == Some(name) {
            match active.write(None, &[]) {
                Ok(()) => progress.warn(format!(
                    "\"{name}\" was the active host; new shells now use the local Docker"
                )),
                Err(e) => progress.warn(format!("could not reset the active host: {e}")),
            }
        }
    }

    /// The CA fingerprint a server's Berth configuration would carry, and whether provisioning
    /// is known to have finished (false: a create failed or was killed after logging in, so
    /// the server may hold a configuration nobody recorded). None: Berth never logged in.
    pub(super) fn configured_with(&self, m: &Machine) -> Option<(String, bool)> {
        if let Some(facts) = &m.host {
            return Some((facts.ca_fingerprint.clone(), true));
        }
        m.ssh_host_key.as_ref()?;
        let ca = [
            self.store.machine_dir(&m.name).join("ca.pem"),
            certs::StoreCerts::of(&self.store).ca,
        ]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())?;
        Some((certs::fingerprint_pem(&ca).ok()?, false))
    }

    pub(super) async fn deprovision(
        &self,
        m: &mut Machine,
        driver: &dyn Driver,
        ca_fp: &str,
        progress: &ProgressRef,
    ) -> Result<()> {
        let session = self.connect_ssh(m, driver, progress).await?;
        let script = provision::render_deprovision(&m.name, ca_fp, self.debug);
        let report = provision::run_script(&session, &script, progress.as_ref()).await;
        session.close().await;
        match report?.facts.get("state").map(String::as_str) {
            Some("foreign") => progress
                .warn("the server's Docker is now managed by another Berth machine; left as it is"),
            Some("absent") => progress.log("the server had no Berth configuration left"),
            _ => progress
                .log("dockerd runs with its own configuration again; its TLS port is closed"),
        }
        Ok(())
    }
}
