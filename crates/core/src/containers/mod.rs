//! What runs on a machine's Docker, for the app's machine page: containers (with the links
//! their published ports answer at), their logs, images, volumes and networks, and the
//! engine's overview. All of it through bollard over the machine's TLS endpoint; the front ends
//! only show it.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    KillContainerOptions, ListContainersOptions, ListImagesOptions, ListNetworksOptions,
    ListVolumesOptions, PruneImagesOptions, PruneVolumesOptions, RemoveContainerOptions,
    RemoveImageOptions, RemoveVolumeOptions, RestartContainerOptions, StartContainerOptions,
    StopContainerOptions,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::engine;
use crate::error::{Error, Result};

pub mod disk;
pub mod logs;
pub mod pull;
pub mod run;

pub use logs::{LogBatch, LogLine, LogStream};

pub use disk::DiskUsage;
pub use pull::PullProgress;
pub use run::RunRequest;

/// The label `docker compose` puts on every container of a project.
const COMPOSE_PROJECT: &str = "com.docker.compose.project";
/// Seconds a stopping container gets before it is killed (the docker CLI's default).
const STOP_GRACE: i32 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub private_port: u16,
    pub public_port: Option<u16>,
    pub proto: String,
    pub host_ip: String,
    /// Where a browser reaches it: 127.0.0.1 when Berth forwards it here, else the machine's
    /// address; None for UDP and unpublished ports.
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ContainerRow {
    pub id: String,
    pub name: String,
    pub image: String,
    /// created, running, paused, restarting, exited, removing, dead.
    pub state: String,
    /// Docker's words: "Up 5 minutes", "Exited (0) 2 hours ago".
    pub status: String,
    /// Unix seconds.
    pub created: i64,
    pub ports: Vec<ContainerPort>,
    /// The compose project it belongs to, if any.
    pub project: Option<String>,
}

/// How a machine's published ports are reached from this computer.
#[derive(Debug, Clone, Default)]
pub struct PortLinks {
    /// The machine's address (where published ports answer).
    pub machine_host: String,
    /// TCP ports Berth forwards to 127.0.0.1 (local VMs' port agent).
    pub forwarded: Vec<u16>,
}

impl PortLinks {
    fn url(&self, proto: &str, public: Option<u16>) -> Option<String> {
        let port = public.filter(|_| proto == "tcp")?;
        let host = if self.forwarded.contains(&port) || self.machine_host.is_empty() {
            "127.0.0.1".to_string()
        } else if self.machine_host.contains(':') {
            format!("[{}]", self.machine_host)
        } else {
            self.machine_host.clone()
        };
        Some(format!("http://{host}:{port}"))
    }
}

/// The containers with these IDs (all when empty), running or not, newest first: after an
/// event about a few of them, the page asks for those, not for all 500.
pub async fn list(docker: &Docker, links: &PortLinks, ids: &[String]) -> Result<Vec<ContainerRow>> {
    for id in ids {
        check_reference(id)?;
    }
    let found = containers_with_ids(docker, ids).await?;
    let mut rows: Vec<ContainerRow> = found
        .into_iter()
        .map(|c| {
            let mut ports: Vec<ContainerPort> = c
                .ports
                .unwrap_or_default()
                .into_iter()
                .map(|p| {
                    let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
                    ContainerPort {
                        url: links.url(&proto, p.public_port),
                        private_port: p.private_port,
                        public_port: p.public_port,
                        host_ip: p.ip.unwrap_or_default(),
                        proto,
                    }
                })
                .collect();
            // Docker lists a port once per address family: one row per port is enough.
            ports.sort_by_key(|p| (p.public_port, p.private_port, p.proto.clone()));
            ports.dedup_by(|a, b| {
                (a.public_port, a.private_port, &a.proto)
                    == (b.public_port, b.private_port, &b.proto)
            });
            let labels = c.labels.unwrap_or_default();
            ContainerRow {
                id: c.id.unwrap_or_default(),
                name: display_name(c.names),
                image: c.image.unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                created: c.created.unwrap_or_default(),
                ports,
                project: labels.get(COMPOSE_PROJECT).cloned(),
            }
        })
        .collect();
    rows.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    Ok(rows)
}

/// Every container, running or not, as Docker lists them.
async fn all_containers(docker: &Docker) -> Result<Vec<bollard::models::ContainerSummary>> {
    containers_with_ids(docker, &[]).await
}

async fn containers_with_ids(
    docker: &Docker,
    ids: &[String],
) -> Result<Vec<bollard::models::ContainerSummary>> {
    let filters = (!ids.is_empty()).then(|| HashMap::from([("id".to_string(), ids.to_vec())]));
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters,
            ..Default::default()
        }))
        .await
        .map_err(|e| engine::describe("the machine", &e))
}

/// A container's name as the docker CLI shows it (Docker's has a leading `/`).
fn display_name(names: Option<Vec<String>>) -> String {
    names
        .unwrap_or_default()
        .first()
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// What can be done to a container from the machine page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum ContainerAction {
    Start,
    Stop,
    Restart,
    Kill,
    Pause,
    Unpause,
    Remove,
    /// Remove, with its anonymous volumes.
    RemoveWithVolumes,
}

/// Does `action` to container `id` (an ID or a name).
pub async fn act(docker: &Docker, id: &str, action: ContainerAction) -> Result<()> {
    check_reference(id)?;
    use ContainerAction::*;
    let r = match action {
        Start => {
            docker
                .start_container(id, None::<StartContainerOptions>)
                .await
        }
        Stop => {
            docker
                .stop_container(
                    id,
                    Some(StopContainerOptions {
                        t: Some(STOP_GRACE),
                        signal: None,
                    }),
                )
                .await
        }
        Restart => {
            docker
                .restart_container(
                    id,
                    Some(RestartContainerOptions {
                        t: Some(STOP_GRACE),
                        signal: None,
                    }),
                )
                .await
        }
        Kill => {
            docker
                .kill_container(id, None::<KillContainerOptions>)
                .await
        }
        Pause => docker.pause_container(id).await,
        Unpause => docker.unpause_container(id).await,
        Remove | RemoveWithVolumes => {
            docker
                .remove_container(
                    id,
                    Some(RemoveContainerOptions {
                        v: action == RemoveWithVolumes,
                        force: true,
                        link: false,
                    }),
                )
                .await
        }
    };
    r.map_err(|e| object_error("container", id, &e))
}

/// An ID or name as Docker takes them; anything else (a path, a query) is refused before it
/// reaches a URL.
pub fn check_reference(r: &str) -> Result<()> {
    let ok = !r.is_empty()
        && r.len() <= 255
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '/' | '@'))
        && !r.contains("..");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "\"{r}\" is not a Docker object's ID or name"
        )))
    }
}

/// A Docker error about one object, said plainly (404: it is gone; 409: its state forbids it).
fn object_error(kind: &str, id: &str, e: &bollard::errors::Error) -> Error {
    use bollard::errors::Error::DockerResponseServerError as Server;
    match e {
        Server {
            status_code: 404,
            message,
        } => Error::invalid(format!(
            "no such {kind} \"{id}\" on the machine ({message})"
        ))
        .with_hint("it was removed elsewhere: refresh the list"),
        Server {
            status_code: 409 | 304,
            message,
        } => Error::invalid(format!("the {kind} \"{id}\" cannot do that now: {message}")),
        _ => engine::describe("the machine", e),
    }
}

/// What a change touched: a container's state (the page reloads its containers), or images,
/// volumes or networks (it reloads everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// The container's ID.
    Container(String),
    Other,
}

/// Calls `changed` after every change Docker reports on the machine (containers, images,
/// volumes, networks), however it was made (the docker CLI, compose, another app), until the
/// stream fails or `changed` returns false. The page reloads on it: no polling.
pub async fn follow_changes(
    docker: &Docker,
    mut changed: impl FnMut(ChangeKind) -> bool,
) -> Result<()> {
    let mut filters = HashMap::new();
    filters.insert(
        "type".to_string(),
        ["container", "image", "volume", "network"]
            .map(String::from)
            .to_vec(),
    );
    let mut events = docker.events(Some(bollard::query_parameters::EventsOptions {
        filters: Some(filters),
        ..Default::default()
    }));
    while let Some(ev) = events.next().await {
        let ev = ev.map_err(|e| engine::describe("the machine", &e))?;
        let id = ev.actor.and_then(|a| a.id).unwrap_or_default();
        let kind = match ev.typ.map(|t| t.to_string()).as_deref() {
            Some("container") if !id.is_empty() => ChangeKind::Container(id),
            _ => ChangeKind::Other,
        };
        if !changed(kind) {
            return Ok(());
        }
    }
    Err(Error::engine("Docker closed the event stream"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ImageRow {
    pub id: String,
    /// `repo:tag`s; empty for a dangling image.
    pub tags: Vec<String>,
    /// Bytes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: i64,
    pub created: i64,
    /// Containers using it (-1 when Docker did not count).
    pub containers: i64,
}

pub async fn images(docker: &Docker) -> Result<Vec<ImageRow>> {
    let found = docker
        .list_images(Some(ListImagesOptions::default()))
        .await
        .map_err(|e| engine::describe("the machine", &e))?;
    let mut rows: Vec<ImageRow> = found
        .into_iter()
        .map(|i| ImageRow {
            id: i.id,
            tags: i
                .repo_tags
                .into_iter()
                .filter(|t| t != "<none>:<none>")
                .collect(),
            size: i.size,
            created: i.created,
            containers: i.containers,
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.created));
    Ok(rows)
}

pub async fn remove_image(docker: &Docker, id: &str, force: bool) -> Result<()> {
    check_reference(id)?;
    docker
        .remove_image(
            id,
            Some(RemoveImageOptions {
                force,
                noprune: false,
                ..Default::default()
            }),
            None,
        )
        .await
        .map(drop)
        .map_err(|e| object_error("image", id, &e))
}

/// Removes dangling images; the bytes freed.
pub async fn prune_images(docker: &Docker) -> Result<i64> {
    docker
        .prune_images(Some(PruneImagesOptions::default()))
        .await
        .map(|r| r.space_reclaimed.unwrap_or(0))
        .map_err(|e| engine::describe("the machine", &e))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct VolumeRow {
    pub name: String,
    pub driver: String,
    /// The containers using it (running or not).
    pub used_by: Vec<String>,
}

pub async fn volumes(docker: &Docker) -> Result<Vec<VolumeRow>> {
    let found = docker
        .list_volumes(Some(ListVolumesOptions::default()))
        .await
        .map_err(|e| engine::describe("the machine", &e))?;
    let mut users: HashMap<String, Vec<String>> = HashMap::new();
    for c in all_containers(docker).await? {
        let name = display_name(c.names);
        for m in c.mounts.unwrap_or_default() {
            if let Some(v) = m.name {
                users.entry(v).or_default().push(name.clone());
            }
        }
    }
    let mut rows: Vec<VolumeRow> = found
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| VolumeRow {
            used_by: users.remove(&v.name).unwrap_or_default(),
            name: v.name,
            driver: v.driver,
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

pub async fn remove_volume(docker: &Docker, name: &str) -> Result<()> {
    check_reference(name)?;
    docker
        .remove_volume(name, Some(RemoveVolumeOptions { force: false }))
        .await
        .map_err(|e| object_error("volume", name, &e))
}

/// Removes volumes no container uses; the bytes freed.
pub async fn prune_volumes(docker: &Docker) -> Result<i64> {
    docker
        .prune_volumes(Some(PruneVolumesOptions::default()))
        .await
        .map(|r| r.space_reclaimed.unwrap_or(0))
        .map_err(|e| engine::describe("the machine", &e))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NetworkRow {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub scope: String,
}

pub async fn networks(docker: &Docker) -> Result<Vec<NetworkRow>> {
    let found = docker
        .list_networks(Some(ListNetworksOptions::default()))
        .await
        .map_err(|e| engine::describe("the machine", &e))?;
    let mut rows: Vec<NetworkRow> = found
        .into_iter()
        .map(|n| NetworkRow {
            id: n.id.unwrap_or_default(),
            name: n.name.unwrap_or_default(),
            driver: n.driver.unwrap_or_default(),
            scope: n.scope.unwrap_or_default(),
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// The engine, as the machine page's header shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct EngineOverview {
    pub version: String,
    pub os: String,
    pub kernel: String,
    pub cpus: i64,
    /// Bytes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub memory: i64,
    pub storage_driver: String,
    pub containers: i64,
    pub running: i64,
    pub images: i64,
    pub labels: Vec<String>,
}

pub async fn overview(docker: &Docker) -> Result<EngineOverview> {
    let i = docker
        .info()
        .await
        .map_err(|e| engine::describe("the machine", &e))?;
    Ok(EngineOverview {
        version: i.server_version.unwrap_or_default(),
        os: i.operating_system.unwrap_or_default(),
        kernel: i.kernel_version.unwrap_or_default(),
        cpus: i.ncpu.unwrap_or_default(),
        memory: i.mem_total.unwrap_or_default(),
        storage_driver: i.driver.unwrap_or_default(),
        containers: i.containers.unwrap_or_default(),
        running: i.containers_running.unwrap_or_default(),
        images: i.images.unwrap_or_default(),
        labels: i.labels.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_ids_or_names_only() {
        for ok in [
            "web",
            "3f2a9c",
            "shop-web-1",
            "berth-test/busybox:latest",
            "sha256:abc",
        ] {
            assert!(check_reference(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../../info",
            "a b",
            "x?all=1",
            "web#1",
            &"a".repeat(300),
        ] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_container_shell_is_docker_exec_with_the_id_as_one_word() {
        let c = crate::ops::env::container_shell_command("shop-web-1");
        assert_eq!(&c[..4], ["docker", "exec", "-it", "shop-web-1"]);
        assert!(c[6].contains("exec bash") && c[6].contains("exec sh"));
    }

    #[test]
    fn port_links_prefer_the_forward_on_this_computer() {
        let links = PortLinks {
            machine_host: "10.203.0.2".into(),
            forwarded: vec![8080],
        };
        assert_eq!(
            links.url("tcp", Some(8080)).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            links.url("tcp", Some(9090)).as_deref(),
            Some("http://10.203.0.2:9090")
        );
        assert_eq!(links.url("udp", Some(53)), None);
        assert_eq!(links.url("tcp", None), None);
    }
}
