//! Drivers: where a machine lives. Each one declares a typed option schema (the CLI's
//! `--<driver>-*` flags and the GUI's create form are both generated from it) and implements
//! one async trait. Its configuration is stored verbatim in machine.json's `Driver` object.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::machine::Machine;
use crate::progress::Progress;
use crate::ssh::SshTarget;

pub mod amazonec2;
pub mod cloud;
pub mod digitalocean;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod generic;
pub mod hyperv;
pub mod localvm;
pub mod none;
pub mod options;
pub mod portproxy;
pub mod qemu;
pub mod registry;
mod support;
pub mod virtualbox;
pub mod workspace;

pub(crate) use options::mark_advanced;
pub use options::{DriverOptions, Listing, OptionKind, OptionSpec, OptionValue};
pub use registry::{Features, Registration};
pub use support::{USER_KEY_COPY, tcp_state, valid_user_name};
pub(crate) use support::{check_ssh_key_file, copy_ssh_key, split_commas, valid_host};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DriverKind {
    /// A VM on this computer.
    Local,
    Cloud,
    /// A server that already exists.
    Existing,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DriverInfo {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub kind: DriverKind,
    pub options: Vec<OptionSpec>,
    pub features: Features,
}

/// Every driver this build offers, in the order the GUI offers them.
pub fn catalog() -> Vec<DriverInfo> {
    registry::offered().map(|r| (r.info)()).collect()
}

pub fn driver_info(name: &str) -> Result<DriverInfo> {
    registry::find(name).map(|r| (r.info)())
}

/// Whether a driver can be used on this computer, and if not, what to install.
#[derive(Debug, Clone, Serialize)]
pub struct Availability {
    pub ready: bool,
    pub missing: Option<String>,
}

pub fn availability(driver: &str) -> Availability {
    match registry::find(driver) {
        Ok(r) => (r.availability)(),
        Err(_) => Availability {
            ready: false,
            missing: Some(format!("the {driver} driver is not part of this build")),
        },
    }
}

/// Machine states, with docker-machine's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MachineState {
    None,
    Running,
    Paused,
    Saved,
    Stopped,
    Stopping,
    Starting,
    Error,
    Timeout,
    NotFound,
}

impl MachineState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Running => "Running",
            Self::Paused => "Paused",
            Self::Saved => "Saved",
            Self::Stopped => "Stopped",
            Self::Stopping => "Stopping",
            Self::Starting => "Starting",
            Self::Error => "Error",
            Self::Timeout => "Timeout",
            Self::NotFound => "Not Found",
        }
    }
}

impl std::fmt::Display for MachineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `restart` means for a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum RestartKind {
    /// Reboot the machine (VMs, cloud instances).
    Machine,
    /// Restart only the Docker daemon (an existing server is not Berth's to reboot).
    Engine,
    #[default]
    Unsupported,
}

pub struct DriverContext<'a> {
    pub name: &'a str,
    /// The store's root (where the account list for cloud credentials lives).
    pub store_root: &'a Path,
    pub machine_dir: &'a Path,
    pub progress: &'a dyn Progress,
    /// Where `checkpoint` writes the driver's configuration (None in unit tests).
    pub records: Option<&'a dyn DriverRecords>,
}

/// Saves a driver's configuration into its machine's record while an operation is still
/// running, so what a cloud create has made so far is on disk before the next thing is made:
/// a create killed half-way leaves a record that `rm` cleans up from.
pub trait DriverRecords: Send + Sync {
    fn save_driver(&self, name: &str, config: serde_json::Value) -> Result<()>;
}

impl DriverContext<'_> {
    pub fn checkpoint(&self, config: serde_json::Value) -> Result<()> {
        match self.records {
            Some(r) => r.save_driver(self.name, config),
            None => Ok(()),
        }
    }
}

/// A driver's configuration as machine.json stores it. Never `null`: a configuration that
/// cannot be serialized is an error, not an empty record.
pub fn config_value<T: Serialize>(driver: &str, cfg: &T) -> Result<serde_json::Value> {
    serde_json::to_value(cfg).map_err(|e| {
        Error::store(format!(
            "the {driver} driver's configuration cannot be saved: {e}"
        ))
    })
}

#[async_trait]
pub trait Driver: Send + Sync {
    fn name(&self) -> &'static str;
    /// The configuration to store in machine.json.
    fn config(&self) -> Result<serde_json::Value>;
    /// The address clients use to reach the machine (IP or DNS name).
    fn address(&self) -> Result<String>;
    /// `tcp://ADDRESS:PORT` (IPv6 addresses in brackets); drivers that forward the port
    /// elsewhere say so.
    fn engine_url(&self) -> Result<String> {
        let host = self.address()?;
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host
        };
        Ok(format!("tcp://{host}:{}", self.engine_port()))
    }
    fn engine_port(&self) -> u16 {
        2376
    }
    /// How to log in; `None` for drivers without SSH.
    fn ssh_target(&self) -> Option<SshTarget>;
    /// This machine's driver with new create-time options (checked against `info`) applied:
    /// only drivers whose features say `reconfigurable` take them.
    fn reconfigured(&self, _info: &DriverInfo, _opts: &DriverOptions) -> Result<Box<dyn Driver>> {
        // A cloud machine's or VM's options describe what was made; changing them means a new one.
        Err(Error::invalid(format!(
            "the {} driver's options cannot change after create",
            self.name()
        ))
        .with_hint("create a new machine with the options you want"))
    }
    /// What this driver's machines can do (its registry entry says).
    fn features(&self) -> Features {
        registry::features(self.name())
    }
    /// Server certificate SANs besides the address, localhost and --tls-san values.
    fn extra_sans(&self) -> Vec<String> {
        vec![]
    }

    /// The folders of this computer the VM mounts, and how (drivers with `shared_folders`).
    fn shares(&self) -> Vec<workspace::SharedFolder> {
        vec![]
    }
    fn guest_mounts(&self) -> Vec<workspace::GuestMount> {
        vec![]
    }
    /// The shares are mounted by reverse SSHFS (the port agent serves them over SSH) rather
    /// than by `guest_mounts` after boot.
    fn shares_over_ssh(&self) -> bool {
        false
    }
    /// Why the shares are not mounted this time (a helper program missing), if they are not.
    fn share_problem(&self) -> Option<String> {
        None
    }
    /// Container ports may be published on all of this computer's addresses (the machine
    /// opted in), not only on 127.0.0.1.
    fn ports_on_lan(&self) -> bool {
        false
    }
    /// Makes the VM's `port` answer on this computer (drivers with `port_forwarding`). An
    /// error says why it could not (the port is taken): the port agent reports it.
    async fn forward_port(&self, _port: &workspace::PortSpec) -> Result<()> {
        Err(Error::invalid(format!(
            "the {} driver does not forward ports",
            self.name()
        )))
    }
    async fn unforward_port(&self, _port: &workspace::PortSpec) -> Result<()> {
        Ok(())
    }

    /// Checks that can fail before anything is created (exit code 3 in the CLI).
    async fn pre_create_check(&self, ctx: &DriverContext<'_>) -> Result<()>;
    async fn create(&mut self, ctx: &DriverContext<'_>) -> Result<()>;
    async fn state(&self, timeout: Duration) -> MachineState;
    async fn start(&mut self, ctx: &DriverContext<'_>) -> Result<()>;
    async fn stop(&mut self, ctx: &DriverContext<'_>) -> Result<()>;
    async fn kill(&mut self, ctx: &DriverContext<'_>) -> Result<()>;
    /// Only called for `RestartKind::Machine`.
    async fn restart(&mut self, ctx: &DriverContext<'_>) -> Result<()>;
    /// Deletes what the driver created (VM, instance, keys). Idempotent.
    async fn remove(&mut self, ctx: &DriverContext<'_>) -> Result<()>;
}

/// A driver for a new machine, from create options.
pub fn new_driver(driver: &str, name: &str, opts: &DriverOptions) -> Result<Box<dyn Driver>> {
    let entry = registry::find(driver)?;
    let info = (entry.info)();
    opts.check_known(&info)?;
    (entry.create)(name, &info, opts)
}

/// The driver of an existing machine, from its stored configuration. `store_root` is where
/// cloud drivers find the account list for their credentials.
pub fn load_driver(machine: &Machine, store_root: &Path) -> Result<Box<dyn Driver>> {
    registry::load(machine, store_root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_take_defaults_env_and_validate() {
        let info = generic::info();
        let mut o = DriverOptions::default();
        assert!(o.string(&info, "generic-ip-address").is_err(), "required");
        o.set("generic-ip-address", OptionValue::Str("10.0.0.2".into()));
        assert_eq!(o.port(&info, "generic-ssh-port").unwrap(), 22);
        o.set("generic-ssh-port", OptionValue::Str("70000".into()));
        assert!(o.port(&info, "generic-ssh-port").is_err());
        o.set("generic-ssh-port", OptionValue::Str("x".into()));
        assert!(o.port(&info, "generic-ssh-port").is_err());
        o.set("virtualbox-memory", OptionValue::Str("1".into()));
        assert!(o.check_known(&info).is_err());
        for bad in ["-oProxyCommand=x", "", "a b", "r\u{1b}[2J", &"u".repeat(33)] {
            o.set("generic-ssh-user", OptionValue::Str(bad.into()));
            assert!(o.ssh_user(&info, "generic-ssh-user").is_err(), "{bad:?}");
        }
        for good in ["root", "ubuntu", "_svc", "ci.bot-1"] {
            o.set("generic-ssh-user", OptionValue::Str(good.into()));
            assert_eq!(o.ssh_user(&info, "generic-ssh-user").unwrap(), good);
        }
    }

    /// What create stores, every driver can load again (ls, start, rm depend on it).
    #[test]
    fn every_driver_loads_what_it_stored() {
        let root = tempfile::tempdir().unwrap();
        for d in catalog() {
            let mut o = DriverOptions::default();
            match d.name {
                "generic" => o.set("generic-ip-address", OptionValue::Str("10.0.0.2".into())),
                "none" => o.set("url", OptionValue::Str("tcp://10.0.0.2:2376".into())),
                _ => {}
            }
            let drv = new_driver(d.name, "m", &o).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            let m = Machine::new("m", drv.name(), drv.config().unwrap(), Default::default());
            let back = load_driver(&m, root.path()).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            assert_eq!(back.name(), d.name);
            assert_eq!(back.config().unwrap(), drv.config().unwrap(), "{}", d.name);
        }
    }

    /// A user's key named like one of Berth's own files survives them being written.
    #[test]
    fn user_keys_are_copied_to_a_name_of_their_own() {
        let src = tempfile::tempdir().unwrap();
        let machine = tempfile::tempdir().unwrap();
        for name in ["key.pem", "cert.pem", "ca.pem", "server.pem", "id_ed25519"] {
            let key = src.path().join(name);
            std::fs::write(&key, format!("user key {name}")).unwrap();
            std::fs::write(src.path().join(format!("{name}.pub")), "user pub").unwrap();
            let copy = copy_ssh_key(&key, machine.path()).unwrap();
            // Berth then writes its own files into the machine directory.
            for own in ["key.pem", "cert.pem", "ca.pem", "server.pem", "id_ed25519"] {
                std::fs::write(machine.path().join(own), "berth's own").unwrap();
                std::fs::write(machine.path().join(format!("{own}.pub")), "berth's").unwrap();
            }
            assert_eq!(
                std::fs::read_to_string(&copy).unwrap(),
                format!("user key {name}")
            );
            assert_eq!(
                std::fs::read_to_string(format!("{}.pub", copy.display())).unwrap(),
                "user pub"
            );
        }
    }

    /// Every option name a driver reads (`o.string(info, "NAME")`, ...) is one its schema
    /// declares: a typo would otherwise panic at the first create that reaches it.
    #[test]
    fn option_names_read_by_drivers_are_declared() {
        let names: Vec<&str> = registry::DRIVERS
            .iter()
            .flat_map(|r| (r.info)().options)
            .map(|o| o.name)
            .collect();
        let read = regex::Regex::new(r#"\(\s*info,\s*"([a-z0-9-]+)"\s*\)"#).unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/drivers");
        let mut files = vec![dir.clone()];
        let mut checked = 0;
        while let Some(f) = files.pop() {
            if f.is_dir() {
                files.extend(std::fs::read_dir(&f).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            for c in read.captures_iter(&text) {
                assert!(
                    names.contains(&&c[1]),
                    "{} reads undeclared --{}",
                    f.display(),
                    &c[1]
                );
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} option reads found");
    }

    #[test]
    fn ranges_and_choices_are_checked_and_shown() {
        let info = qemu::info();
        let mut o = DriverOptions::default();
        o.set("qemu-cpu-count", OptionValue::Str("65".into()));
        assert!(o.int_in_range(&info, "qemu-cpu-count").is_err());
        o.set("qemu-cpu-count", OptionValue::Str("4".into()));
        assert_eq!(o.int_in_range(&info, "qemu-cpu-count").unwrap(), 4);
        let spec = info
            .options
            .iter()
            .find(|s| s.name == "qemu-cpu-count")
            .unwrap();
        assert_eq!(spec.help_suffix(), " (1-64)");
        let vb = virtualbox::info();
        let mut o = DriverOptions::default();
        o.set("virtualbox-ui-type", OptionValue::Str("fullscreen".into()));
        let e = o.choice(&vb, "virtualbox-ui-type").unwrap_err();
        assert!(e.message().contains("headless, gui, sdl, separate"), "{e}");
        let ui = vb
            .options
            .iter()
            .find(|s| s.name == "virtualbox-ui-type")
            .unwrap();
        assert!(ui.help_suffix().contains("one of: headless"));
    }

    #[test]
    fn every_option_is_prefixed_by_its_driver() {
        for d in catalog() {
            for o in &d.options {
                assert!(
                    o.name.starts_with(d.name) || d.name == "none",
                    "{} has {}",
                    d.name,
                    o.name
                );
            }
        }
    }
}
