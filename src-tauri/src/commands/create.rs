//! The create wizard's commands: the driver catalog, the provider's lists, validation, the
//! create job (progress as events) and its cancel.

use std::collections::BTreeMap;

use berth_core::Error;
use berth_core::drivers::{self, DriverInfo, DriverOptions, OptionValue};
use berth_core::machine::EngineOptions;
use berth_core::ops::{Berth, Cancel, CreateSpec};
use berth_core::settings::Settings;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager, State};

use super::*;
use crate::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DriverCard {
    #[serde(flatten)]
    pub info: DriverInfo,
    pub ready: bool,
    /// What to install when the driver cannot be used on this computer.
    pub missing: Option<String>,
}

#[tauri::command]
pub fn driver_catalog() -> Vec<DriverCard> {
    drivers::catalog()
        .into_iter()
        .map(|info| {
            let a = drivers::availability(info.name);
            DriverCard {
                info,
                ready: a.ready,
                missing: a.missing,
            }
        })
        .collect()
}

/// The values the provider offers for a cloud option (regions, sizes with prices, images),
/// with the account the form picked; kept 15 minutes.
#[tauri::command]
pub async fn option_choices(
    state: State<'_, AppState>,
    driver: String,
    option: String,
    account: Option<String>,
    region: Option<String>,
) -> Res<Vec<berth_core::cloud::choices::Choice>> {
    Ok(berth_core::cloud::choices::for_option(
        &state.choices,
        state.berth.store.root(),
        &driver,
        &option,
        account.as_deref(),
        region.as_deref().unwrap_or(""),
    )
    .await?)
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EngineForm {
    pub labels: Vec<String>,
    pub env: Vec<String>,
    pub opts: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub storage_driver: String,
    pub install_url: String,
    pub no_live_restore: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    #[serde(default)]
    pub options: BTreeMap<String, OptionValue>,
    #[serde(default)]
    pub engine: EngineForm,
    #[serde(default)]
    pub tls_sans: Vec<String>,
    /// The wizard retries after a failed create of this name: its Error record is replaced.
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<bool>", optional))]
    pub replace_failed: bool,
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<bool>", optional))]
    pub keep_on_failure: bool,
    /// The one-click local machine: once created, it becomes the active host and a terminal
    /// opens with its environment.
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<bool>", optional))]
    pub then_use_and_open: bool,
}

/// What "Create a local Docker machine" will make (or why this computer cannot).
#[tauri::command]
pub fn quickstart_plan() -> Res<berth_core::drivers::localvm::quickstart::QuickstartPlan> {
    Ok(berth_core::drivers::localvm::quickstart::plan()?)
}

/// Whether `name` is a record left by a create this app started and that failed: the only
/// kind the wizard may replace when the user retries (never a machine that once worked).
fn replaceable(state: &AppState, name: &str) -> bool {
    let ours = state
        .failed_creates
        .lock()
        .map(|f| f.contains(name))
        .unwrap_or(false);
    ours && state
        .berth
        .store
        .load(name)
        .is_ok_and(|m| m.status.phase != berth_core::machine::Phase::Ready)
}

fn to_spec(r: CreateRequest) -> CreateSpec {
    // Empty form fields mean "not given" (the driver's default applies).
    let options = r
        .options
        .into_iter()
        .filter(|(_, v)| !matches!(v, OptionValue::Str(s) if s.trim().is_empty()))
        .collect();
    let clean = |v: Vec<String>| {
        v.into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    };
    CreateSpec {
        name: r.name.trim().to_string(),
        driver: r.driver,
        driver_options: DriverOptions(options),
        engine: EngineOptions {
            arbitrary_flags: clean(r.engine.opts),
            env: clean(r.engine.env),
            insecure_registry: clean(r.engine.insecure_registries),
            labels: clean(r.engine.labels),
            registry_mirror: clean(r.engine.registry_mirrors),
            storage_driver: r.engine.storage_driver.trim().to_string(),
            install_url: r.engine.install_url.trim().to_string(),
            tls_verify: true,
            live_restore: !r.engine.no_live_restore,
        },
        tls_sans: clean(r.tls_sans),
        keep_on_failure: r.keep_on_failure,
    }
}

/// Checks a create form without creating anything (the wizard's review step).
#[tauri::command]
pub fn validate_create(state: State<'_, AppState>, request: CreateRequest) -> Res<()> {
    let replace = request.replace_failed;
    let spec = to_spec(request);
    Berth::check_spec(&spec)?;
    if state.berth.store.exists(&spec.name) && !(replace && replaceable(&state, &spec.name)) {
        return Err(
            Error::invalid(format!("a machine named \"{}\" already exists", spec.name))
                .with_hint("choose another name")
                .into(),
        );
    }
    Ok(())
}

/// Starts creating a machine; progress and the end arrive as events for job = the name.
#[tauri::command]
pub fn create_machine(
    app: AppHandle,
    state: State<'_, AppState>,
    request: CreateRequest,
) -> Res<String> {
    let replace = request.replace_failed && replaceable(&state, request.name.trim());
    let then_use_and_open = request.then_use_and_open;
    let spec = to_spec(request);
    let job = spec.name.clone();
    let berth = state.berth.clone();
    let monitor = state.monitor.clone();
    let app2 = app.clone();
    let job2 = job.clone();
    let cancel = Cancel::default();
    let cancel2 = cancel.clone();
    let handle = tauri::async_runtime::spawn(async move {
        let progress = Forward::sink(&app2, job2.clone());
        monitor.poke();
        if replace {
            progress.step("replace", "Removing the failed attempt");
            if let Err(e) = berth.remove(&job2, true, &progress).await {
                progress.warn(format!("could not remove the failed attempt: {e}"));
            }
        }
        let result = berth.create_or_cancel(&spec, &progress, &cancel2).await;
        if let Ok(mut failed) = app2.state::<AppState>().failed_creates.lock() {
            // Only a record this attempt made (not one that already existed) may be replaced.
            match &result {
                Err(e) if e.kind() != berth_core::ErrorKind::AlreadyExists => {
                    failed.insert(job2.clone());
                }
                _ => {
                    failed.remove(&job2);
                }
            }
        }
        if then_use_and_open && result.is_ok() {
            if let Err(e) = crate::switch_active(&app2, &berth, Some(&job2)).await {
                progress.warn(format!("could not make it the active host: {e}"));
            }
            let cli = crate::cli_path();
            match berth
                .terminal_launch(&job2, false, cli.as_deref(), &progress)
                .await
            {
                Ok(l) => {
                    if let Err(e) = berth_core::terminal::spawn(&l) {
                        progress.warn(format!("could not open a terminal: {e}"));
                    }
                }
                Err(e) => progress.warn(format!("could not open a terminal: {e}")),
            }
        }
        monitor.poke();
        finish(
            &app2,
            &job2,
            result.map(|_| format!("\"{}\" is ready", job2)),
        );
    });
    if let Ok(mut jobs) = state.jobs.lock() {
        jobs.insert(job.clone(), (handle, cancel));
    }
    Ok(job)
}

/// Reports a finished job to the window and, if enabled, as a desktop notification.
pub fn finish(app: &AppHandle, job: &str, result: Result<String, Error>) {
    let done = match result {
        Ok(message) => JobDone {
            job: job.into(),
            ok: true,
            message,
            hint: None,
        },
        Err(e) => JobDone {
            job: job.into(),
            ok: false,
            message: e.message().to_string(),
            hint: e.hint().map(str::to_string),
        },
    };
    let notify = app.try_state::<AppState>().is_some_and(|state| {
        if let Ok(mut jobs) = state.jobs.lock() {
            jobs.remove(job);
        }
        Settings::load(&state.berth.store).notifications
    });
    let (title, body) = (
        if done.ok {
            "Berth: machine ready"
        } else {
            "Berth: create failed"
        },
        done.message.clone(),
    );
    let _ = app.emit("job-done", done);
    if notify {
        // The window first, and off the async runtime: showing a notification waits for the
        // desktop's notification server, which may answer late or never.
        let app = app.clone();
        std::thread::spawn(move || {
            use tauri_plugin_notification::NotificationExt;
            let _ = app.notification().builder().title(title).body(body).show();
        });
    }
}

/// Stops a create in progress. The create ends as a failed one does (core's `Cancel`): what
/// the driver made is removed, the machine is kept marked Error, so nothing is hidden, and the
/// job reports "creation was cancelled".
#[tauri::command]
pub async fn cancel_create(state: State<'_, AppState>, name: String) -> Res<()> {
    let job = state.jobs.lock().ok().and_then(|mut j| j.remove(&name));
    if let Some((handle, cancel)) = job {
        cancel.cancel();
        let _ = handle.await;
    }
    state.monitor.poke();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_become_a_create_spec() {
        let r: CreateRequest = serde_json::from_value(serde_json::json!({
            "name": " dev ", "driver": "generic",
            "options": {"generic-ip-address": "10.0.0.2", "generic-ssh-port": "", "generic-ssh-user": "root"},
            "engine": {"labels": ["a=b", " "], "noLiveRestore": true},
            "tlsSans": [""]
        }))
        .unwrap();
        let s = to_spec(r);
        assert_eq!(s.name, "dev");
        assert!(
            !s.driver_options.0.contains_key("generic-ssh-port"),
            "empty = default"
        );
        assert_eq!(s.engine.labels, vec!["a=b"]);
        assert!(!s.engine.live_restore);
        assert!(s.tls_sans.is_empty());
    }
}
