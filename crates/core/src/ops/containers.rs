//! The machine page's operations: what runs on a machine's Docker (`crate::containers`),
//! reached through the machine's TLS endpoint. One connection per call: the page asks rarely
//! (on open and after events), and a machine may have moved in between.

use std::time::Duration;

use bollard::Docker;

use super::Berth;
use crate::containers::{
    self, ContainerAction, ContainerRow, EngineOverview, ImageRow, LogLine, NetworkRow, PortLinks,
    VolumeRow,
};
use crate::engine::{self, EngineTls};
use crate::error::Result;

/// How long the machine's Docker gets to answer a page's request.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(15);

impl Berth {
    /// A Docker client for the machine.
    pub async fn docker(&self, name: &str) -> Result<Docker> {
        let (_, d) = self.load_ready(name)?;
        let url = d.engine_url()?;
        let tls = EngineTls::from_machine_dir(&self.store.machine_dir(name))?;
        engine::connect(&url, &tls, ENGINE_TIMEOUT).await
    }

    /// Where the machine's published ports answer from here: its address, and the ports its
    /// port agent forwards to 127.0.0.1.
    fn port_links(&self, name: &str) -> PortLinks {
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

    pub async fn containers(&self, name: &str) -> Result<Vec<ContainerRow>> {
        let docker = self.docker(name).await?;
        containers::list(&docker, &self.port_links(name)).await
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
        containers::logs(&self.docker(name).await?, id, tail).await
    }

    /// Follows a container's output (see `containers::follow_logs`).
    pub async fn follow_container_logs(
        &self,
        name: &str,
        id: &str,
        since: i64,
        sink: impl FnMut(LogLine) -> bool,
    ) -> Result<()> {
        containers::follow_logs(&self.docker(name).await?, id, since, sink).await
    }

    /// Calls `changed` after each change on the machine's Docker (see
    /// `containers::follow_changes`).
    pub async fn follow_machine_changes(
        &self,
        name: &str,
        changed: impl FnMut() -> bool,
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

    pub async fn engine_overview(&self, name: &str) -> Result<EngineOverview> {
        containers::overview(&self.docker(name).await?).await
    }
}
