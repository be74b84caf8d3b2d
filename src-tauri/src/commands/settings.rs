//! Settings, shell profiles, the app's info and the first-paint mark.

use std::collections::BTreeMap;

use berth_core::profiles::{self, ProfileFile};
use berth_core::settings::Settings;
use berth_core::shellenv::ActiveFiles;
use serde::Serialize;
use tauri::{AppHandle, State};

use super::*;
use crate::AppState;

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> Settings {
    Settings::load(&state.berth.store)
}

#[tauri::command]
pub async fn set_settings(
    app: AppHandle,
    state: State<'_, AppState>,
    settings: Settings,
) -> Res<Settings> {
    let before = Settings::load(&state.berth.store);
    settings.save(&state.berth.store)?;
    // A new switch mode applies to the active host at once.
    if before.switch_mode != settings.switch_mode {
        let active = ActiveFiles::in_store(state.berth.store.root()).current();
        crate::switch_active(&app, &state.berth, active.as_deref()).await?;
    }
    Ok(settings)
}

fn home() -> Res<std::path::PathBuf> {
    Ok(berth_core::fsutil::home_dir()?)
}

#[tauri::command]
pub fn profiles_preview(state: State<'_, AppState>) -> Res<Vec<ProfileFile>> {
    Ok(profiles::preview(
        &home()?,
        &ActiveFiles::in_store(state.berth.store.root()).dir,
    ))
}

#[tauri::command]
pub fn profiles_install(state: State<'_, AppState>) -> Res<Vec<ProfileFile>> {
    Ok(profiles::install(
        &home()?,
        &ActiveFiles::in_store(state.berth.store.root()).dir,
    )?)
}

#[tauri::command]
pub fn profiles_uninstall(state: State<'_, AppState>) -> Res<Vec<ProfileFile>> {
    Ok(profiles::uninstall(
        &home()?,
        &ActiveFiles::in_store(state.berth.store.root()).dir,
    )?)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AppInfo {
    version: String,
    store: String,
    active_env_file: String,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    let active = ActiveFiles::in_store(state.berth.store.root());
    AppInfo {
        version: berth_core::VERSION.into(),
        store: state.berth.store.root().display().to_string(),
        active_env_file: active.path("env.sh").display().to_string(),
    }
}

/// Called by the UI after its first paint (benchmarks read the timestamp).
#[tauri::command]
pub fn frontend_ready(state: State<'_, AppState>, marks: Option<BTreeMap<String, f64>>) {
    state.ui_ready.notify_one();
    if std::env::var_os("BERTH_MEASURE").is_some() {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        // Where the time to first paint goes (epoch ms): process start, page navigation,
        // the UI script running, the machine list loaded.
        let mut line = format!("BERTH_MARKS main={}", crate::started_ms());
        for (k, v) in crate::marks() {
            line.push_str(&format!(" {k}={v}"));
        }
        for (k, v) in marks.unwrap_or_default() {
            line.push_str(&format!(" {k}={v:.0}"));
        }
        println!("{line}");
        println!("BERTH_FIRST_PAINT {ms}");
    }
}
