//! `create`: check the request, reserve the name, let the driver make the machine, provision
//! it, and on failure (or cancel) undo what was made.

use std::sync::Arc;

use super::*;
use crate::certs;
use crate::drivers::{self, Driver, RestartKind};
use crate::error::{Error, ErrorKind, Result};
use crate::machine::Machine;
use crate::provision::Mode;

/// Stops a create in progress from elsewhere (the app's Cancel button, Ctrl-C). The create
/// then ends like a failed one: what the driver made is removed (unless keep-on-failure) and
/// the record says it was cancelled.
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Default)]
struct CancelInner {
    cancelled: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

impl Cancel {
    pub fn cancel(&self) {
        self.0
            .cancelled
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.wake.notify_waiters();
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Returns once `cancel` was called.
    pub async fn cancelled(&self) {
        loop {
            let woken = self.0.wake.notified();
            if self.is_cancelled() {
                return;
            }
            woken.await;
        }
    }
}

/// The error a cancelled create ends with.
pub fn cancelled_error(name: &str) -> Error {
    Error::new(ErrorKind::Cancelled, "creation was cancelled").with_hint(format!(
        "remove it with `berth rm {name}`, or run `berth provision {name}` to finish it"
    ))
}

/// The machine directory's record of its creation.
pub const CREATE_LOG: &str = "create.log";

impl Berth {
    /// Checks a create request without touching anything (name, engine flags, driver options,
    /// extra certificate names): what `create` checks first, and the GUI's review step.
    pub fn check_spec(spec: &CreateSpec) -> Result<Box<dyn Driver>> {
        crate::names::validate_machine_name(&spec.name)?;
        crate::daemon_config::validate(&spec.engine)?;
        let driver = drivers::new_driver(&spec.driver, &spec.name, &spec.driver_options)?;
        for san in &spec.tls_sans {
            if san.trim().is_empty() || san.contains(char::is_whitespace) {
                return Err(Error::invalid(format!(
                    "--tls-san \"{san}\" is not an IP address or DNS name"
                )));
            }
        }
        Ok(driver)
    }

    /// Creates a machine: driver resources, then provisioning over one SSH connection, then a
    /// check through the Docker API. On failure the machine stays in the store marked Error
    /// with the reason (and anything the driver created is removed).
    pub async fn create(&self, spec: &CreateSpec, progress: &ProgressRef) -> Result<Machine> {
        self.create_or_cancel(spec, progress, &Cancel::default())
            .await
    }

    /// `create` that stops when `cancel` fires, cleaning up as after a failure.
    pub async fn create_or_cancel(
        &self,
        spec: &CreateSpec,
        progress: &ProgressRef,
        cancel: &Cancel,
    ) -> Result<Machine> {
        let mut driver = Self::check_spec(spec)?;
        let lock = self.store.reserve_async(&spec.name).await?;
        let dir = self.store.machine_dir(&spec.name);
        // What the user saw while it was made, kept for the machine page.
        let logged: ProgressRef = Arc::new(crate::progress::LoggedTo::new(
            progress.clone(),
            &dir.join(CREATE_LOG),
        ));
        let progress = &logged;

        progress.step("certs", "Preparing certificates");
        for w in self.store.permission_warnings() {
            progress.warn(w);
        }
        let boot = match certs::bootstrap(&self.store) {
            Ok(b) => b,
            Err(e) => {
                let _ = self.store.remove(lock);
                return Err(e);
            }
        };
        if boot.created_ca {
            progress.log(format!(
                "Created a CA: {}",
                certs::StoreCerts::of(&self.store).ca.display()
            ));
        }
        if let Some(dir) = &boot.moved_aside {
            progress.warn(format!(
                "unusable certificate files of the store were moved to {}",
                dir.display()
            ));
        }
        if boot.created_client {
            progress.log(format!(
                "Created a client certificate: {}",
                certs::StoreCerts::of(&self.store).cert.display()
            ));
        }

        progress.step("precheck", "Running pre-create checks");
        if let Err(e) = driver
            .pre_create_check(&self.ctx(&spec.name, &dir, progress.as_ref()))
            .await
        {
            // Nothing was created: leave no trace.
            let _ = self.store.remove(lock);
            return Err(e.with_kind(ErrorKind::PreCreate));
        }

        let mut engine_options = spec.engine.clone();
        engine_options.tls_verify = true;
        let host_options = crate::machine::HostOptions {
            engine_options,
            auth_options: crate::machine::AuthOptions {
                server_cert_sans: spec.tls_sans.clone(),
                ..Default::default()
            },
        };
        let mut m = Machine::new(&spec.name, driver.name(), driver.config()?, host_options);
        self.store.save(&mut m)?;

        let result = tokio::select! {
            r = self.create_steps(&mut m, driver.as_mut(), progress) => r,
            () = cancel.cancelled() => Err(cancelled_error(&spec.name)),
        };
        match result {
            Ok(()) => {
                m.set_ready();
                m.driver = driver.config()?;
                self.store.save(&mut m)?;
                drop(lock);
                if let Err(e) = self.sync_context(&spec.name, false) {
                    progress.warn(format!("could not write the docker context: {e}"));
                }
                Ok(m)
            }
            Err(e) => {
                if driver.features().restart == RestartKind::Machine {
                    if spec.keep_on_failure {
                        progress.warn(
                            "Kept what was created (--keep-on-failure); `berth rm` removes it",
                        );
                    } else {
                        progress.step("rollback", "Removing what was created");
                        self.close_workspace(&spec.name).await;
                        if let Err(re) = driver
                            .remove(&self.ctx(&spec.name, &dir, progress.as_ref()))
                            .await
                        {
                            progress.warn(format!("Could not remove everything: {re}"));
                        }
                    }
                }
                if let Ok(config) = driver.config() {
                    m.driver = config;
                }
                m.set_error(&e);
                let _ = self.store.save(&mut m);
                Err(e)
            }
        }
    }

    pub(super) async fn create_steps(
        &self,
        m: &mut Machine,
        driver: &mut dyn Driver,
        progress: &ProgressRef,
    ) -> Result<()> {
        let name = m.name.clone();
        let dir = self.store.machine_dir(&name);
        progress.step(
            "driver",
            format!("Creating the machine ({})", driver.name()),
        );
        driver
            .create(&self.ctx(&name, &dir, progress.as_ref()))
            .await?;
        m.driver = driver.config()?;
        self.store.save(m)?;
        if driver.features().provisions {
            self.provision_with(m, driver, Mode::Full, progress).await?;
        } else {
            // `none`: no server to configure; give the machine a client certificate set.
            certs::install_machine_certs(&self.store, &name, &["localhost".to_string()])?;
        }
        self.open_workspace(m, driver, progress).await;
        Ok(())
    }
}
