//! `generic`: a server that already exists and that Berth reaches over SSH. Berth installs and
//! configures Docker on it, never reboots it, and on `rm` puts its Docker configuration back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{
    Driver, DriverContext, DriverInfo, DriverKind, DriverOptions, MachineState, OptionKind,
    OptionSpec,
};
use crate::error::{Error, Result};
use crate::ssh::SshTarget;

pub fn info() -> DriverInfo {
    DriverInfo {
        name: "generic",
        title: "Existing server (SSH)",
        description: "A Linux server you can already log in to with an SSH key. Berth installs Docker if it is missing and secures it with TLS.",
        kind: DriverKind::Existing,
        features: REGISTRATION.features,
        options: vec![
            OptionSpec::new("generic-ip-address", OptionKind::String)
.label("Address")
.help("IP address or host name of the server")
.env("GENERIC_IP_ADDRESS")
.required(),
            OptionSpec::new("generic-ssh-user", OptionKind::String)
.label("SSH user")
.help("SSH user: root, or a user with passwordless sudo")
.default("root")
.env("GENERIC_SSH_USER"),
            OptionSpec::new("generic-ssh-key", OptionKind::Path)
.label("SSH private key")
.help("private key that logs in to the server (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
.env("GENERIC_SSH_KEY"),
            OptionSpec::new("generic-ssh-port", OptionKind::Int)
.range(1, 65535)
.label("SSH port")
.help("SSH port")
.default("22")
.env("GENERIC_SSH_PORT"),
            OptionSpec::new("generic-engine-port", OptionKind::Int)
.range(1, 65535)
.label("Docker port")
.help("port dockerd listens on with TLS")
.default("2376")
.env("GENERIC_ENGINE_PORT"),
        ],
    }
}

/// Stored as docker-machine's generic driver stored itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenericConfig {
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "MachineName")]
    pub machine_name: String,
    #[serde(rename = "SSHUser")]
    pub ssh_user: String,
    #[serde(rename = "SSHPort")]
    pub ssh_port: u16,
    /// Berth's copy of the key (0600) in the machine directory; empty = the user's default keys.
    #[serde(rename = "SSHKeyPath")]
    pub ssh_key_path: String,
    /// The key path the user gave.
    #[serde(rename = "SSHKey", default)]
    pub ssh_key: String,
    #[serde(rename = "EnginePort")]
    pub engine_port: u16,
}

/// This driver's registry entry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "generic",
    features: crate::drivers::Features {
        ssh: true,
        provisions: true,
        restart: crate::drivers::RestartKind::Engine,
        reconfigurable: true,
        ..crate::drivers::Features::NONE
    },
    info,
    availability: super::registry::always_available,
    create: |name, info, o| Ok(Box::new(Generic::from_options(name, info, o)?)),
    load: |v, _| Ok(Box::new(Generic::from_config(v)?)),
};

pub struct Generic {
    cfg: GenericConfig,
}

impl Generic {
    pub fn from_options(name: &str, info: &DriverInfo, o: &DriverOptions) -> Result<Self> {
        let ip = o.string(info, "generic-ip-address")?.trim().to_string();
        if !super::valid_host(&ip) {
            return Err(Error::invalid(format!(
                "--generic-ip-address \"{ip}\" is not an IP address or host name"
            )));
        }
        let user = o.ssh_user(info, "generic-ssh-user")?;
        let key = o.path(info, "generic-ssh-key")?;
        Ok(Generic {
            cfg: GenericConfig {
                ip_address: ip,
                machine_name: name.to_string(),
                ssh_user: user,
                ssh_port: o.port(info, "generic-ssh-port")?,
                ssh_key_path: String::new(),
                ssh_key: key,
                engine_port: o.port(info, "generic-engine-port")?,
            },
        })
    }

    pub fn from_config(v: serde_json::Value) -> serde_json::Result<Self> {
        Ok(Generic {
            cfg: serde_json::from_value(v)?,
        })
    }

    pub fn config_mut(&mut self) -> &mut GenericConfig {
        &mut self.cfg
    }
}

#[async_trait]
impl Driver for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }
    fn config(&self) -> Result<serde_json::Value> {
        super::config_value(self.name(), &self.cfg)
    }
    fn address(&self) -> Result<String> {
        Ok(self.cfg.ip_address.clone())
    }
    fn engine_port(&self) -> u16 {
        self.cfg.engine_port
    }
    /// New address, user or ports for the same server (`provision --generic-ip-address …`):
    /// options not given keep their stored values, and so does the key copy unless a new key
    /// was given.
    fn reconfigured(&self, info: &DriverInfo, opts: &DriverOptions) -> Result<Box<dyn Driver>> {
        use super::OptionValue::Str;
        let mut merged = DriverOptions::default();
        merged.set("generic-ip-address", Str(self.cfg.ip_address.clone()));
        merged.set("generic-ssh-user", Str(self.cfg.ssh_user.clone()));
        merged.set("generic-ssh-port", Str(self.cfg.ssh_port.to_string()));
        merged.set("generic-engine-port", Str(self.cfg.engine_port.to_string()));
        for (k, v) in &opts.0 {
            merged.set(k, v.clone());
        }
        let mut fresh = Generic::from_options(&self.cfg.machine_name, info, &merged)?;
        if !opts.0.contains_key("generic-ssh-key") {
            fresh.cfg.ssh_key_path = self.cfg.ssh_key_path.clone();
            fresh.cfg.ssh_key = self.cfg.ssh_key.clone();
        }
        Ok(Box::new(fresh))
    }
    fn ssh_target(&self) -> Option<SshTarget> {
        Some(SshTarget {
            host: self.cfg.ip_address.clone(),
            port: self.cfg.ssh_port,
            user: self.cfg.ssh_user.clone(),
            key: (!self.cfg.ssh_key_path.is_empty()).then(|| PathBuf::from(&self.cfg.ssh_key_path)),
        })
    }

    async fn pre_create_check(&self, _: &DriverContext<'_>) -> Result<()> {
        if !self.cfg.ssh_key.is_empty() {
            super::check_ssh_key_file(Path::new(&self.cfg.ssh_key), "generic-ssh-key")?;
        }
        Ok(())
    }

    async fn create(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        if self.cfg.ssh_key.is_empty() {
            ctx.progress.log(
                "No SSH key given: using your default keys (~/.ssh/id_ed25519, id_ecdsa, id_rsa)",
            );
            return Ok(());
        }
        let copy = super::copy_ssh_key(Path::new(&self.cfg.ssh_key), ctx.machine_dir)?;
        self.cfg.ssh_key_path = copy.display().to_string();
        Ok(())
    }

    async fn state(&self, timeout: Duration) -> MachineState {
        super::tcp_state(&self.cfg.ip_address, self.cfg.ssh_port, timeout).await
    }

    async fn start(&mut self, _: &DriverContext<'_>) -> Result<()> {
        Err(unsupported("start"))
    }
    async fn stop(&mut self, _: &DriverContext<'_>) -> Result<()> {
        Err(unsupported("stop"))
    }
    async fn kill(&mut self, _: &DriverContext<'_>) -> Result<()> {
        Err(unsupported("kill"))
    }
    async fn restart(&mut self, _: &DriverContext<'_>) -> Result<()> {
        Err(unsupported("reboot"))
    }
    async fn remove(&mut self, _: &DriverContext<'_>) -> Result<()> {
        // The server is not ours to delete; ops::remove undoes the Docker configuration.
        Ok(())
    }
}

fn unsupported(what: &str) -> Error {
    Error::driver(format!("the generic driver cannot {what} a server")).with_hint(
        "power the server on or off with its own tools; `berth restart` restarts its Docker daemon",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::OptionValue;

    #[test]
    fn hosts() {
        for ok in ["10.0.0.1", "::1", "[fe80::1]", "example.com", "a-b.c"] {
            assert!(crate::drivers::valid_host(ok), "{ok}");
        }
        for bad in ["", "a b", "-x.com", "x..y", "a/b", "$(id)", "host;ls"] {
            assert!(!crate::drivers::valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn from_options_and_urls() {
        let info = info();
        let mut o = DriverOptions::default();
        o.set("generic-ip-address", OptionValue::Str("fe80::2".into()));
        o.set("generic-engine-port", OptionValue::Str("12376".into()));
        let g = Generic::from_options("m", &info, &o).unwrap();
        assert_eq!(g.engine_url().unwrap(), "tcp://[fe80::2]:12376");
        assert_eq!(g.ssh_target().unwrap().user, "root");
        o.set("generic-ssh-user", OptionValue::Str("bob; rm".into()));
        assert!(Generic::from_options("m", &info, &o).is_err());
    }
}
