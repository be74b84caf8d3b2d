//! Live machine states for the desktop app. The store is watched (inotify, FSEvents, ...), so a
//! machine created, changed or removed by the CLI shows up at once; states are re-probed when
//! asked (after an action), when the store changes, and on a slow timer: no per-machine polling
//! from the UI. Listeners get the whole snapshot, only when it changed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ops::Berth;
use crate::ops::list::{ListItem, ListOptions};

/// Keeps watching the store while alive.
pub type StoreWatcher = notify::RecommendedWatcher;

/// How often states are re-checked when nothing else asks for it.
pub const PERIOD: Duration = Duration::from_secs(20);
/// Store events closer together than this are handled once.
const DEBOUNCE: Duration = Duration::from_millis(120);

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MachineView {
    pub name: String,
    pub driver: String,
    pub state: ViewState,
    pub url: String,
    pub docker_version: String,
    pub error: String,
    pub hint: String,
    pub active: bool,
    /// What the machine's driver can do: which actions the window and the tray offer.
    pub features: crate::drivers::Features,
    /// A running local VM's published ports (with why one is not forwarded) and shared
    /// folders (with why one is not mounted).
    pub ports: Vec<crate::agent::ports::PortStatus>,
    pub shares: Vec<crate::drivers::workspace::ShareStatus>,
    /// Containers running on a running machine (for the tray and the list); None when the
    /// machine's Docker was not asked or did not answer.
    pub running_containers: Option<u32>,
}

impl From<&ListItem> for MachineView {
    fn from(i: &ListItem) -> Self {
        MachineView {
            name: i.name.clone(),
            driver: i.driver_name.clone(),
            state: ViewState::parse(&i.state),
            url: i.url.clone(),
            docker_version: i.docker_version.trim_start_matches('v').to_string(),
            error: i.error.clone(),
            hint: i.hint.clone(),
            active: i.active_host,
            features: crate::drivers::registry::features(&i.driver_name),
            ports: vec![],
            shares: vec![],
            running_containers: None,
        }
    }
}

/// A machine's state as the window and the tray show it: docker-machine's states, and
/// Creating (a create holds it) and Checking (listed before its first probe answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ViewState {
    #[default]
    #[serde(rename = "")]
    Unknown,
    Running,
    Paused,
    Saved,
    Stopped,
    Stopping,
    Starting,
    Error,
    Timeout,
    #[serde(rename = "Not Found")]
    NotFound,
    Creating,
    Checking,
}

impl ViewState {
    const ALL: [ViewState; 12] = [
        ViewState::Unknown,
        ViewState::Running,
        ViewState::Paused,
        ViewState::Saved,
        ViewState::Stopped,
        ViewState::Stopping,
        ViewState::Starting,
        ViewState::Error,
        ViewState::Timeout,
        ViewState::NotFound,
        ViewState::Creating,
        ViewState::Checking,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ViewState::Unknown => "",
            ViewState::Running => "Running",
            ViewState::Paused => "Paused",
            ViewState::Saved => "Saved",
            ViewState::Stopped => "Stopped",
            ViewState::Stopping => "Stopping",
            ViewState::Starting => "Starting",
            ViewState::Error => "Error",
            ViewState::Timeout => "Timeout",
            ViewState::NotFound => "Not Found",
            ViewState::Creating => "Creating",
            ViewState::Checking => CHECKING,
        }
    }

    /// The state `ls` reported, by its name (an unknown name is Unknown).
    pub fn parse(s: &str) -> ViewState {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .unwrap_or_default()
    }
}

type Listener = Box<dyn Fn(&[MachineView]) + Send + Sync>;

pub struct Monitor {
    berth: Berth,
    snapshot: Mutex<Vec<MachineView>>,
    listeners: Mutex<Vec<Listener>>,
    wake: tokio::sync::Notify,
    /// Whether a probe has finished, so the snapshot says real states.
    probed: AtomicBool,
}

/// The state shown for a machine before its first probe has answered.
pub const CHECKING: &str = "Checking";

impl Monitor {
    pub fn new(berth: Berth) -> Arc<Monitor> {
        Arc::new(Monitor {
            berth,
            snapshot: Mutex::new(vec![]),
            listeners: Mutex::new(vec![]),
            wake: tokio::sync::Notify::new(),
            probed: AtomicBool::new(false),
        })
    }

    pub fn subscribe(&self, f: impl Fn(&[MachineView]) + Send + Sync + 'static) {
        if let Ok(mut l) = self.listeners.lock() {
            l.push(Box::new(f));
        }
    }

    pub fn snapshot(&self) -> Vec<MachineView> {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// What to show right away: the probed snapshot once there is one, else the machines as
    /// stored (state `Checking`) without touching the network, so a window never waits on a
    /// slow host. The probe's result follows to the listeners.
    pub async fn first_view(&self) -> Vec<MachineView> {
        if self.probed.load(Ordering::Acquire) {
            return self.snapshot();
        }
        let opts = ListOptions {
            probe: false,
            ..Default::default()
        };
        let listed = self.berth.list(&opts).await;
        // A probe that finished meanwhile is newer than the stored records.
        if self.probed.load(Ordering::Acquire) {
            return self.snapshot();
        }
        match listed {
            Ok(items) => items
                .iter()
                .map(|i| {
                    let mut v = MachineView::from(i);
                    if v.state == ViewState::Unknown {
                        v.state = ViewState::Checking;
                    }
                    v
                })
                .collect(),
            Err(_) => self.refresh().await,
        }
    }

    /// Asks each running machine's Docker how many containers run (all at once, briefly: a
    /// slow machine shows no count rather than holding the list up).
    async fn count_containers(&self, views: &mut [MachineView]) {
        let counts = futures_util::future::join_all(views.iter().map(|v| async {
            if v.state != ViewState::Running {
                return None;
            }
            tokio::time::timeout(
                Duration::from_secs(2),
                self.berth.running_containers(&v.name),
            )
            .await
            .ok()?
            .ok()
        }))
        .await;
        for (v, n) in views.iter_mut().zip(counts) {
            v.running_containers = n;
        }
    }

    /// A machine's view with, for a running local VM, what its port agent and its last boot
    /// wrote (files in its folder: no process or network asked).
    fn view_with_workspace(&self, i: &ListItem) -> MachineView {
        let mut v = MachineView::from(i);
        let f = v.features;
        if v.state == ViewState::Running && (f.port_forwarding || f.shared_folders) {
            let w = crate::ops::workspace::Workspace::read_files(
                &self.berth.store.machine_dir(&v.name),
            );
            v.ports = w.ports;
            v.shares = w.shares;
        }
        v
    }

    /// Asks for a fresh look at every machine (after an action, or a store change).
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Probes every machine now and publishes the result if it changed.
    pub async fn refresh(&self) -> Vec<MachineView> {
        let opts = ListOptions {
            timeout: Duration::from_secs(3),
            ..Default::default()
        };
        let views: Vec<MachineView> = match self.berth.list(&opts).await {
            Ok(items) => {
                let mut views: Vec<MachineView> =
                    items.iter().map(|i| self.view_with_workspace(i)).collect();
                self.count_containers(&mut views).await;
                views
            }
            Err(e) => vec![MachineView {
                name: "(store)".into(),
                state: ViewState::Error,
                error: e.to_string(),
                ..Default::default()
            }],
        };
        let changed = match self.snapshot.lock() {
            Ok(mut s) if *s != views => {
                *s = views.clone();
                true
            }
            _ => false,
        };
        // After the snapshot is in place: first_view may return it from now on.
        self.probed.store(true, Ordering::Release);
        if changed && let Ok(listeners) = self.listeners.lock() {
            for l in listeners.iter() {
                l(&views);
            }
        }
        views
    }

    /// The loop: refresh when poked (debounced) or every PERIOD.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.refresh().await;
            let _ = tokio::time::timeout(PERIOD, self.wake.notified()).await;
            tokio::time::sleep(DEBOUNCE).await;
        }
    }

    /// Watches the store; any change pokes the monitor. Keep the returned watcher alive.
    pub fn watch_store(self: &Arc<Self>) -> Result<StoreWatcher> {
        use notify::Watcher;
        self.berth.store.init()?;
        let me = Arc::downgrade(self);
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            // Lock files change on every CLI command without changing any machine; VM logs
            // (console, QEMU, port agent) change all the time.
            let relevant = ev.paths.iter().any(|p| {
                !p.components().any(|c| c.as_os_str() == ".locks")
                    && !p
                        .extension()
                        .is_some_and(|e| e == "log" || e == "sock" || e == "pid")
            });
            if relevant && let Some(m) = me.upgrade() {
                m.poke();
            }
        })
        .map_err(|e| Error::io(format!("cannot watch the store: {e}")))?;
        watcher
            .watch(self.berth.store.root(), notify::RecursiveMode::Recursive)
            .map_err(|e| {
                Error::io(format!(
                    "cannot watch {}: {e}",
                    self.berth.store.root().display()
                ))
            })?;
        Ok(watcher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::{DriverOptions, OptionValue};
    use crate::ops::CreateSpec;
    use crate::ops::ProgressRef;
    use crate::progress::Silent;

    #[tokio::test]
    async fn the_first_view_shows_stored_machines_before_any_probe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let berth = Berth::new(crate::Store::at(dir.path()));
        let mut driver_options = DriverOptions::default();
        // A loopback port nothing listens on: the probe is refused at once.
        driver_options.set("url", OptionValue::Str("tcp://127.0.0.1:9".into()));
        let spec = CreateSpec {
            name: "m1".into(),
            driver: "none".into(),
            driver_options,
            ..Default::default()
        };
        let p: ProgressRef = Arc::new(Silent);
        berth.create(&spec, &p).await.expect("create");

        let monitor = Monitor::new(berth);
        let first = monitor.first_view().await;
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].state, ViewState::Checking);
        assert_eq!(first[0].url, "tcp://127.0.0.1:9");
        assert!(monitor.snapshot().is_empty(), "nothing probed yet");

        let probed = monitor.refresh().await;
        assert_ne!(probed[0].state, ViewState::Checking);
        assert_eq!(monitor.first_view().await, probed);
    }
}
