//! Which ports the VM should publish on this computer, from the running containers, and what
//! the port agent made of them (`ports.json` in the machine directory).

use std::collections::BTreeMap;
use std::path::Path;

use bollard::models::{ContainerSummary, PortSummaryTypeEnum};
use serde::{Deserialize, Serialize};

use crate::drivers::workspace::{PortSpec, Proto};

/// A published port as the machine's page and `berth ports` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PortStatus {
    pub proto: Proto,
    /// Where it answers on this computer (127.0.0.1, or 0.0.0.0 for a machine on the LAN).
    pub host_ip: String,
    pub port: u16,
    /// The containers that publish it (names).
    pub containers: Vec<String>,
    /// Empty when it answers; else why not (the port is taken on this computer, …).
    pub problem: String,
}

impl PortStatus {
    pub fn spec(&self) -> PortSpec {
        PortSpec {
            proto: self.proto,
            host_ip: self.host_ip.clone(),
            port: self.port,
        }
    }
    pub fn forwarded(&self) -> bool {
        self.problem.is_empty()
    }
}

/// What the agent wrote last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortsFile {
    pub ports: Vec<PortStatus>,
}

pub const FILE: &str = "ports.json";

impl PortsFile {
    pub fn read(dir: &Path) -> PortsFile {
        crate::fsutil::read_json_or_default(&dir.join(FILE))
    }
    pub fn write(&self, dir: &Path) -> crate::Result<()> {
        crate::fsutil::write_json(&dir.join(FILE), self, crate::fsutil::PUBLIC_MODE)
    }
}

/// A port to publish, or a reason it cannot be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub spec: PortSpec,
    pub containers: Vec<String>,
    /// Set when the container published it where this computer cannot reach (the VM's own
    /// loopback).
    pub unreachable: Option<String>,
}

/// The ports the running containers publish on the VM, one entry per protocol and port
/// (Docker lists a port once per address family). `lan`: the machine opted in to publishing
/// on all of this computer's addresses, for ports the container published on all of the VM's.
pub fn wanted(containers: &[ContainerSummary], lan: bool) -> Vec<Wanted> {
    let mut by_port: BTreeMap<(Proto, u16), Wanted> = BTreeMap::new();
    for c in containers {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .or_else(|| c.id.as_ref().map(|i| i.chars().take(12).collect()))
            .unwrap_or_default();
        for p in c.ports.iter().flatten() {
            let Some(port) = p.public_port.filter(|p| *p != 0) else {
                continue;
            };
            let proto = match p.typ {
                Some(PortSummaryTypeEnum::UDP) => Proto::Udp,
                Some(PortSummaryTypeEnum::TCP) | None => Proto::Tcp,
                // SCTP: neither QEMU nor VirtualBox forwards it.
                Some(_) => continue,
            };
            let ip = p.ip.as_deref().unwrap_or("0.0.0.0");
            let all = matches!(ip, "0.0.0.0" | "::" | "");
            let unreachable = (ip.starts_with("127.") || ip == "::1").then(|| {
                format!("published on the VM's {ip} only: publish on 0.0.0.0 to reach it from this computer")
            });
            let host_ip = if all && lan { "0.0.0.0" } else { "127.0.0.1" };
            let w = by_port.entry((proto, port)).or_insert_with(|| Wanted {
                spec: PortSpec {
                    proto,
                    host_ip: host_ip.into(),
                    port,
                },
                containers: vec![],
                unreachable: unreachable.clone(),
            });
            // Reachable through one address is reachable.
            if unreachable.is_none() {
                w.unreachable = None;
            }
            if !w.containers.contains(&name) {
                w.containers.push(name.clone());
            }
        }
    }
    by_port.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::PortSummary;

    fn container(
        name: &str,
        ports: &[(&str, u16, Option<u16>, PortSummaryTypeEnum)],
    ) -> ContainerSummary {
        ContainerSummary {
            names: Some(vec![format!("/{name}")]),
            ports: Some(
                ports
                    .iter()
                    .map(|(ip, private, public, typ)| PortSummary {
                        ip: Some(ip.to_string()),
                        private_port: *private,
                        public_port: *public,
                        typ: Some(*typ),
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn one_entry_per_protocol_and_port_and_only_published_ones() {
        use PortSummaryTypeEnum::*;
        let cs = [
            container(
                "web",
                &[
                    ("0.0.0.0", 80, Some(8080), TCP),
                    ("::", 80, Some(8080), TCP),
                    ("", 443, None, TCP),
                ],
            ),
            container("dns", &[("0.0.0.0", 53, Some(5353), UDP)]),
            container("db", &[("127.0.0.1", 5432, Some(5432), TCP)]),
        ];
        let w = wanted(&cs, false);
        let ports: Vec<(Proto, u16, &str)> = w
            .iter()
            .map(|w| (w.spec.proto, w.spec.port, w.spec.host_ip.as_str()))
            .collect();
        assert_eq!(
            ports,
            [
                (Proto::Tcp, 5432, "127.0.0.1"),
                (Proto::Tcp, 8080, "127.0.0.1"),
                (Proto::Udp, 5353, "127.0.0.1")
            ]
        );
        assert_eq!(w[1].containers, ["web"]);
        assert!(
            w[0].unreachable
                .as_deref()
                .unwrap_or("")
                .contains("VM's 127.0.0.1")
        );
        assert!(w[1].unreachable.is_none());
    }

    #[test]
    fn the_lan_is_used_only_when_the_machine_opted_in() {
        use PortSummaryTypeEnum::*;
        let cs = [container("web", &[("0.0.0.0", 80, Some(8080), TCP)])];
        assert_eq!(wanted(&cs, true)[0].spec.host_ip, "0.0.0.0");
        assert_eq!(wanted(&cs, false)[0].spec.host_ip, "127.0.0.1");
    }
}
