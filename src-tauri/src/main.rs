//! Berth's desktop app: a Tauri shell over `berth_core`. This file wires the window, the tray
//! and the live machine monitor; `commands` holds what the UI calls, `tray` the menu model.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// Every command the window may invoke, once: feeds tauri's handler here and the TypeScript
/// bindings' command table (ipc.rs checks that table lists exactly these).
macro_rules! commands {
    ($then:ident) => {
        $then!(
            machines::list_machines,
            machines::refresh,
            create::driver_catalog,
            create::option_choices,
            create::validate_create,
            create::create_machine,
            create::cancel_create,
            create::quickstart_plan,
            machines::machine_action,
            machines::remove_machine,
            machines::use_machine,
            machines::env_command,
            machines::open_terminal,
            machines::open_port,
            settings::get_settings,
            settings::set_settings,
            settings::profiles_preview,
            settings::profiles_install,
            settings::profiles_uninstall,
            settings::app_info,
            settings::frontend_ready,
            accounts::list_accounts,
            accounts::add_account,
            accounts::test_account,
            accounts::remove_account,
            containers::engine_overview,
            containers::machine_details,
            containers::list_containers,
            containers::container_action,
            containers::container_logs,
            containers::open_container_shell,
            containers::save_container_logs,
            containers::inspect_container,
            containers::disk_usage,
            containers::pull_image,
            containers::run_container,
            containers::list_images,
            containers::remove_image,
            containers::prune_images,
            containers::list_volumes,
            containers::remove_volume,
            containers::prune_volumes,
            containers::list_networks,
            containers::watch_machine,
            containers::follow_logs,
            containers::take_log_lines
        )
    };
}

macro_rules! handler {
    ($($m:ident::$c:ident),*) => {
        tauri::generate_handler![$(commands::$m::$c),*]
    };
}

mod commands;
#[cfg(test)]
mod ipc;
mod tray;
#[cfg(target_os = "linux")]
mod webkit_env;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::monitor::{MachineView, Monitor};
use berth_core::ops::Berth;
use berth_core::{Error, Store};
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, Wry};

pub struct AppState {
    pub berth: Berth,
    /// What follows the open machine page's Docker (its changes, a container's logs).
    pub page_watch: commands::containers::PageWatch,
    pub monitor: Arc<Monitor>,
    /// Creates in progress, by machine name (so they can be cancelled).
    pub jobs: Mutex<
        HashMap<
            String,
            (
                tauri::async_runtime::JoinHandle<()>,
                berth_core::ops::Cancel,
            ),
        >,
    >,
    /// Names whose create, started here, failed and left an Error record (see `replaceable`).
    pub failed_creates: Mutex<HashSet<String>>,
    watcher: Mutex<Option<berth_core::monitor::StoreWatcher>>,
    /// Regions, sizes and images the clouds offer, per account (the create form's lists).
    pub choices: berth_core::cloud::choices::ChoiceCache,
    /// Notified when the window has drawn its first list.
    pub ui_ready: Arc<tokio::sync::Notify>,
}

/// The `berth` CLI: next to this executable (installed together), else on PATH.
pub fn cli_path() -> Option<PathBuf> {
    let exe = if cfg!(windows) { "berth.exe" } else { "berth" };
    let beside = std::env::current_exe().ok()?.parent()?.join(exe);
    if beside.is_file() {
        return Some(beside);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(exe))
        .find(|p| p.is_file())
}

/// Switches the active host (env file / docker context, per the settings).
pub async fn switch_active(
    app: &AppHandle,
    berth: &Berth,
    name: Option<&str>,
) -> Result<(), Error> {
    let p = commands::Forward::sink(app, "use");
    berth.use_machine(name, &p).await
}

fn build_menu(app: &AppHandle, views: &[MachineView]) -> tauri::Result<Menu<Wry>> {
    let menu = Menu::new(app)?;
    for entry in tray::model(views) {
        match entry {
            tray::Entry::Machine {
                id,
                label,
                checked,
                enabled,
            } => {
                menu.append(&CheckMenuItem::with_id(
                    app,
                    id,
                    label,
                    enabled,
                    checked,
                    None::<&str>,
                )?)?;
            }
            tray::Entry::Submenu { label, items } => {
                let sub = Submenu::new(app, label, true)?;
                for (id, text, enabled) in items {
                    sub.append(&MenuItem::with_id(app, id, text, enabled, None::<&str>)?)?;
                }
                menu.append(&sub)?;
            }
            tray::Entry::Item {
                id,
                label,
                checked: Some(c),
            } => {
                menu.append(&CheckMenuItem::with_id(
                    app,
                    id,
                    label,
                    true,
                    c,
                    None::<&str>,
                )?)?;
            }
            tray::Entry::Item {
                id,
                label,
                checked: None,
            } => {
                menu.append(&MenuItem::with_id(app, id, label, true, None::<&str>)?)?;
            }
            tray::Entry::Separator => {
                menu.append(&PredefinedMenuItem::separator(app)?)?;
            }
        }
    }
    Ok(menu)
}

fn show_window(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

fn on_tray_menu(app: &AppHandle, id: &str) {
    let Some(action) = tray::parse(id) else {
        return;
    };
    let app = app.clone();
    match action {
        tray::Action::Open => show_window(&app),
        tray::Action::OpenMachine(name) => {
            show_window(&app);
            let _ = app.emit("open-machine", name);
        }
        tray::Action::Quit => app.exit(0),
        action => {
            tauri::async_runtime::spawn(async move {
                let state = app.state::<AppState>();
                let p = commands::Forward::sink(&app, "tray");
                let result = match &action {
                    tray::Action::Use(n) => switch_active(&app, &state.berth, Some(n)).await,
                    tray::Action::UseLocal => switch_active(&app, &state.berth, None).await,
                    tray::Action::Start(n) => state.berth.start(n, &p).await,
                    tray::Action::Stop(n) => state.berth.stop(n, &p).await,
                    tray::Action::Open | tray::Action::OpenMachine(_) | tray::Action::Quit => {
                        Ok(())
                    }
                };
                if let Err(e) = result {
                    let _ = app.emit(
                        "job-done",
                        commands::JobDone {
                            job: "tray".into(),
                            ok: false,
                            message: e.message().to_string(),
                            hint: e.hint().map(str::to_string),
                        },
                    );
                }
                // The menu's own check marks toggled on click: rebuild from the truth.
                let views = state.monitor.refresh().await;
                refresh_tray(&app, &views);
            });
        }
    }
}

fn refresh_tray(app: &AppHandle, views: &[MachineView]) {
    if let (Some(tray), Ok(menu)) = (app.tray_by_id("main"), build_menu(app, views)) {
        let _ = tray.set_menu(Some(menu));
        let active = views
            .iter()
            .find(|v| v.active)
            .map(|v| v.name.as_str())
            .unwrap_or("local Docker");
        let _ = tray.set_tooltip(Some(format!("Berth: {active}")));
    }
}

/// What the page needs for its first paint, handed to it before its script runs, so the first
/// paint waits for no IPC round trip.
#[derive(serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Boot {
    machines: Vec<MachineView>,
    settings: berth_core::settings::Settings,
}

fn main_window(app: &tauri::App, monitor: &Monitor) -> tauri::Result<tauri::WebviewWindow> {
    let boot = Boot {
        machines: tauri::async_runtime::block_on(monitor.first_view()),
        settings: berth_core::settings::Settings::load(&app.state::<AppState>().berth.store),
    };
    let json = serde_json::to_string(&boot).unwrap_or_else(|_| "null".into());
    tauri::WebviewWindowBuilder::new(app, "main", tauri::WebviewUrl::default())
        .title("Berth")
        .inner_size(1080.0, 700.0)
        .min_inner_size(760.0, 480.0)
        .initialization_script(format!("window.__BERTH_BOOT__ = {json};"))
        .build()
}

static STARTED_MS: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
static MARKS: Mutex<Vec<(&'static str, u128)>> = Mutex::new(Vec::new());

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Notes when a startup step ended (epoch ms), for BERTH_MARKS.
pub fn mark(what: &'static str) {
    if let Ok(mut m) = MARKS.lock() {
        m.push((what, now_ms()));
    }
}

pub fn marks() -> Vec<(&'static str, u128)> {
    MARKS.lock().map(|m| m.clone()).unwrap_or_default()
}

/// When main() began, in epoch ms (for the first-paint measurement).
pub fn started_ms() -> u128 {
    STARTED_MS.get().copied().unwrap_or(0)
}

fn main() {
    // Started by `create`/`start` as a machine's port agent: no window, no tray.
    if let Some(code) = berth_core::agent::main_if_agent() {
        std::process::exit(code);
    }
    let _ = STARTED_MS.set(now_ms());
    // The app shows and switches the host chosen with Berth (the active env file), not whatever
    // DOCKER_HOST the shell that launched it had; terminals it opens source the active file.
    // (A `unix://` one still names this computer's Docker for the local Docker page.)
    berth_core::engine::keep_launch_docker_host();
    for v in [
        "DOCKER_HOST",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_MACHINE_NAME",
    ] {
        // SAFETY: first thing in main, before any other thread exists.
        unsafe { std::env::remove_var(v) };
    }
    #[cfg(target_os = "linux")]
    webkit_env::tune();
    let store = match Store::locate(None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Berth cannot open its store: {e}");
            std::process::exit(1);
        }
    };
    let berth = Berth::new(store);
    let monitor = Monitor::new(berth.clone());
    let state = AppState {
        berth,
        monitor: monitor.clone(),
        jobs: Mutex::new(HashMap::new()),
        failed_creates: Mutex::new(HashSet::new()),
        choices: Default::default(),
        page_watch: Default::default(),
        watcher: Mutex::new(None),
        ui_ready: Arc::new(tokio::sync::Notify::new()),
    };

    mark("store");
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .manage(state)
        .setup(move |app| {
            mark("setup");
            let handle = app.handle().clone();
            let window = main_window(app, &monitor)?;
            mark("window");
            #[cfg(target_os = "linux")]
            {
                // A handful of local pages: no need for a browser's memory caches.
                let _ = window.with_webview(|wv| {
                    use webkit2gtk::{CacheModel, WebContextExt, WebViewExt};
                    if let Some(ctx) = wv.inner().web_context() {
                        ctx.set_cache_model(CacheModel::DocumentViewer);
                    }
                });
            }
            #[cfg(not(target_os = "linux"))]
            let _ = window;
            let menu = build_menu(&handle, &[])?;
            let mut tray = TrayIconBuilder::with_id("main")
                .menu(&menu)
                .tooltip("Berth")
                .show_menu_on_left_click(true);
            if let Some(icon) = app.default_window_icon().cloned() {
                tray = tray.icon(icon);
            }
            tray.on_menu_event(|app, event| on_tray_menu(app, event.id().as_ref()))
                .build(app)?;
            mark("tray");

            let h = handle.clone();
            monitor.subscribe(move |views| {
                let _ = h.emit("machines", views.to_vec());
                refresh_tray(&h, views);
            });
            match monitor.watch_store() {
                Ok(w) => {
                    if let Ok(mut slot) = app.state::<AppState>().watcher.lock() {
                        *slot = Some(w);
                    }
                }
                Err(e) => {
                    eprintln!("Berth: {e}; changes made outside the app show up every few seconds")
                }
            }
            // The first probe waits for the window's first paint (or a moment, if the window
            // is never shown): on two cores it would otherwise compete with the page's start.
            let ui_ready = app.state::<AppState>().ui_ready.clone();
            let m = monitor.clone();
            tauri::async_runtime::spawn(async move {
                let _ =
                    tokio::time::timeout(Duration::from_millis(1500), ui_ready.notified()).await;
                m.run().await
            });
            mark("setup_done");
            Ok(())
        })
        .on_page_load(|_, payload| match payload.event() {
            tauri::webview::PageLoadEvent::Started => mark("load_start"),
            tauri::webview::PageLoadEvent::Finished => mark("load_done"),
        })
        .on_window_event(|window, event| {
            // Closing the window keeps Berth in the tray; Quit is in the tray menu.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event
                && window.app_handle().tray_by_id("main").is_some()
                && std::env::var_os("BERTH_EXIT_ON_CLOSE").is_none()
            {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .invoke_handler(commands!(handler))
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("Berth failed to start: {e}");
        std::process::exit(1);
    }
}
