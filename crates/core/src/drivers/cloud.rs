//! What the cloud drivers (digitalocean, amazonec2) share: their option constructor, the
//! user-data file check, the wait for a new server's sshd, and "already gone is fine" on delete.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{DriverContext, MachineState};
use crate::error::{Error, ErrorKind, Result};
use crate::ssh::SshTarget;

/// How long a new server's sshd gets to answer after the API calls it running.
pub const SSH_TIMEOUT: Duration = Duration::from_secs(180);

/// The user-data file's bytes (None when no file was named), at most `limit` bytes.
pub fn read_user_data(
    path: &str,
    limit: u64,
    provider: &str,
    flag: &str,
) -> Result<Option<Vec<u8>>> {
    if path.is_empty() {
        return Ok(None);
    }
    let p = Path::new(path);
    let unreadable = |e: std::io::Error| {
        Error::invalid(format!(
            "user-data file \"{}\" could not be read: {e}",
            p.display()
        ))
        .with_hint(format!("pass an existing cloud-init file with --{flag}"))
    };
    // Read at most one byte past the limit: a huge file (or a device) is refused, not loaded.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(p).map_err(unreadable)?, limit + 1),
        &mut bytes,
    )
    .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(Error::invalid(format!(
            "user-data file \"{}\" is over {} KiB, the most {provider} takes",
            p.display(),
            limit / 1024
        )));
    }
    Ok(Some(bytes))
}

/// Polls the SSH port until it accepts connections (bounded by `SSH_TIMEOUT`).
pub async fn wait_ssh(
    ip: &str,
    port: u16,
    what: &str,
    hint: &str,
    ctx: &DriverContext<'_>,
) -> Result<()> {
    let deadline = Instant::now() + SSH_TIMEOUT;
    loop {
        if super::tcp_state(ip, port, Duration::from_secs(5)).await == MachineState::Running {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::timeout(format!(
                "the {what}'s SSH port {ip}:{port} did not open in {} s",
                SSH_TIMEOUT.as_secs()
            ))
            .with_hint(hint.to_string()));
        }
        ctx.progress.log("Waiting for SSH...");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// docker-machine's BaseDriver fields, which its drivers stored at the top level of `Driver`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BaseFields {
    #[serde(rename = "IPAddress", default)]
    pub ip_address: String,
    #[serde(rename = "MachineName")]
    pub machine_name: String,
    #[serde(rename = "SSHUser")]
    pub ssh_user: String,
    #[serde(rename = "SSHPort")]
    pub ssh_port: u16,
    #[serde(rename = "SSHKeyPath", default)]
    pub ssh_key_path: String,
}

impl BaseFields {
    /// The server's address; an error while create has not learnt it yet.
    pub fn address(&self, what: &str) -> Result<String> {
        if self.ip_address.is_empty() {
            return Err(Error::driver(format!("the {what} has no IP address yet")));
        }
        Ok(self.ip_address.clone())
    }

    /// The SSH login: the address, port, user and Berth's key for it.
    pub fn ssh_target(&self) -> SshTarget {
        SshTarget {
            host: self.ip_address.clone(),
            port: self.ssh_port,
            user: self.ssh_user.clone(),
            key: (!self.ssh_key_path.is_empty()).then(|| PathBuf::from(&self.ssh_key_path)),
        }
    }
}

/// A random ID for one machine, chosen before anything is made: every cloud resource of the
/// machine carries it, so rollback and `rm` find what this create made, and only that (never a
/// resource of the same name from another store, computer or teammate).
pub fn new_machine_id() -> String {
    rand::random::<[u8; 12]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// "Not found" on delete: already gone, which is what `rm` wants.
pub fn gone_is_fine(r: Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
pub(crate) fn test_options(pairs: &[(&str, &str)]) -> super::DriverOptions {
    let mut o = super::DriverOptions::default();
    for (k, v) in pairs {
        o.set(k, super::OptionValue::Str((*v).into()));
    }
    o
}
