//! The commands the UI invokes. Each is a thin call into `berth_core::ops`; long operations
//! report progress as `job-progress` events and their end as `job-done`.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_core::credentials::{self, Credentials, Provider, Secret};
use berth_core::drivers::{self, DriverInfo, DriverOptions, OptionValue};
use berth_core::machine::EngineOptions;
use berth_core::monitor::MachineView;
use berth_core::ops::{Berth, Cancel, CreateSpec, MachineAction, ProgressRef};
use berth_core::profiles::{self, ProfileFile};
use berth_core::progress::{Event, Progress};
use berth_core::settings::Settings;
use berth_core::shellenv::{ActiveFiles, Shell};
use berth_core::{Error, terminal};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager, State};

use crate::AppState;

/// Errors as the UI shows them: what happened, and what to do.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UiError {
    pub kind: berth_core::ErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        UiError {
            kind: e.kind(),
            message: e.message().to_string(),
            hint: e.hint().map(str::to_string),
        }
    }
}

type Res<T> = Result<T, UiError>;

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JobProgress {
    job: String,
    event: Event,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JobDone {
    pub job: String,
    pub ok: bool,
    pub message: String,
    pub hint: Option<String>,
}

/// Progress of one job, forwarded to the window.
pub struct Forward {
    pub app: AppHandle,
    pub job: String,
}

impl Forward {
    /// A progress sink that forwards a job's steps to the window as `job-progress` events.
    pub fn sink(app: &AppHandle, job: impl Into<String>) -> ProgressRef {
        Arc::new(Forward {
            app: app.clone(),
            job: job.into(),
        })
    }
}

impl Progress for Forward {
    fn emit(&self, event: Event) {
        let _ = self.app.emit(
            "job-progress",
            JobProgress {
                job: self.job.clone(),
                event,
            },
        );
    }
}

#[tauri::command]
pub async fn list_machines(state: State<'_, AppState>) -> Res<Vec<MachineView>> {
    Ok(state.monitor.first_view().await)
}

#[tauri::command]
pub async fn refresh(state: State<'_, AppState>) -> Res<Vec<MachineView>> {
    Ok(state.monitor.refresh().await)
}

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

/// A cloud account as the window lists it: never the secret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AccountView {
    pub provider: String,
    pub provider_title: String,
    pub name: String,
    pub added: String,
}

impl From<credentials::Account> for AccountView {
    fn from(a: credentials::Account) -> Self {
        let provider_title = Provider::parse(&a.provider)
            .map(|p| p.label().to_string())
            .unwrap_or_else(|_| a.provider.clone());
        AccountView {
            provider: a.provider,
            provider_title,
            name: a.name,
            added: a.added,
        }
    }
}

/// The account form: the secret travels once, from the form to the keychain.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct NewAccount {
    pub provider: String,
    pub name: String,
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<String>", optional))]
    pub token: String,
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<String>", optional))]
    pub access_key_id: String,
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<String>", optional))]
    pub secret_access_key: String,
}

fn new_account_secret(a: &NewAccount) -> berth_core::Result<(Provider, Secret)> {
    let provider = Provider::parse(&a.provider)?;
    let secret = match provider {
        Provider::DigitalOcean => Secret::Token(a.token.trim().to_string()),
        Provider::Aws => Secret::AwsKeys {
            access_key_id: a.access_key_id.trim().to_string(),
            secret_access_key: a.secret_access_key.trim().to_string(),
            session_token: None,
        },
    };
    Ok((provider, secret))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AddedAccount {
    pub account: AccountView,
    /// What the check call reached, e.g. "the DigitalOcean account sammy@example.com (...)".
    pub reaches: String,
}

#[tauri::command]
pub fn list_accounts(state: State<'_, AppState>) -> Res<Vec<AccountView>> {
    let list = Credentials::os(state.berth.store.root()).list()?;
    Ok(list.into_iter().map(AccountView::from).collect())
}

/// Checks the credential with a real API call, and only then stores it.
#[tauri::command]
pub async fn add_account(state: State<'_, AppState>, account: NewAccount) -> Res<AddedAccount> {
    let (provider, secret) = new_account_secret(&account)?;
    let creds = Credentials::os(state.berth.store.root());
    let (added, reaches) =
        berth_core::cloud::add_account(&creds, provider, account.name.trim(), &secret, true)
            .await?;
    Ok(AddedAccount {
        account: added.into(),
        reaches: reaches.unwrap_or_default(),
    })
}

#[tauri::command]
pub async fn test_account(
    state: State<'_, AppState>,
    provider: String,
    name: String,
) -> Res<String> {
    let provider = Provider::parse(&provider)?;
    let secret = Credentials::os(state.berth.store.root()).secret(provider, &name)?;
    Ok(berth_core::cloud::verify(provider, &secret).await?)
}

#[tauri::command]
pub fn remove_account(state: State<'_, AppState>, provider: String, name: String) -> Res<()> {
    let provider = Provider::parse(&provider)?;
    Ok(Credentials::os(state.berth.store.root()).remove(provider, &name)?)
}

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
