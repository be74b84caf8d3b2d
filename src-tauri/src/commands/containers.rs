//! The machine page: what runs on a machine's Docker, and what can be done to it. Thin calls
//! into `berth_core::ops` (crate `containers`); the page refreshes after each action.

use berth_core::containers::{
    ContainerAction, ContainerRow, EngineOverview, ImageRow, LogLine, NetworkRow, VolumeRow,
};
use tauri::State;

use super::*;
use crate::AppState;

/// Lines a log view opens with (it can ask for more).
const DEFAULT_TAIL: usize = 1000;

#[tauri::command]
pub async fn engine_overview(state: State<'_, AppState>, name: String) -> Res<EngineOverview> {
    Ok(state.berth.engine_overview(&name).await?)
}

#[tauri::command]
pub async fn list_containers(state: State<'_, AppState>, name: String) -> Res<Vec<ContainerRow>> {
    Ok(state.berth.containers(&name).await?)
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
) -> Res<Vec<LogLine>> {
    Ok(state
        .berth
        .container_logs(&name, &id, tail.unwrap_or(DEFAULT_TAIL))
        .await?)
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
