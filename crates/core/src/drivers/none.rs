//! `none`: registers an existing Docker endpoint; nothing is created or provisioned.

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
        name: "none",
        title: "Existing Docker endpoint",
        description: "A Docker daemon that already listens with TLS. Berth only records its address.",
        kind: DriverKind::Existing,
        features: REGISTRATION.features,
        options: vec![
            OptionSpec::new("url", OptionKind::String)
                .label("Docker URL")
                .help("the daemon's URL, e.g. tcp://10.0.0.5:2376")
                .required(),
        ],
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoneConfig {
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "MachineName")]
    pub machine_name: String,
    #[serde(rename = "URL")]
    pub url: String,
}

/// This driver's registry entry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "none",
    features: crate::drivers::Features {
        reconfigurable: true,
        ..crate::drivers::Features::NONE
    },
    info,
    availability: super::registry::always_available,
    create: |name, info, o| Ok(Box::new(NoneDriver::from_options(name, info, o)?)),
    load: |v, _| Ok(Box::new(NoneDriver::from_config(v)?)),
};

pub struct NoneDriver {
    cfg: NoneConfig,
}

/// Splits `tcp://host:port` into host and port. The host is an IP address (IPv6 in brackets)
/// or a DNS name: the URL goes into `env` output for every shell, so nothing else may pass.
pub fn split_url(url: &str) -> Result<(String, u16)> {
    let bad = |what: &str| {
        Error::invalid(format!("--url \"{}\" {what}", url.escape_default()))
            .with_hint("for example tcp://192.0.2.5:2376 or tcp://[2001:db8::5]:2376")
    };
    let rest = url
        .strip_prefix("tcp://")
        .ok_or_else(|| bad("must start with tcp://"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6.split_once("]:").ok_or_else(|| bad("has no port"))?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("has an invalid IPv6 address"));
            }
            (h, p)
        }
        None => {
            let (h, p) = rest.rsplit_once(':').ok_or_else(|| bad("has no port"))?;
            if h.contains(':') {
                return Err(bad("has an IPv6 address without brackets"));
            }
            if !super::valid_host(h) {
                return Err(bad("has an invalid host"));
            }
            (h, p)
        }
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad("has an invalid port"))?;
    Ok((host.to_string(), port))
}

impl NoneDriver {
    pub fn from_options(name: &str, info: &DriverInfo, o: &DriverOptions) -> Result<Self> {
        let url = o.string(info, "url")?;
        let (host, port) = split_url(&url)?;
        Ok(NoneDriver {
            cfg: NoneConfig {
                ip_address: format!("{host}:{port}"),
                machine_name: name.to_string(),
                url,
            },
        })
    }
    pub fn from_config(v: serde_json::Value) -> serde_json::Result<Self> {
        Ok(NoneDriver {
            cfg: serde_json::from_value(v)?,
        })
    }
}

#[async_trait]
impl Driver for NoneDriver {
    fn name(&self) -> &'static str {
        "none"
    }
    fn config(&self) -> Result<serde_json::Value> {
        super::config_value(self.name(), &self.cfg)
    }
    fn address(&self) -> Result<String> {
        Ok(split_url(&self.cfg.url)?.0)
    }
    fn engine_url(&self) -> Result<String> {
        // Checked again: the record may have been edited by hand.
        split_url(&self.cfg.url)?;
        Ok(self.cfg.url.clone())
    }
    fn engine_port(&self) -> u16 {
        split_url(&self.cfg.url).map(|(_, p)| p).unwrap_or(2376)
    }
    fn ssh_target(&self) -> Option<SshTarget> {
        None
    }
    /// A new URL for the same endpoint.
    fn reconfigured(&self, info: &DriverInfo, opts: &DriverOptions) -> Result<Box<dyn Driver>> {
        Ok(Box::new(NoneDriver::from_options(
            &self.cfg.machine_name,
            info,
            opts,
        )?))
    }
    async fn pre_create_check(&self, _: &DriverContext<'_>) -> Result<()> {
        Ok(())
    }
    async fn create(&mut self, _: &DriverContext<'_>) -> Result<()> {
        Ok(())
    }
    async fn state(&self, timeout: Duration) -> MachineState {
        match split_url(&self.cfg.url) {
            Ok((h, p)) => super::tcp_state(&h, p, timeout).await,
            Err(_) => MachineState::Error,
        }
    }
    async fn start(&mut self, _: &DriverContext<'_>) -> Result<()> {
        Err(Error::driver("hosts without a driver cannot be started"))
    }
    async fn stop(&mut self, _: &DriverContext<'_>) -> Result<()> {
        Err(Error::driver("hosts without a driver cannot be stopped"))
    }
    async fn kill(&mut self, _: &DriverContext<'_>) -> Result<()> {
        Err(Error::driver("hosts without a driver cannot be killed"))
    }
    async fn restart(&mut self, _: &DriverContext<'_>) -> Result<()> {
        Err(Error::driver("hosts without a driver cannot be restarted"))
    }
    async fn remove(&mut self, _: &DriverContext<'_>) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("tcp://10.0.0.5:2376").unwrap(),
            ("10.0.0.5".into(), 2376)
        );
        assert_eq!(split_url("tcp://[::1]:2376").unwrap(), ("::1".into(), 2376));
        for bad in [
            "10.0.0.5:2376",
            "tcp://10.0.0.5",
            "tcp://:2376",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://a@b:1",
            "tcp://h\n:1",
            "tcp://h:1\nrm -rf ~",
            "tcp://h\":1",
            "tcp://$(id):1",
            "tcp://h\u{201D}:1",
            "tcp://::1:2376",
            "tcp://[nothost]:1",
            "tcp://-h:1",
        ] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }
}
