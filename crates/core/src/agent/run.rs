//! The agent's loop: subscribe to the machine's container events, and after each one make the
//! forwarded ports match what the running containers publish. Idle, it waits on the event
//! stream and wakes every 30 s to check that the VM still runs: no polling of Docker.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use futures_util::StreamExt;

use super::ports::{self, PortStatus, PortsFile};
use crate::drivers::workspace::Proto;
use crate::drivers::{self, Driver, MachineState};
use crate::engine::{self, EngineTls};
use crate::error::{Error, Result};

/// How often the agent checks that the VM still runs (it exits when it does not). Rarely: a
/// VM that stops also ends the event stream, which is checked at once; asking a hypervisor
/// (VBoxManage, PowerShell) is not free.
const VM_CHECK: Duration = Duration::from_secs(30);
/// How often ports that could not be forwarded (taken on this computer) are tried again.
const RETRY_SKIPPED: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after an event the containers are listed again.
const LOOK_AGAIN: Duration = Duration::from_millis(300);

/// A line in agent.log (its standard error), with the time.
pub fn log(msg: &str) {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    eprintln!("{now} {msg}");
}

type Table = BTreeMap<(Proto, u16), PortStatus>;

struct Agent {
    dir: std::path::PathBuf,
    driver: Box<dyn Driver>,
    table: Table,
}

pub async fn run(dir: &Path) -> Result<()> {
    let (root, name) = match (dir.parent().and_then(Path::parent), dir.file_name()) {
        (Some(r), Some(n)) => (r, n.to_string_lossy().to_string()),
        _ => {
            return Err(Error::invalid(format!(
                "{} is not a machine folder",
                dir.display()
            )));
        }
    };
    let store = crate::Store::at(root);
    let machine = store.load(&name)?;
    let driver = drivers::load_driver(&machine, root)?;
    let url = driver.engine_url()?;
    let tls = EngineTls::from_machine_dir(dir)?;
    log(&format!(
        "started for \"{name}\" ({url}), pid {}",
        std::process::id()
    ));
    let mut agent = Agent {
        dir: dir.to_path_buf(),
        driver,
        table: Table::new(),
    };
    agent.forget_previous().await;
    // The folders are kept mounted beside the ports, until the VM stops.
    let shares = async {
        super::shares::keep_mounted(root, &name).await;
        std::future::pending::<()>().await
    };
    tokio::select! {
        () = shares => {}
        () = agent.follow_until_stopped(&url, &tls) => {}
    }
    agent.table.clear();
    let _ = PortsFile::default().write(dir);
    log("the VM stopped; exiting");
    Ok(())
}

impl Agent {
    /// Follows Docker (reconnecting) until the VM stops.
    async fn follow_until_stopped(&mut self, url: &str, tls: &EngineTls) {
        let agent = self;
        let mut backoff = Duration::from_millis(500);
        loop {
            if !agent.vm_runs().await {
                break;
            }
            match engine::connect(url, tls, CONNECT_TIMEOUT).await {
                Ok(docker) => {
                    backoff = Duration::from_millis(500);
                    match agent.follow(&docker).await {
                        Ok(()) => break,
                        Err(e) => log(&format!("the event stream ended: {e}; reconnecting")),
                    }
                }
                Err(e) => log(&format!("Docker does not answer yet: {e}")),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    async fn vm_runs(&self) -> bool {
        // A state that cannot be read (a busy hypervisor) is not a stopped VM.
        !matches!(
            self.driver.state(Duration::from_secs(10)).await,
            MachineState::Stopped | MachineState::Error | MachineState::NotFound
        )
    }

    /// Rules a previous agent made may still be in the hypervisor (it died, the VM did not):
    /// removed, then made again from the containers.
    async fn forget_previous(&mut self) {
        for p in PortsFile::read(&self.dir).ports {
            if p.forwarded() {
                let _ = self.driver.unforward_port(&p.spec()).await;
            }
        }
    }

    /// Follows the event stream until the VM stops (Ok) or the stream fails (Err).
    async fn follow(&mut self, docker: &Docker) -> Result<()> {
        // Events since just before the first listing: none is missed between the two.
        let since = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
        let mut filters = std::collections::HashMap::new();
        filters.insert("type".to_string(), vec!["container".to_string()]);
        let mut events = docker.events(Some(EventsOptions {
            since: Some(since.to_string()),
            filters: Some(filters),
            ..Default::default()
        }));
        self.reconcile(docker).await?;
        let mut vm_check = tokio::time::interval(VM_CHECK);
        vm_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry = tokio::time::interval(RETRY_SKIPPED);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Docker sends `die` before the container stops being listed as running: each event
        // is looked at again a moment later (a container that exits by itself sends no
        // `stop`).
        let mut again: Option<tokio::time::Instant> = None;
        loop {
            let look_again = async {
                match again {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(ev)) => {
                        let action = ev.action.unwrap_or_default();
                        if matches!(action.as_str(), "start" | "die" | "stop" | "kill" | "destroy" | "unpause" | "restart") {
                            self.reconcile(docker).await?;
                            again = Some(tokio::time::Instant::now() + LOOK_AGAIN);
                        }
                    }
                    Some(Err(e)) => return Err(engine::describe("the machine", &e)),
                    None => return Err(Error::engine("Docker closed the event stream")),
                },
                _ = vm_check.tick() => {
                    if !self.vm_runs().await {
                        return Ok(());
                    }
                }
                () = look_again => {
                    again = None;
                    self.reconcile(docker).await?;
                }
                _ = retry.tick() => {
                    if self.table.values().any(|p| !p.forwarded()) {
                        self.reconcile(docker).await?;
                    }
                }
            }
        }
    }

    /// Makes the forwards match the running containers' published ports.
    async fn reconcile(&mut self, docker: &Docker) -> Result<()> {
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: false,
                ..Default::default()
            }))
            .await
            .map_err(|e| engine::describe("the machine", &e))?;
        let wanted = ports::wanted(&containers, self.driver.ports_on_lan());
        let mut changed = false;
        // Released first, so a port moving between containers is free again.
        let gone: Vec<(Proto, u16)> = self
            .table
            .iter()
            .filter(|(k, p)| {
                !wanted
                    .iter()
                    .any(|w| (w.spec.proto, w.spec.port) == **k && w.spec.host_ip == p.host_ip)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            if let Some(p) = self.table.remove(&k) {
                changed = true;
                if p.forwarded() {
                    match self.driver.unforward_port(&p.spec()).await {
                        Ok(()) => log(&format!("released {} {}", p.proto.as_str(), p.port)),
                        Err(e) => log(&format!(
                            "could not release {} {}: {e}",
                            p.proto.as_str(),
                            p.port
                        )),
                    }
                }
            }
        }
        for w in wanted {
            let key = (w.spec.proto, w.spec.port);
            if let Some(p) = self.table.get_mut(&key) {
                if p.containers != w.containers {
                    p.containers = w.containers.clone();
                    changed = true;
                }
                if p.forwarded() || w.unreachable.is_some() {
                    continue;
                }
            }
            let problem = match &w.unreachable {
                Some(why) => why.clone(),
                None => match self.driver.forward_port(&w.spec).await {
                    Ok(()) => String::new(),
                    Err(e) => e.message().to_string(),
                },
            };
            let previous = self.table.get(&key).map(|p| p.problem.clone());
            if previous.as_deref() != Some(problem.as_str()) {
                changed = true;
                if problem.is_empty() {
                    log(&format!(
                        "forwarded {} {}:{} for {}",
                        w.spec.proto.as_str(),
                        w.spec.host_ip,
                        w.spec.port,
                        w.containers.join(", ")
                    ));
                } else {
                    log(&format!(
                        "not forwarded: {} {} for {}: {problem}",
                        w.spec.proto.as_str(),
                        w.spec.port,
                        w.containers.join(", ")
                    ));
                }
            }
            self.table.insert(
                key,
                PortStatus {
                    proto: w.spec.proto,
                    host_ip: w.spec.host_ip.clone(),
                    port: w.spec.port,
                    containers: w.containers,
                    problem,
                },
            );
        }
        if changed {
            PortsFile {
                ports: self.table.values().cloned().collect(),
            }
            .write(&self.dir)?;
        }
        Ok(())
    }
}
