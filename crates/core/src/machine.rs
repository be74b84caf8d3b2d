//! The machine record, `machines/NAME/machine.json`. Field names follow docker-machine's
//! config.json where the meaning is the same, so `inspect -f '{{.Driver.IPAddress}}'` and
//! friends keep working. The `Driver` object is owned by the driver and kept verbatim otherwise.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Bumped when the record changes incompatibly; older records are migrated on load.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Machine {
    pub schema_version: u32,
    pub name: String,
    pub driver_name: String,
    /// Driver-specific configuration; only the driver interprets it.
    pub driver: serde_json::Value,
    pub host_options: HostOptions,
    #[serde(default)]
    pub status: Status,
    /// The SSH host key seen at first contact (OpenSSH public key line). Every later connection
    /// must present the same key.
    #[serde(
        default,
        rename = "SSHHostKey",
        skip_serializing_if = "Option::is_none"
    )]
    pub ssh_host_key: Option<String>,
    #[serde(default)]
    pub created_at: String,
    /// What provisioning found out about the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostFacts>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostOptions {
    #[serde(default)]
    pub engine_options: EngineOptions,
    #[serde(default)]
    pub auth_options: AuthOptions,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct EngineOptions {
    /// `--engine-opt` values, `flag=value` or `flag`; rendered as `--flag=value`.
    pub arbitrary_flags: Vec<String>,
    /// `--engine-env` values, `KEY=VALUE`.
    pub env: Vec<String>,
    pub insecure_registry: Vec<String>,
    /// `--engine-label` values, `key=value`.
    pub labels: Vec<String>,
    pub registry_mirror: Vec<String>,
    /// Empty: keep the driver dockerd already uses (or let dockerd choose on a new install).
    pub storage_driver: String,
    /// Empty: install Docker from the distribution's packages when it is missing.
    #[serde(rename = "InstallURL")]
    pub install_url: String,
    pub tls_verify: bool,
    /// Keep containers running while dockerd restarts (cert renewal, reconfiguration).
    pub live_restore: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            arbitrary_flags: vec![],
            env: vec![],
            insecure_registry: vec![],
            labels: vec![],
            registry_mirror: vec![],
            storage_driver: String::new(),
            install_url: String::new(),
            tls_verify: true,
            live_restore: true,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AuthOptions {
    /// Extra subject alternative names for the server certificate (`--tls-san`).
    #[serde(default, rename = "ServerCertSANs")]
    pub server_cert_sans: Vec<String>,
    /// Informational copies of the certificate paths (docker-machine's keys), rewritten on every
    /// save from the store's location and never read back: the store is the source of truth.
    #[serde(default, skip_deserializing)]
    pub cert_dir: String,
    #[serde(default, skip_deserializing)]
    pub ca_cert_path: String,
    #[serde(default, skip_deserializing)]
    pub client_cert_path: String,
    #[serde(default, skip_deserializing)]
    pub client_key_path: String,
    #[serde(default, skip_deserializing)]
    pub server_cert_path: String,
    #[serde(default, skip_deserializing)]
    pub server_key_path: String,
    #[serde(default, skip_deserializing)]
    pub store_path: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// `create` is working on it (or was interrupted: see `Store::is_busy`).
    #[default]
    Creating,
    Ready,
    /// The last create/provision failed; `Status.Error` says why.
    Error,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Status {
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default)]
    pub updated_at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HostFacts {
    #[serde(rename = "OS")]
    pub os: String,
    #[serde(rename = "OSID")]
    pub os_id: String,
    pub init: String,
    pub dockerd: String,
    /// True when Berth installed Docker on this host.
    pub installed_docker: bool,
    pub storage_driver: String,
    pub docker_version: String,
    /// SHA-256 of the CA certificate the host's dockerd trusts (set by provisioning).
    pub ca_fingerprint: String,
}

impl Machine {
    pub fn new(
        name: &str,
        driver_name: &str,
        driver: serde_json::Value,
        host_options: HostOptions,
    ) -> Self {
        let now = now_rfc3339();
        Machine {
            schema_version: SCHEMA_VERSION,
            name: name.to_string(),
            driver_name: driver_name.to_string(),
            driver,
            host_options,
            status: Status {
                phase: Phase::Creating,
                error: None,
                hint: None,
                updated_at: now.clone(),
            },
            ssh_host_key: None,
            created_at: now,
            host: None,
        }
    }

    pub fn set_ready(&mut self) {
        self.status = Status {
            phase: Phase::Ready,
            error: None,
            hint: None,
            updated_at: now_rfc3339(),
        };
    }

    pub fn set_error(&mut self, err: &Error) {
        self.status = Status {
            phase: Phase::Error,
            error: Some(err.message().to_string()),
            hint: err.hint().map(str::to_string),
            updated_at: now_rfc3339(),
        };
    }

    /// Parses a record, migrating older schemas. Unknown fields are ignored; a record from a
    /// newer Berth is refused rather than half-understood.
    pub fn from_json(name: &str, text: &str) -> Result<Machine> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::store(format!(
                "machine.json of \"{name}\" is not valid JSON ({e})"
            ))
        })?;
        let version = value
            .get("SchemaVersion")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if version > u64::from(SCHEMA_VERSION) {
            return Err(Error::store(format!(
                "machine \"{name}\" was written by a newer Berth (schema {version}, this one reads up to {SCHEMA_VERSION})"
            ))
            .with_hint("upgrade Berth"));
        }
        if version == 0 {
            return Err(Error::store(format!(
                "machine.json of \"{name}\" has no SchemaVersion"
            )));
        }
        let machine: Machine = serde_json::from_value(value)
            .map_err(|e| Error::store(format!("machine.json of \"{name}\" is damaged ({e})")))?;
        if machine.name != name {
            return Err(Error::store(format!(
                "machine.json in directory \"{name}\" describes \"{}\"",
                machine.name
            )));
        }
        Ok(machine)
    }
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Machine {
        Machine::new(
            "dev",
            "generic",
            serde_json::json!({"IPAddress": "10.0.0.2"}),
            HostOptions::default(),
        )
    }

    #[test]
    fn round_trip_keeps_driver_blob() {
        let mut m = sample();
        m.driver["FutureField"] = serde_json::json!(42);
        let text = serde_json::to_string_pretty(&m).unwrap();
        let back = Machine::from_json("dev", &text).unwrap();
        assert_eq!(back.driver["FutureField"], 42);
        assert_eq!(back.driver["IPAddress"], "10.0.0.2");
        assert!(back.host_options.engine_options.tls_verify);
    }

    #[test]
    fn refuses_newer_schema_and_garbage() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["SchemaVersion"] = serde_json::json!(99);
        let e = Machine::from_json("dev", &v.to_string()).unwrap_err();
        assert!(e.message().contains("newer Berth"), "{e}");
        assert!(Machine::from_json("dev", "{\"Name\": ").is_err());
        assert!(Machine::from_json("dev", "").is_err());
        assert!(Machine::from_json("other", &serde_json::to_string(&sample()).unwrap()).is_err());
    }

    #[test]
    fn error_status_keeps_hint() {
        let mut m = sample();
        m.set_error(&Error::ssh("refused").with_hint("check the port"));
        assert_eq!(m.status.phase, Phase::Error);
        assert_eq!(m.status.hint.as_deref(), Some("check the port"));
    }
}
