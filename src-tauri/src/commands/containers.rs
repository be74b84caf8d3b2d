//! The machine page: what runs on a machine's Docker, and what can be done to it. Thin calls
//! into `berth_core::ops` (crate `containers`); the page refreshes after each action.

use berth_core::containers::{
    ChangeKind, ContainerAction, ContainerRow, DiskUsage, EngineOverview, ImageRow, LogBatch,
    NetworkRow, PullProgress, RunRequest, VolumeRow,
    logs::{LogQueue, LogTake},
};
use std::sync::Mutex;
use std::time::Duration;

use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager, State};

use super::*;
use crate::AppState;

/// Lines the log view takes in one frame at most: about 5 ms of its work, even with
/// JavaScriptCore's JIT off.
const TAKE_LINES: usize = 5000;

/// Lines a log view opens with (it can ask for more).
const DEFAULT_TAIL: usize = 1000;

#[tauri::command]
pub async fn engine_overview(state: State<'_, AppState>, name: String) -> Res<EngineOverview> {
    Ok(state.berth.engine_overview(&name).await?)
}

/// Where the machine runs and its logs (create, console, hypervisor, agent).
#[tauri::command]
pub async fn machine_details(
    state: State<'_, AppState>,
    name: String,
) -> Res<berth_core::ops::details::MachineDetails> {
    Ok(state.berth.machine_details(&name)?)
}

#[tauri::command]
pub async fn list_containers(
    state: State<'_, AppState>,
    name: String,
    ids: Option<Vec<String>>,
) -> Res<Vec<ContainerRow>> {
    Ok(state
        .berth
        .containers(&name, &ids.unwrap_or_default())
        .await?)
}

/// One action on several containers (the page's multi-select): each is tried; the first error
/// is reported after all were tried.
#[tauri::command]
pub async fn container_action(
    state: State<'_, AppState>,
    name: String,
    ids: Vec<String>,
    action: ContainerAction,
) -> Res<()> {
    let mut first_error = None;
    for id in &ids {
        if let Err(e) = state.berth.container_action(&name, id, action).await {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

#[tauri::command]
pub async fn container_logs(
    state: State<'_, AppState>,
    name: String,
    id: String,
    tail: Option<usize>,
) -> Res<LogBatch> {
    let lines = state
        .berth
        .container_logs(&name, &id, tail.unwrap_or(DEFAULT_TAIL))
        .await?;
    Ok(LogBatch::of(lines))
}

/// Opens the user's terminal with a shell in the container (`docker exec -it`).
#[tauri::command]
pub async fn open_container_shell(state: State<'_, AppState>, name: String, id: String) -> Res<()> {
    let p: berth_core::ops::ProgressRef = std::sync::Arc::new(berth_core::progress::Silent);
    let launch = state.berth.container_shell_launch(&name, &id, &p).await?;
    berth_core::terminal::spawn(&launch)?;
    Ok(())
}

/// Writes all of a container's output to a file in the user's Downloads folder; its path.
#[tauri::command]
pub async fn save_container_logs(
    state: State<'_, AppState>,
    name: String,
    id: String,
) -> Res<String> {
    let dir = berth_core::fsutil::downloads_dir()?;
    let path = state.berth.save_container_logs(&name, &id, &dir).await?;
    Ok(path.display().to_string())
}

/// `docker inspect` of a container, indented.
#[tauri::command]
pub async fn inspect_container(
    state: State<'_, AppState>,
    name: String,
    id: String,
) -> Res<String> {
    Ok(state.berth.inspect_container(&name, &id).await?)
}

#[tauri::command]
pub async fn disk_usage(state: State<'_, AppState>, name: String) -> Res<DiskUsage> {
    Ok(state.berth.disk_usage(&name).await?)
}

/// A step of a pull, for the images tab's progress.
#[derive(Clone, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PullStep {
    pub name: String,
    pub reference: String,
    pub step: PullProgress,
}

/// Pulls an image, emitting `pull-progress` as layers move (a layer's byte counts at most
/// every 100 ms: Docker reports every few hundred kilobytes).
#[tauri::command]
pub async fn pull_image(
    app: AppHandle,
    state: State<'_, AppState>,
    name: String,
    reference: String,
) -> Res<()> {
    let mut last: std::collections::HashMap<String, (String, std::time::Instant)> =
        Default::default();
    let emit = |step: PullProgress| {
        let now = std::time::Instant::now();
        if let Some((status, at)) = last.get(&step.layer)
            && !step.layer.is_empty()
            && *status == step.status
            && now.duration_since(*at) < Duration::from_millis(100)
        {
            return;
        }
        last.insert(step.layer.clone(), (step.status.clone(), now));
        let _ = app.emit(
            "pull-progress",
            PullStep {
                name: name.clone(),
                reference: reference.clone(),
                step,
            },
        );
    };
    Ok(state.berth.pull_image(&name, &reference, emit).await?)
}

/// Creates and starts a container from an image; its ID.
#[tauri::command]
pub async fn run_container(
    state: State<'_, AppState>,
    name: String,
    request: RunRequest,
) -> Res<String> {
    Ok(state.berth.run_container(&name, &request).await?)
}

#[tauri::command]
pub async fn list_images(state: State<'_, AppState>, name: String) -> Res<Vec<ImageRow>> {
    Ok(state.berth.images(&name).await?)
}

#[tauri::command]
pub async fn remove_image(
    state: State<'_, AppState>,
    name: String,
    id: String,
    force: bool,
) -> Res<()> {
    Ok(state.berth.remove_image(&name, &id, force).await?)
}

#[tauri::command]
pub async fn prune_images(state: State<'_, AppState>, name: String) -> Res<i64> {
    Ok(state.berth.prune_images(&name).await?)
}

#[tauri::command]
pub async fn list_volumes(state: State<'_, AppState>, name: String) -> Res<Vec<VolumeRow>> {
    Ok(state.berth.volumes(&name).await?)
}

#[tauri::command]
pub async fn remove_volume(state: State<'_, AppState>, name: String, volume: String) -> Res<()> {
    Ok(state.berth.remove_volume(&name, &volume).await?)
}

#[tauri::command]
pub async fn prune_volumes(state: State<'_, AppState>, name: String) -> Res<i64> {
    Ok(state.berth.prune_volumes(&name).await?)
}

#[tauri::command]
pub async fn list_networks(state: State<'_, AppState>, name: String) -> Res<Vec<NetworkRow>> {
    Ok(state.berth.networks(&name).await?)
}

/// The background tasks of the open machine page: one following the machine's changes, one
/// following a container's output. Opening another page (or none) replaces them.
#[derive(Default)]
pub struct PageWatch {
    changes: Mutex<Option<JoinHandle<()>>>,
    logs: Mutex<Option<JoinHandle<()>>>,
    /// The followed container's ID and its lines not yet taken by the view.
    queue: Mutex<Option<(String, LogQueue)>>,
}

fn replace(slot: &Mutex<Option<JoinHandle<()>>>, next: Option<JoinHandle<()>>) {
    if let Ok(mut s) = slot.lock() {
        if let Some(old) = s.take() {
            old.abort();
        }
        *s = next;
    }
}

/// A change on a machine's Docker, for the page to reload.
#[derive(Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DockerChanged {
    pub name: String,
    /// Set when the machine's Docker stopped answering (the page says so; it is tried again).
    pub error: Option<String>,
    /// Set when only these containers changed: the page reloads them, not everything.
    pub containers: Option<Vec<String>>,
}

/// Follows `name`'s Docker events and emits `docker-changed` for each burst of them (the
/// events of 20 ms become one: `docker run` is create, attach and start within milliseconds,
/// and the page must see the last of them); None stops following.
#[tauri::command]
pub fn watch_machine(app: AppHandle, state: State<'_, AppState>, name: Option<String>) {
    let task = name.map(|name| {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let state = app.state::<AppState>();
            let emit = |error: Option<String>, containers: Option<Vec<String>>| {
                let _ = app.emit(
                    "docker-changed",
                    DockerChanged {
                        name: name.clone(),
                        error,
                        containers,
                    },
                );
            };
            // Docker stopped answering: until it does again, the page shows why.
            let mut down = false;
            loop {
                if down {
                    match state.berth.engine_overview(&name).await {
                        // Back: the page reloads everything (and drops its notice).
                        Ok(_) => emit(None, None),
                        Err(e) => {
                            emit(Some(e.to_string()), None);
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            continue;
                        }
                    }
                }
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let name_for_follow = name.clone();
                let bursts = async {
                    while let Some(first) = rx.recv().await {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let mut ids: Option<Vec<String>> = Some(vec![]);
                        for k in
                            std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok()))
                        {
                            match (k, ids.as_mut()) {
                                (ChangeKind::Container(id), Some(v)) if !v.contains(&id) => {
                                    v.push(id)
                                }
                                (ChangeKind::Container(_), _) => {}
                                (ChangeKind::Other, _) => ids = None,
                            }
                        }
                        // The list's and the tray's container counts follow too.
                        state.monitor.poke();
                        emit(None, ids);
                    }
                };
                // The burst task ends when the follower, which owns the sender, is done.
                let berth = &state.berth;
                let follow = async move {
                    berth
                        .follow_machine_changes(&name_for_follow, move |kind| tx.send(kind).is_ok())
                        .await
                };
                let (r, ()) = tokio::join!(follow, bursts);
                // Ended cleanly (Docker shutting down) or not, the page reloads and so learns
                // what is left; following again finds out whether Docker is still there.
                down = r.is_err();
                emit(r.err().map(|e| e.to_string()), None);
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    });
    replace(&state.page_watch.changes, task);
}

/// Follows container `id`'s output from now on into a queue, and emits `log-ready` (the ID)
/// when lines wait there; the view takes them with `take_log_lines`, a frame's worth at a time,
/// so that a container flooding its output never floods the window. None stops following.
#[tauri::command]
pub fn follow_logs(app: AppHandle, state: State<'_, AppState>, name: String, id: Option<String>) {
    if let Ok(mut q) = state.page_watch.queue.lock() {
        *q = id.clone().map(|id| (id, LogQueue::default()));
    }
    let task = id.map(|id| {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let state = app.state::<AppState>();
            let queued = |line| {
                let Ok(mut q) = state.page_watch.queue.lock() else {
                    return false;
                };
                match q.as_mut() {
                    Some((followed, q)) if *followed == id => {
                        if q.push(line) {
                            let _ = app.emit("log-ready", &id);
                        }
                        true
                    }
                    // The view follows another container now.
                    _ => false,
                }
            };
            let _ = state
                .berth
                .follow_container_logs(&name, &id, 0, queued)
                .await;
        })
    });
    replace(&state.page_watch.logs, task);
}

/// The followed container's lines that wait, a frame's worth at most (`more` says whether
/// others still wait); nothing when `id` is no longer followed.
#[tauri::command]
pub fn take_log_lines(state: State<'_, AppState>, id: String) -> LogTake {
    match state.page_watch.queue.lock().ok().as_deref_mut() {
        Some(Some((followed, q))) if *followed == id => q.take(TAKE_LINES),
        _ => LogTake::default(),
    }
}
