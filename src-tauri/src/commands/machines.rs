//! Commands on existing machines: list, act, remove, switch, open a terminal.

use std::sync::Arc;

use berth_core::monitor::MachineView;
use berth_core::ops::{MachineAction, ProgressRef};
use berth_core::shellenv::Shell;
use berth_core::terminal;
use tauri::{AppHandle, State};

use super::*;
use crate::AppState;

#[tauri::command]
pub async fn list_machines(state: State<'_, AppState>) -> Res<Vec<MachineView>> {
    Ok(state.monitor.first_view().await)
}

#[tauri::command]
pub async fn refresh(state: State<'_, AppState>) -> Res<Vec<MachineView>> {
    Ok(state.monitor.refresh().await)
}

/// Start, stop, restart, kill, regenerate-certs, provision.
#[tauri::command]
pub async fn machine_action(
    app: AppHandle,
    state: State<'_, AppState>,
    name: String,
    action: MachineAction,
) -> Res<()> {
    let label = serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let p = Forward::sink(&app, format!("{label}:{name}"));
    let r = state.berth.act(&name, action, &p).await;
    state.monitor.poke();
    Ok(r?)
}

#[tauri::command]
pub async fn remove_machine(
    app: AppHandle,
    state: State<'_, AppState>,
    name: String,
    force: bool,
) -> Res<()> {
    let p = Forward::sink(&app, format!("rm:{name}"));
    let r = state.berth.remove(&name, force, &p).await;
    state.monitor.poke();
    Ok(r?)
}

/// Makes a machine (or, with none, the local Docker) the active host.
#[tauri::command]
pub async fn use_machine(
    app: AppHandle,
    state: State<'_, AppState>,
    name: Option<String>,
) -> Res<()> {
    crate::switch_active(&app, &state.berth, name.as_deref()).await?;
    state.monitor.refresh().await;
    Ok(())
}

/// The command that points a shell at the machine, in the user's shell's syntax.
#[tauri::command]
pub fn env_command(name: String) -> String {
    berth_core::shellenv::eval_command(Shell::detect(), &name)
}

/// Opens a terminal with the machine's environment set, or running `berth ssh NAME`.
#[tauri::command]
pub async fn open_terminal(state: State<'_, AppState>, name: String, ssh: bool) -> Res<()> {
    let p: ProgressRef = Arc::new(berth_core::progress::Silent);
    let cli = crate::cli_path();
    let launch = state
        .berth
        .terminal_launch(&name, ssh, cli.as_deref(), &p)
        .await?;
    terminal::spawn(&launch)?;
    Ok(())
}

/// Opens a published container port (`http://localhost:PORT/`) in the user's browser.
#[tauri::command]
pub fn open_port(port: u16) -> Res<()> {
    Ok(terminal::spawn(&terminal::browser_launch(port))?)
}
