//! The machine page's operations: what runs on a machine's Docker (`crate::containers`),
//! reached through the machine's TLS endpoint. One connection per call: the page asks rarely
//! (on open and after events), and a machine may have moved in between.

use std::time::Duration;

use bollard::Docker;

use super::Berth;
use crate::containers::{
    self, ContainerAction, ContainerRow, DiskUsage, EngineOverview, ImageRow, LogLine, NetworkRow,
    PortLinks, PullProgress, RunRequest, VolumeRow,
};
use crate::engine::{self, Endpoint, EngineTls};
use crate::error::Result;

/// Docker clients by machine name, with what they were made for.
pub(crate) type Clients =
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (String, Docker)>>>;

/// What a client depends on: the URL and when the certificates last changed.
fn client_key(url: &str, dir: &std::path::Path) -> String {
    let stamp = |f: &str| {
        std::fs::metadata(dir.join(f))
            .and_then(|m| m.modified())
            .map(|t| format!("{t:?}"))
            .unwrap_or_default()
    };
    format!(
        "{url} {} {} {}",
        stamp("ca.pem"),
        stamp("cert.pem"),
        stamp("key.pem")
    )
}

/// The page's name for this computer's own Docker. Never a machine's: names have no spaces.
pub const LOCAL_DOCKER: &str = "local Docker";

/// How long the machine's Docker gets to answer a page's request.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(15);

impl Berth {
    /// A Docker client for the machine: the one made before while the machine's URL and
    /// certificates are the same (a page reloads on every event: each new client costs a TLS
    /// handshake and a version round trip), else a new one.
    pub async fn docker(&self, name: &str) -> Result<Docker> {
        let ep = self.endpoint(name)?;
        let key = match &ep {
            Endpoint::Tls { url, .. } => client_key(url, &self.store.machine_dir(name)),
            Endpoint::Local { .. } => ep.url(),
        };
        if let Some((k, d)) = self
            .docker_clients
            .lock()
            .ok()
            .and_then(|c| c.get(name).cloned())
            && k == key
        {
            return Ok(d);
        }
        let d = ep.connect(ENGINE_TIMEOUT).await?;
        if let Ok(mut c) = self.docker_clients.lock() {
            c.insert(name.to_string(), (key, d.clone()));
        }
        Ok(d)
    }

    /// Where the machine's Docker answers (its URL and the client's TLS for it), or, for
    /// [`LOCAL_DOCKER`], this computer's Docker socket.
    fn endpoint(&self, name: &str) -> Result<Endpoint> {
        if name == LOCAL_DOCKER {
            return Ok(Endpoint::local());
        }
        let (_, d) = self.load_ready(name)?;
        let url = d.engine_url()?;
        let tls = EngineTls::from_machine_dir(&self.store.machine_dir(name))?;
        Ok(Endpoint::Tls { url, tls })
    }

    /// Where the machine's published ports answer from here: its address, and the ports its
    /// port agent forwards to 127.0.0.1.
    fn port_links(&self, name: &str) -> PortLinks {
        if name == LOCAL_DOCKER {
            return PortLinks {
                machine_host: "127.0.0.1".into(),
                forwarded: vec![],
            };
        }
        let dir = self.store.machine_dir(name);
        PortLinks {
            machine_host: self.ip(name).unwrap_or_default(),
            forwarded: crate::agent::ports::PortsFile::read(&dir)
                .ports
                .iter()
                .filter(|p| p.forwarded() && p.proto == crate::drivers::workspace::Proto::Tcp)
                .map(|p| p.port)
                .collect(),
        }
    }

    /// The machine's containers; only those with `ids` when some are given.
    pub async fn containers(&self, name: &str, ids: &[String]) -> Result<Vec<ContainerRow>> {
        let docker = self.docker(name).await?;
        containers::list(&docker, &self.port_links(name), ids).await
    }

    pub async fn container_action(
        &self,
        name: &str,
        id: &str,
        action: ContainerAction,
    ) -> Result<()> {
        containers::act(&self.docker(name).await?, id, action).await
    }

    pub async fn container_logs(&self, name: &str, id: &str, tail: usize) -> Result<Vec<LogLine>> {
        containers::logs::logs(&self.docker(name).await?, id, tail).await
    }

    /// Writes all of a container's output (both streams, time-stamped) to a new file in `dir`;
    /// its path.
    pub async fn save_container_logs(
        &self,
        name: &str,
        id: &str,
        dir: &std::path::Path,
    ) -> Result<std::path::PathBuf> {
        let lines = containers::logs::all_logs(&self.docker(name).await?, id).await?;
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let safe: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{name}-{safe}-{stamp}.log"));
        let mut text = String::new();
        for l in &lines {
            let stream = if l.stream == containers::LogStream::Stderr {
                "stderr"
            } else {
                "stdout"
            };
            text.push_str(&format!("{} {stream} {}\n", l.time, l.text));
        }
        std::fs::write(&path, text).map_err(|e| {
            crate::error::Error::io(format!("cannot write {}: {e}", path.display()))
        })?;
        Ok(path)
    }

    /// Follows a container's output (see `containers::follow_logs`).
    pub async fn follow_container_logs(
        &self,
        name: &str,
        id: &str,
        since: i64,
        sink: impl FnMut(LogLine) -> bool,
    ) -> Result<()> {
        containers::logs::follow_logs(&self.docker(name).await?, id, since, sink).await
    }

    /// Calls `changed` after each change on the machine's Docker (see
    /// `containers::follow_changes`).
    pub async fn follow_machine_changes(
        &self,
        name: &str,
        changed: impl FnMut(containers::ChangeKind) -> bool,
    ) -> Result<()> {
        containers::follow_changes(&self.docker(name).await?, changed).await
    }

    pub async fn images(&self, name: &str) -> Result<Vec<ImageRow>> {
        containers::images(&self.docker(name).await?).await
    }

    pub async fn remove_image(&self, name: &str, id: &str, force: bool) -> Result<()> {
        containers::remove_image(&self.docker(name).await?, id, force).await
    }

    pub async fn prune_images(&self, name: &str) -> Result<i64> {
        containers::prune_images(&self.docker(name).await?).await
    }

    pub async fn volumes(&self, name: &str) -> Result<Vec<VolumeRow>> {
        containers::volumes(&self.docker(name).await?).await
    }

    pub async fn remove_volume(&self, name: &str, volume: &str) -> Result<()> {
        containers::remove_volume(&self.docker(name).await?, volume).await
    }

    pub async fn prune_volumes(&self, name: &str) -> Result<i64> {
        containers::prune_volumes(&self.docker(name).await?).await
    }

    pub async fn networks(&self, name: &str) -> Result<Vec<NetworkRow>> {
        containers::networks(&self.docker(name).await?).await
    }

    /// Pulls an image onto the machine (see `containers::pull::pull`).
    pub async fn pull_image(
        &self,
        name: &str,
        reference: &str,
        progress: impl FnMut(PullProgress),
    ) -> Result<()> {
        containers::pull::pull(&self.docker(name).await?, reference, progress).await
    }

    /// Creates and starts a container; its ID.
    pub async fn run_container(&self, name: &str, req: &RunRequest) -> Result<String> {
        containers::run::run(&self.docker(name).await?, req).await
    }

    /// A container's `docker inspect` JSON, every field the daemon gave, indented.
    pub async fn inspect_container(&self, name: &str, id: &str) -> Result<String> {
        containers::check_reference(id)?;
        let json = engine::get_json(
            &self.endpoint(name)?,
            &format!("/containers/{id}/json"),
            ENGINE_TIMEOUT,
        )
        .await
        .map_err(|e| match e.kind() {
            crate::error::ErrorKind::NotFound => {
                crate::error::Error::not_found(format!("no such container \"{id}\" on the machine"))
                    .with_hint("it was removed elsewhere: refresh the list")
            }
            _ => e,
        })?;
        Ok(serde_json::to_string_pretty(&json).unwrap_or_default())
    }

    /// How many containers run on the machine (one cheap listing: the tray shows it).
    pub async fn running_containers(&self, name: &str) -> Result<u32> {
        let running =
            engine::get_json(&self.endpoint(name)?, "/containers/json", ENGINE_TIMEOUT).await?;
        Ok(running.as_array().map_or(0, |a| a.len() as u32))
    }

    /// What Docker's objects take on the machine's disk (`docker system df`).
    pub async fn disk_usage(&self, name: &str) -> Result<DiskUsage> {
        // Docker measures volumes and container layers for this: slower than a listing.
        let df = engine::get_json(&self.endpoint(name)?, "/system/df", ENGINE_TIMEOUT * 4).await?;
        Ok(containers::disk::parse(&df))
    }

    pub async fn engine_overview(&self, name: &str) -> Result<EngineOverview> {
        containers::overview(&self.docker(name).await?).await
    }
}
