//! Drivers: where a machine lives. Each one declares a typed option schema (the CLI's
//! `--<driver>-*` flags and the GUI's create form are both generated from it) and implements
//! one async trait. Its configuration is stored verbatim in machine.json's `Driver` object.

use std::collections::BTreeMap;
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
pub mod generic;
pub mod hyperv;
pub mod localvm;
pub mod none;
pub mod qemu;
pub mod virtualbox;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionKind {
    String,
    Int,
    Bool,
    /// Repeatable flag.
    StringList,
    /// A local file the user picks.
    Path,
    /// A secret (an API token): accepted on the command line for docker-machine compatibility,
    /// never stored, never shown in the GUI (which offers accounts from the keychain instead).
    Secret,
    /// The name of a stored account of the driver's cloud (`berth credentials ls`).
    Account,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionSpec {
    /// Flag name without the dashes, e.g. `generic-ip-address`.
    pub name: &'static str,
    pub kind: OptionKind,
    pub default: Option<&'static str>,
    pub env: Option<&'static str>,
    pub help: &'static str,
    pub required: bool,
    /// A short label for forms.
    pub label: &'static str,
    /// Forms show it under "more options" (it has a sensible default or is rarely needed).
    pub advanced: bool,
}

/// Marks every option not named in `main` as advanced.
pub(crate) fn mark_advanced(options: &mut [OptionSpec], main: &[&str]) {
    for o in options {
        o.advanced = !main.contains(&o.name);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    /// A VM on this computer.
    Local,
    Cloud,
    /// A server that already exists.
    Existing,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriverInfo {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub kind: DriverKind,
    pub options: Vec<OptionSpec>,
}

/// Every driver this build knows, in the order the GUI offers them.
pub fn catalog() -> Vec<DriverInfo> {
    vec![
        qemu::info(),
        virtualbox::info(),
        hyperv::info(),
        generic::info(),
        digitalocean::info(),
        amazonec2::info(),
        none::info(),
    ]
}

pub fn driver_info(name: &str) -> Result<DriverInfo> {
    catalog()
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            let names: Vec<_> = catalog().iter().map(|d| d.name).collect();
            Error::invalid(format!("unknown driver \"{name}\""))
                .with_hint(format!("available drivers: {}", names.join(", ")))
        })
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    Bool(bool),
    Int(i64),
    List(Vec<String>),
    Str(String),
}

/// Whether a driver can be used on this computer, and if not, what to install.
#[derive(Debug, Clone, Serialize)]
pub struct Availability {
    pub ready: bool,
    pub missing: Option<String>,
}

pub fn availability(driver: &str) -> Availability {
    match driver {
        // Berth's own SSH client and Docker API client: nothing to install.
        // Cloud drivers talk HTTPS to the provider: nothing to install either.
        "generic" | "none" | "digitalocean" | "amazonec2" => Availability {
            ready: true,
            missing: None,
        },
        "hyperv" => match hyperv::PowerShell::find() {
            Ok(_) if cfg!(windows) || std::env::var_os("BERTH_POWERSHELL").is_some() => Availability {
                ready: true,
                missing: None,
            },
            _ => Availability {
                ready: false,
                missing: Some("Hyper-V runs on Windows (Pro, Enterprise or Education) with the Hyper-V feature on".into()),
            },
        },
        "virtualbox" => match virtualbox::vbox::find() {
            Ok(_) => Availability {
                ready: true,
                missing: None,
            },
            Err(_) => Availability {
                ready: false,
                missing: Some(virtualbox::vbox::INSTALL_HINT.to_string()),
            },
        },
        "qemu" => match qemu::accel::find_qemu("") {
            Ok(_) => Availability {
                ready: true,
                missing: None,
            },
            Err(_) => Availability {
                ready: false,
                missing: Some(qemu::accel::install_hint().to_string()),
            },
        },
        other => Availability {
            ready: false,
            missing: Some(format!("the {other} driver is not part of this build")),
        },
    }
}

/// Values for a driver's options, by flag name. Missing options take their defaults.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct DriverOptions(pub BTreeMap<String, OptionValue>);

impl DriverOptions {
    pub fn set(&mut self, name: &str, v: OptionValue) {
        self.0.insert(name.to_string(), v);
    }

    fn spec<'a>(&self, info: &'a DriverInfo, name: &str) -> &'a OptionSpec {
        info.options
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("driver {} has no option {name}", info.name))
    }

    /// A string option: the given value, else its environment variable, else its default.
    pub fn string(&self, info: &DriverInfo, name: &str) -> Result<String> {
        let spec = self.spec(info, name);
        let v = match self.0.get(name) {
            Some(OptionValue::Str(s)) => s.clone(),
            Some(other) => {
                return Err(Error::invalid(format!(
                    "--{name} expects a value, got {other:?}"
                )));
            }
            None => spec
                .env
                .and_then(|e| std::env::var(e).ok())
                .or_else(|| spec.default.map(str::to_string))
                .unwrap_or_default(),
        };
        if spec.required && v.trim().is_empty() {
            return Err(
                Error::invalid(format!("the {} driver needs --{name}", info.name))
                    .with_hint(spec.help),
            );
        }
        Ok(v)
    }

    pub fn int(&self, info: &DriverInfo, name: &str) -> Result<i64> {
        match self.0.get(name) {
            Some(OptionValue::Int(i)) => Ok(*i),
            Some(OptionValue::Str(s)) => s
                .trim()
                .parse()
                .map_err(|_| Error::invalid(format!("--{name} must be a number, got \"{s}\""))),
            Some(other) => Err(Error::invalid(format!(
                "--{name} must be a number, got {other:?}"
            ))),
            None => {
                let text = self.string(info, name)?;
                text.trim().parse().map_err(|_| {
                    Error::invalid(format!("--{name} must be a number, got \"{text}\""))
                })
            }
        }
    }

    /// A whole number option within `lo..=hi` (sizes, counts).
    pub fn int_in(&self, info: &DriverInfo, name: &str, lo: i64, hi: i64) -> Result<u32> {
        let v = self.int(info, name)?;
        if !(lo..=hi).contains(&v) || v < 0 {
            return Err(Error::invalid(format!(
                "--{name} must be {lo}-{hi}, got {v}"
            )));
        }
        Ok(v as u32)
    }

    pub fn port(&self, info: &DriverInfo, name: &str) -> Result<u16> {
        let v = self.int(info, name)?;
        u16::try_from(v).ok().filter(|p| *p > 0).ok_or_else(|| {
            Error::invalid(format!("--{name} must be a port number (1-65535), got {v}"))
        })
    }

    pub fn bool(&self, info: &DriverInfo, name: &str) -> Result<bool> {
        match self.0.get(name) {
            Some(OptionValue::Bool(b)) => Ok(*b),
            Some(OptionValue::Str(s)) => parse_bool(name, s),
            Some(other) => Err(Error::invalid(format!(
                "--{name} is a switch, got {other:?}"
            ))),
            None => match self
                .spec(info, name)
                .env
                .and_then(|e| std::env::var(e).ok())
            {
                Some(s) => parse_bool(name, &s),
                None => Ok(false),
            },
        }
    }

    /// A file path option: `~/` expanded; empty when not given.
    pub fn path(&self, info: &DriverInfo, name: &str) -> Result<String> {
        let v = self.string(info, name)?;
        let v = v.trim();
        Ok(match (v.strip_prefix("~/"), dirs::home_dir()) {
            (Some(rest), Some(home)) => home.join(rest).display().to_string(),
            _ => v.to_string(),
        })
    }

    /// An SSH user name option, checked: it ends up in commands and sudo rules, and a leading
    /// dash would make `ssh`/`scp` read it as an option.
    pub fn ssh_user(&self, info: &DriverInfo, name: &str) -> Result<String> {
        let user = self.string(info, name)?.trim().to_string();
        if !valid_user_name(&user) {
            return Err(Error::invalid(format!(
                "--{name} \"{}\" is not a valid user name",
                user.escape_default()
            ))
            .with_hint("user names use letters, digits, '.', '_' and '-', and start with a letter, digit or '_'"));
        }
        Ok(user)
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(OptionValue::List(v)) => v.clone(),
            Some(OptionValue::Str(s)) if !s.is_empty() => vec![s.clone()],
            _ => vec![],
        }
    }

    /// Fails on options that belong to no option of this driver (a typo, or another driver's).
    pub fn check_known(&self, info: &DriverInfo) -> Result<()> {
        for name in self.0.keys() {
            if !info.options.iter().any(|o| o.name == name) {
                let owner = catalog()
                    .into_iter()
                    .find(|d| d.options.iter().any(|o| o.name == name));
                let msg = match owner {
                    Some(d) => format!(
                        "--{name} belongs to the {} driver, not {}",
                        d.name, info.name
                    ),
                    None => format!("the {} driver has no option --{name}", info.name),
                };
                return Err(Error::invalid(msg));
            }
        }
        Ok(())
    }
}

/// An IP address (IPv6 optionally in brackets) or a DNS host name: nothing that could split
/// a command line or a URL.
pub(crate) fn valid_host(h: &str) -> bool {
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    h.parse::<std::net::IpAddr>().is_ok()
        || (!h.is_empty()
            && h.len() <= 253
            && h.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
            }))
}

/// A POSIX-portable user name (what useradd takes), at most 32 characters.
pub fn valid_user_name(user: &str) -> bool {
    user.len() <= 32
        && user
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A comma-separated option value as its non-empty, trimmed items.
pub(crate) fn split_commas(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_bool(name: &str, s: &str) -> Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid(format!(
            "--{name} must be true or false, got \"{s}\""
        ))),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartKind {
    /// Reboot the machine (VMs, cloud instances).
    Machine,
    /// Restart only the Docker daemon (an existing server is not Berth's to reboot).
    Engine,
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

#[async_trait]
pub trait Driver: Send + Sync {
    fn name(&self) -> &'static str;
    /// The configuration to store in machine.json.
    fn config(&self) -> serde_json::Value;
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
    /// Whether create runs the provisioner (the `none` driver only registers an endpoint).
    fn provisions(&self) -> bool {
        true
    }
    fn restart_kind(&self) -> RestartKind;
    /// Server certificate SANs besides the address, localhost and --tls-san values.
    fn extra_sans(&self) -> Vec<String> {
        vec![]
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
    let info = driver_info(driver)?;
    opts.check_known(&info)?;
    match driver {
        "generic" => Ok(Box::new(generic::Generic::from_options(name, &info, opts)?)),
        "none" => Ok(Box::new(none::NoneDriver::from_options(name, &info, opts)?)),
        "digitalocean" => Ok(Box::new(digitalocean::DigitalOcean::from_options(
            name, &info, opts,
        )?)),
        "amazonec2" => Ok(Box::new(amazonec2::AmazonEc2::from_options(
            name, &info, opts,
        )?)),
        "qemu" => Ok(Box::new(qemu::Qemu::from_options(name, &info, opts)?)),
        "virtualbox" => Ok(Box::new(virtualbox::VirtualBox::from_options(
            name, &info, opts,
        )?)),
        "hyperv" => Ok(Box::new(hyperv::HyperV::from_options(name, &info, opts)?)),
        other => Err(Error::invalid(format!("unknown driver \"{other}\""))),
    }
}

/// The driver of an existing machine, from its stored configuration. `store_root` is where
/// cloud drivers find the account list for their credentials.
pub fn load_driver(machine: &Machine, store_root: &Path) -> Result<Box<dyn Driver>> {
    let bad = |e: serde_json::Error| {
        Error::store(format!(
            "the {} driver configuration of \"{}\" is damaged: {e}",
            machine.driver_name, machine.name
        ))
    };
    match machine.driver_name.as_str() {
        "generic" => Ok(Box::new(
            generic::Generic::from_config(machine.driver.clone()).map_err(bad)?,
        )),
        "none" => Ok(Box::new(
            none::NoneDriver::from_config(machine.driver.clone()).map_err(bad)?,
        )),
        "digitalocean" => Ok(Box::new(
            digitalocean::DigitalOcean::from_config(machine.driver.clone(), store_root)
                .map_err(bad)?,
        )),
        "amazonec2" => Ok(Box::new(
            amazonec2::AmazonEc2::from_config(machine.driver.clone(), store_root).map_err(bad)?,
        )),
        "qemu" => Ok(Box::new(
            qemu::Qemu::from_config(machine.driver.clone(), store_root).map_err(bad)?,
        )),
        "virtualbox" => Ok(Box::new(
            virtualbox::VirtualBox::from_config(machine.driver.clone(), store_root).map_err(bad)?,
        )),
        "hyperv" => Ok(Box::new(
            hyperv::HyperV::from_config(machine.driver.clone(), store_root).map_err(bad)?,
        )),
        other => Err(Error::store(format!(
            "machine \"{}\" uses the driver \"{other}\", which this Berth does not have",
            machine.name
        ))
        .with_hint("upgrade Berth")),
    }
}

/// Checks a private key the user named with `--flag`: the file exists and is a key.
pub(crate) fn check_ssh_key_file(path: &Path, flag: &str) -> Result<()> {
    if !path.is_file() {
        return Err(
            Error::invalid(format!("SSH key does not exist: \"{}\"", path.display()))
                .with_hint(format!("pass the private key file with --{flag}")),
        );
    }
    crate::ssh::load_private_key(path)?;
    Ok(())
}

/// The file name of a user's key copied into a machine directory. Fixed, so a key that happens
/// to be called `key.pem`, `server.pem` or `id_ed25519` never collides with Berth's own files.
pub const USER_KEY_COPY: &str = "user-ssh-key";

/// A private copy (0600) of the user's key, and its `.pub` if there is one, in the machine
/// directory, as docker-machine made: the machine keeps working if the original moves.
/// Returns the copy's path.
pub(crate) fn copy_ssh_key(src: &Path, machine_dir: &Path) -> Result<std::path::PathBuf> {
    let dst = machine_dir.join(USER_KEY_COPY);
    crate::fsutil::copy_with_mode(src, &dst, crate::fsutil::SECRET_MODE)?;
    let pubkey = std::path::PathBuf::from(format!("{}.pub", src.display()));
    if pubkey.is_file() {
        crate::fsutil::copy_with_mode(
            &pubkey,
            &machine_dir.join(format!("{USER_KEY_COPY}.pub")),
            crate::fsutil::PUBLIC_MODE,
        )?;
    }
    Ok(dst)
}

/// TCP reachability, the way generic hosts report their state.
pub async fn tcp_state(host: &str, port: u16, timeout: Duration) -> MachineState {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => MachineState::Running,
        Ok(Err(_)) => MachineState::Stopped,
        Err(_) => MachineState::Timeout,
    }
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
            let m = Machine::new("m", drv.name(), drv.config(), Default::default());
            let back = load_driver(&m, root.path()).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            assert_eq!(back.name(), d.name);
            assert_eq!(back.config(), drv.config(), "{}", d.name);
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
