//! Operations: the one API the CLI and the GUI call. Each takes a machine name, does its work
//! under that machine's lock, reports progress, and leaves the store consistent on failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::certs;
use crate::drivers::{self, Driver, DriverContext, DriverOptions, MachineState, RestartKind};
use crate::engine::{self, EngineTls, EngineVersion};
use crate::error::{Error, ErrorKind, Result};
use crate::machine::{EngineOptions, Machine, Phase};
use crate::progress::Progress;
use crate::provision::{self, Mode, ProvisionSpec, TlsFiles};
use crate::shellenv::ActiveFiles;
use crate::ssh::{self, HostKeyPolicy, SshSession};
use crate::store::{MachineLock, Store};

pub mod env;
pub mod list;
pub mod remote;

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

impl Berth {
    pub fn new(store: Store) -> Berth {
        Berth {
            store,
            debug: false,
        }
    }

    pub fn load(&self, name: &str) -> Result<Machine> {
        self.store.load(name)
    }

    fn lock(&self, name: &str) -> Result<MachineLock> {
        if !self.store.exists(name) {
            self.store.load(name)?;
        }
        let lock = self.store.lock(name, LOCK_WAIT)?;
        // A process killed while it wrote the machine's certificates left them half done.
        certs::recover_machine_certs(&self.store.machine_dir(name))?;
        Ok(lock)
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

    fn ctx<'a>(
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

    fn command_log(&self, progress: &ProgressRef) -> Option<ssh::CommandLog> {
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
        let mut driver = Self::check_spec(spec)?;
        let lock = self.store.reserve(&spec.name)?;
        let dir = self.store.machine_dir(&spec.name);

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
        let mut m = Machine::new(&spec.name, driver.name(), driver.config(), host_options);
        self.store.save(&mut m)?;

        let result = self.create_steps(&mut m, driver.as_mut(), progress).await;
        match result {
            Ok(()) => {
                m.set_ready();
                m.driver = driver.config();
                self.store.save(&mut m)?;
                drop(lock);
                if let Err(e) = self.sync_context(&spec.name, false) {
                    progress.warn(format!("could not write the docker context: {e}"));
                }
                Ok(m)
            }
            Err(e) => {
                if driver.restart_kind() == RestartKind::Machine {
                    if spec.keep_on_failure {
                        progress.warn(
                            "Kept what was created (--keep-on-failure); `berth rm` removes it",
                        );
                    } else {
                        progress.step("rollback", "Removing what was created");
                        if let Err(re) = driver
                            .remove(&self.ctx(&spec.name, &dir, progress.as_ref()))
                            .await
                        {
                            progress.warn(format!("Could not remove everything: {re}"));
                        }
                    }
                }
                m.driver = driver.config();
                m.set_error(&e);
                let _ = self.store.save(&mut m);
                Err(e)
            }
        }
    }

    async fn create_steps(
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
        m.driver = driver.config();
        self.store.save(m)?;
        if driver.provisions() {
            self.provision_with(m, driver, Mode::Full, progress).await
        } else {
            // `none`: no server to configure; give the machine a client certificate set.
            certs::install_machine_certs(&self.store, &name, &["localhost".to_string()])?;
            Ok(())
        }
    }

    /// Issues a server certificate for the machine's current address and runs the provisioning
    /// script over one SSH connection, then waits for the Docker API over TLS.
    async fn provision_with(
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
        let _lock = self.lock(name)?;
        let mut m = self.store.load(name)?;
        let mut driver = drivers::load_driver(&m, self.store.root())?;
        if let Some(opts) = update.filter(|o| !o.0.is_empty()) {
            driver = self.updated_driver(&m, driver.as_ref(), opts)?;
            m.driver = driver.config();
            self.store.save(&mut m)?;
        }
        if !driver.provisions() {
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
    fn updated_driver(
        &self,
        m: &Machine,
        current: &dyn Driver,
        opts: &DriverOptions,
    ) -> Result<Box<dyn Driver>> {
        let info = drivers::driver_info(&m.driver_name)?;
        opts.check_known(&info)?;
        if !matches!(m.driver_name.as_str(), "generic" | "none") {
            // A cloud machine's options describe what was made; changing them means a new one.
            return Err(Error::invalid(format!(
                "the {} driver's options cannot change after create",
                m.driver_name
            ))
            .with_hint("create a new machine with the options you want"));
        }
        let mut merged = DriverOptions::default();
        // Start from the stored values so unspecified options keep them.
        if let (Some(target), "generic") = (current.ssh_target(), m.driver_name.as_str()) {
            use drivers::OptionValue::Str;
            merged.set("generic-ip-address", Str(current.address()?));
            merged.set("generic-ssh-user", Str(target.user));
            merged.set("generic-ssh-port", Str(target.port.to_string()));
            merged.set(
                "generic-engine-port",
                Str(current.engine_port().to_string()),
            );
        }
        for (k, v) in &opts.0 {
            merged.set(k, v.clone());
        }
        let mut fresh = drivers::new_driver(&m.driver_name, &m.name, &merged)?;
        // Keep the stored key copy unless a new key was given.
        if m.driver_name == "generic" && !opts.0.contains_key("generic-ssh-key") {
            let mut cfg = fresh.config();
            cfg["SSHKeyPath"] = m.driver["SSHKeyPath"].clone();
            cfg["SSHKey"] = m.driver["SSHKey"].clone();
            fresh = drivers::load_driver(
                &Machine {
                    driver: cfg,
                    ..m.clone()
                },
                self.store.root(),
            )?;
        }
        Ok(fresh)
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
        let _lock = self.lock(name)?;
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
        if !driver.provisions() {
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

    /// Removes a machine: undoes Berth's Docker configuration on a server it provisioned
    /// (generic), deletes what the driver created, then the local record. With `force`, remote
    /// failures are reported as warnings and the record is removed anyway.
    pub async fn remove(&self, name: &str, force: bool, progress: &ProgressRef) -> Result<()> {
        let lock = self.lock(name)?;
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
        if driver.restart_kind() == RestartKind::Engine
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
    fn forget_local_traces(&self, name: &str, progress: &ProgressRef) {
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
    fn configured_with(&self, m: &Machine) -> Option<(String, bool)> {
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

    async fn deprovision(
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

    async fn wait_for_state(
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
        let _lock = self.lock(name)?;
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
        m.driver = d.config();
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

    async fn power_off(&self, name: &str, kill: bool, progress: &ProgressRef) -> Result<()> {
        let _lock = self.lock(name)?;
        let (_, mut d) = self.load_ready(name)?;
        if d.restart_kind() == RestartKind::Machine
            && d.state(Duration::from_secs(5)).await == MachineState::Stopped
        {
            return Err(Error::invalid(format!(
                "Machine \"{name}\" is already stopped."
            )));
        }
        let dir = self.store.machine_dir(name);
        let ctx = self.ctx(name, &dir, progress.as_ref());
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
        let _lock = self.lock(name)?;
        let (mut m, mut d) = self.load_ready(name)?;
        let dir = self.store.machine_dir(name);
        match d.restart_kind() {
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
                let booted = if d.state(Duration::from_secs(5)).await == MachineState::Running {
                    d.restart(&ctx).await
                } else {
                    d.start(&ctx).await
                };
                m.driver = d.config();
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
    async fn after_boot(
        &self,
        m: &mut Machine,
        d: &dyn Driver,
        progress: &ProgressRef,
    ) -> Result<()> {
        let dir = self.store.machine_dir(&m.name);
        // The driver may have learnt a new address (a cloud instance's public IP changes).
        m.driver = d.config();
        self.store.save(m)?;
        if let Some(problem) = certs::check_server_cert(&dir, &d.address()?) {
            // Provisioning installs the whole set again, client copies included.
            progress.warn(format!("{}; issuing a new one", problem.describe(&m.name)));
            self.provision_with(m, d, Mode::CertsOnly, progress).await?;
            self.store.save(m)?;
            return Ok(());
        }
        self.repair_client_copy(&m.name, progress)?;
        progress.step("engine", "Waiting for Docker");
        let tls = EngineTls::from_machine_dir(&dir)?;
        engine::wait_ready(&d.engine_url()?, &tls, ENGINE_READY).await?;
        Ok(())
    }

    /// Pins the machine's SSH host key if none is pinned yet (one connection), so an external
    /// `ssh` can be held to it. Under the machine's lock, like every change to a record.
    pub async fn pin_host_key(&self, name: &str, progress: &ProgressRef) -> Result<()> {
        if self.store.load(name)?.ssh_host_key.is_some() {
            return Ok(());
        }
        let _lock = self.lock(name)?;
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
    pub fn reset_host_key(&self, name: &str) -> Result<Option<String>> {
        let _lock = self.lock(name)?;
        let mut m = self.store.load(name)?;
        let old = m.ssh_host_key.take();
        self.store.save(&mut m)?;
        Ok(old
            .and_then(|l| ssh::parse_public_key_line(&l).ok())
            .map(|k| ssh::fingerprint(&k)))
    }
}
