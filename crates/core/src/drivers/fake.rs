//! `test-fake`: an in-process driver for tests of the operations (rollback, keep-on-failure,
//! locks, cancel, address changes), like libmachine's fakedriver. Its "cloud" is a directory:
//! each resource it makes is a file there, so a test sees exactly what was made and what was
//! left. Its options say where to fail or stall. Built only for tests (`testing` feature).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{
    Driver, DriverContext, DriverInfo, DriverKind, DriverOptions, MachineState, OptionKind,
    OptionSpec,
};
use crate::error::{Error, IoContext, Result};
use crate::ssh::SshTarget;

pub const NAME: &str = "test-fake";

pub fn info() -> DriverInfo {
    DriverInfo {
        name: NAME,
        title: "Test driver",
        description: "Makes files in a directory instead of servers (tests only).",
        kind: DriverKind::Cloud,
        features: REGISTRATION.features,
        options: vec![
            OptionSpec::new("test-fake-cloud", OptionKind::Path)
                .label("Cloud directory")
                .help("where the made resources are files")
                .required(),
            OptionSpec::new("test-fake-fail-at", OptionKind::String)
                .label("Fail at")
                .help("the step that fails")
                .choices(&["", "pre-create", "create", "start", "stop", "remove"]),
            OptionSpec::new("test-fake-stall-ms", OptionKind::Int)
                .label("Stall")
                .help("milliseconds create waits after making its resource")
                .default("0")
                .range(0, 600_000),
            OptionSpec::new("test-fake-address", OptionKind::String)
                .label("Address")
                .help("the address the machine reports")
                .default("127.0.0.1"),
        ],
    }
}

pub const REGISTRATION: super::Registration = super::Registration {
    name: NAME,
    features: crate::drivers::Features {
        provisions: false,
        ssh: false,
        ..crate::drivers::Features::CLOUD
    },
    info,
    availability: super::registry::always_available,
    create: |name, info, o| Ok(Box::new(Fake::from_options(name, info, o)?)),
    load: |v, _| Ok(Box::new(Fake::from_config(v)?)),
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FakeConfig {
    pub machine_name: String,
    pub cloud: PathBuf,
    pub fail_at: String,
    pub stall_ms: u64,
    pub address: String,
    /// The resource made (a file name in `cloud`), once made.
    pub resource: Option<String>,
    pub running: bool,
}

pub struct Fake {
    cfg: FakeConfig,
}

impl Fake {
    pub fn from_options(name: &str, info: &DriverInfo, o: &DriverOptions) -> Result<Self> {
        Ok(Fake {
            cfg: FakeConfig {
                machine_name: name.to_string(),
                cloud: PathBuf::from(o.path(info, "test-fake-cloud")?),
                fail_at: o.choice(info, "test-fake-fail-at")?,
                stall_ms: o.int_in_range(info, "test-fake-stall-ms")? as u64,
                address: o.string(info, "test-fake-address")?,
                resource: None,
                running: false,
            },
        })
    }

    pub fn from_config(v: serde_json::Value) -> serde_json::Result<Self> {
        Ok(Fake {
            cfg: serde_json::from_value(v)?,
        })
    }

    fn fail(&self, step: &str) -> Result<()> {
        if self.cfg.fail_at == step {
            return Err(Error::driver(format!("the test driver fails at {step}")));
        }
        Ok(())
    }

    /// The resource files of a fake cloud (what a test checks for leaks).
    pub fn resources(cloud: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(cloud)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

#[async_trait]
impl Driver for Fake {
    fn name(&self) -> &'static str {
        NAME
    }
    fn config(&self) -> Result<serde_json::Value> {
        super::config_value(NAME, &self.cfg)
    }
    fn address(&self) -> Result<String> {
        Ok(self.cfg.address.clone())
    }
    fn ssh_target(&self) -> Option<SshTarget> {
        None
    }
    async fn pre_create_check(&self, _: &DriverContext<'_>) -> Result<()> {
        self.fail("pre-create")
    }
    async fn create(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        let id = format!(
            "{}-{}",
            self.cfg.machine_name,
            super::cloud::new_machine_id()
        );
        let file = self.cfg.cloud.join(&id);
        std::fs::write(&file, b"made").at("write", &file)?;
        self.cfg.resource = Some(id);
        self.cfg.running = true;
        // What is made is on record before anything else happens.
        ctx.checkpoint(self.config()?)?;
        tokio::time::sleep(Duration::from_millis(self.cfg.stall_ms)).await;
        self.fail("create")
    }
    async fn state(&self, _: Duration) -> MachineState {
        match &self.cfg.resource {
            Some(r) if self.cfg.cloud.join(r).exists() => {
                if self.cfg.running {
                    MachineState::Running
                } else {
                    MachineState::Stopped
                }
            }
            _ => MachineState::NotFound,
        }
    }
    async fn start(&mut self, _: &DriverContext<'_>) -> Result<()> {
        self.fail("start")?;
        self.cfg.running = true;
        Ok(())
    }
    async fn stop(&mut self, _: &DriverContext<'_>) -> Result<()> {
        self.fail("stop")?;
        self.cfg.running = false;
        Ok(())
    }
    async fn kill(&mut self, _: &DriverContext<'_>) -> Result<()> {
        self.cfg.running = false;
        Ok(())
    }
    async fn restart(&mut self, _: &DriverContext<'_>) -> Result<()> {
        self.cfg.running = true;
        Ok(())
    }
    async fn remove(&mut self, _: &DriverContext<'_>) -> Result<()> {
        self.fail("remove")?;
        if let Some(r) = &self.cfg.resource {
            let file = self.cfg.cloud.join(r);
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).at("remove", &file)?;
                }
                _ => {}
            }
            self.cfg.resource = None;
        }
        Ok(())
    }
}
