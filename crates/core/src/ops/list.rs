//! `ls`: every machine, probed concurrently in this one process (docker-machine started one
//! plugin process per machine). Each probe is bounded by the timeout, so unreachable hosts
//! cost at most that long in total, whatever their number.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::certs;
use crate::drivers::{self, MachineState};
use crate::engine::{self, EngineTls};
use crate::error::{Error, ErrorKind, Result};
use crate::machine::{Machine, Phase};
use crate::shellenv::ActiveFiles;

use super::Berth;

/// One row of `ls`; the field names are docker-machine's template fields.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ListItem {
    pub name: String,
    /// `*` active, `-` not, empty when the state is unknown (timeout).
    pub active: String,
    pub active_host: bool,
    pub active_swarm: bool,
    pub driver_name: String,
    pub state: String,
    #[serde(rename = "URL")]
    pub url: String,
    pub swarm: String,
    /// `v20.10.24`, `Unknown` when the API did not answer.
    pub docker_version: String,
    pub error: String,
    /// What to do about the error.
    pub hint: String,
    pub response_time: String,
    #[serde(skip)]
    pub labels: Vec<String>,
}

/// `--filter key=value` (values of one key OR-ed, keys AND-ed), as in docker-machine.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    driver: Vec<String>,
    state: Vec<String>,
    name: Vec<regex::Regex>,
    label: Vec<(String, String)>,
    swarm: Vec<String>,
}

impl Filters {
    pub fn parse(specs: &[String]) -> Result<Filters> {
        let mut f = Filters::default();
        for s in specs {
            let (k, v) = s.split_once('=').ok_or_else(|| {
                Error::invalid(format!("Unsupported filter syntax: \"{s}\""))
                    .with_hint("use --filter key=value")
            })?;
            match k.to_ascii_lowercase().as_str() {
                "driver" => f.driver.push(v.to_string()),
                "state" => f.state.push(v.to_string()),
                "name" => f
                    .name
                    .push(regex::Regex::new(v).map_err(|e| {
                        Error::invalid(format!("invalid name filter \"{v}\": {e}"))
                    })?),
                "label" => {
                    let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                    f.label.push((lk.to_string(), lv.to_string()));
                }
                "swarm" => f.swarm.push(v.to_string()),
                other => {
                    return Err(Error::invalid(format!("Unsupported filter key '{other}'"))
                        .with_hint("filter keys: driver, state, name, label, swarm"));
                }
            }
        }
        Ok(f)
    }

    pub fn needs_state(&self) -> bool {
        !self.state.is_empty()
    }

    /// The filters that need no network.
    fn matches_static(&self, item: &ListItem) -> bool {
        (self.driver.is_empty()
            || self
                .driver
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&item.driver_name)))
            && (self.name.is_empty() || self.name.iter().any(|r| r.is_match(&item.name)))
            && (self.label.is_empty()
                || self.label.iter().any(|(k, v)| {
                    item.labels.iter().any(|l| {
                        l.split_once('=')
                            .is_some_and(|(lk, lv)| lk == k && lv.eq_ignore_ascii_case(v))
                    })
                }))
            && (self.swarm.is_empty()
                || self
                    .swarm
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&item.swarm)))
    }

    fn matches_state(&self, item: &ListItem) -> bool {
        self.state.is_empty()
            || self
                .state
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&item.state))
    }
}

#[derive(Debug, Clone)]
pub struct ListOptions {
    /// Per machine; all machines are probed at once.
    pub timeout: Duration,
    pub filters: Filters,
    /// Probe state and Docker version (false for `ls -q` without state filters: names only).
    pub probe: bool,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            timeout: Duration::from_secs(1),
            filters: Filters::default(),
            probe: true,
        }
    }
}

fn file_hash(dir: &std::path::Path) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        h.update(std::fs::read(dir.join(f)).ok()?);
    }
    Some(h.finalize().into())
}

impl Berth {
    pub async fn list(&self, opts: &ListOptions) -> Result<Vec<ListItem>> {
        let docker_host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let active_name = if docker_host.is_none() {
            ActiveFiles::in_store(self.store.root()).current()
        } else {
            None
        };
        // One TLS configuration per distinct certificate set (normally one for the whole store).
        let mut tls_cache: HashMap<[u8; 32], EngineTls> = HashMap::new();
        let mut jobs = vec![];
        for (name, loaded) in self.store.load_all()? {
            let mut item = ListItem {
                name: name.clone(),
                ..Default::default()
            };
            let m = match loaded {
                Ok(m) => m,
                Err(e) => {
                    item.driver_name = "?".into();
                    item.state = "Error".into();
                    item.error = e.to_string().replace('\n', " ");
                    item.hint = e.hint().unwrap_or_default().to_string();
                    jobs.push(Job::Done(Box::new(item)));
                    continue;
                }
            };
            item.driver_name = m.driver_name.clone();
            item.labels = m.host_options.engine_options.labels.clone();
            if !opts.filters.matches_static(&item) {
                continue;
            }
            match m.status.phase {
                Phase::Error => {
                    item.state = "Error".into();
                    item.error = m.status.error.clone().unwrap_or_default();
                    item.hint = m.status.hint.clone().unwrap_or_else(|| {
                        format!(
                            "`berth provision {name}` tries again, `berth rm {name}` removes it"
                        )
                    });
                    jobs.push(Job::Done(Box::new(item)));
                    continue;
                }
                Phase::Creating => {
                    let busy = self.store.is_busy(&name);
                    item.state = if busy {
                        "Creating".into()
                    } else {
                        "Error".into()
                    };
                    if !busy {
                        item.error = "creation was interrupted".into();
                        item.hint = format!(
                            "`berth provision {name}` finishes it, `berth rm {name}` removes it"
                        );
                    }
                    jobs.push(Job::Done(Box::new(item)));
                    continue;
                }
                Phase::Ready => {}
            }
            let dir = self.store.machine_dir(&name);
            let client_problem = self.repair_client_copy_now(&name);
            let tls = file_hash(&dir).and_then(|h| {
                if let Some(t) = tls_cache.get(&h) {
                    return Some(t.clone());
                }
                let t = EngineTls::from_machine_dir(&dir).ok()?;
                tls_cache.insert(h, t.clone());
                Some(t)
            });
            if let Some(problem) = client_problem {
                item.error = problem;
                item.hint = format!("run `berth regenerate-certs {name}`");
            }
            jobs.push(Job::Probe(Box::new((item, m, tls))));
        }

        let probe = opts.probe;
        let timeout = opts.timeout;
        let root = self.store.root();
        let futures = jobs.into_iter().map(|job| {
            let docker_host = docker_host.clone();
            let active_name = active_name.clone();
            let dir_of = |n: &str| self.store.machine_dir(n);
            let cert_dir = match &job {
                Job::Probe(b) => Some(dir_of(&b.0.name)),
                Job::Done(_) => None,
            };
            async move {
                let mut item = match job {
                    Job::Done(item) => return *item,
                    Job::Probe(b) => {
                        let (item, m, tls) = *b;
                        if !probe {
                            // The URL is in the store: no network needed.
                            let mut item = item;
                            if let Ok(d) = drivers::load_driver(&m, root) {
                                item.url = d.engine_url().unwrap_or_default();
                            }
                            item
                        } else {
                            let item =
                                probe_one(item, &m, tls, timeout, cert_dir.as_deref(), root).await;
                            // A running VM's port agent that died starts again (unless a
                            // start or stop holding the machine is about to see to it).
                            if item.state == "Running" && !self.store.is_busy(&item.name) {
                                self.revive_agent(&item.name, &m.driver_name).await;
                            }
                            item
                        }
                    }
                };
                let is_active = match &docker_host {
                    Some(h) => !item.url.is_empty() && &item.url == h,
                    None => active_name.as_deref() == Some(item.name.as_str()),
                };
                item.active_host = is_active;
                item.active = if item.state == "Timeout" {
                    String::new()
                } else if is_active {
                    "*".into()
                } else {
                    "-".into()
                };
                item
            }
        });
        let rows = futures_util::future::join_all(futures).await;
        Ok(rows
            .into_iter()
            .filter(|r| opts.filters.matches_state(r))
            .collect())
    }
}

impl Berth {
    /// `ls` repairs a machine's client-certificate copy when nobody else is changing the
    /// machine (it never waits for a lock); what it cannot repair goes in the row's error.
    fn repair_client_copy_now(&self, name: &str) -> Option<String> {
        let dir = self.store.machine_dir(name);
        let pending = certs::set_pending(&dir);
        let problem = certs::check_client_copy(&dir);
        if !pending && problem.is_none() {
            return None;
        }
        let Ok(_lock) = self.store.lock(name, Duration::ZERO) else {
            return Some(format!(
                "client certificate: {}",
                problem.unwrap_or_else(|| "being replaced".into())
            ));
        };
        if let Err(e) = certs::recover_machine_certs(&dir) {
            return Some(e.to_string());
        }
        let quiet: super::ProgressRef = std::sync::Arc::new(crate::progress::Silent);
        match self.repair_client_copy(name, &quiet) {
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        }
    }
}

enum Job {
    Done(Box<ListItem>),
    Probe(Box<(ListItem, Machine, Option<EngineTls>)>),
}

async fn probe_one(
    mut item: ListItem,
    m: &Machine,
    tls: Option<EngineTls>,
    timeout: Duration,
    dir: Option<&std::path::Path>,
    root: &std::path::Path,
) -> ListItem {
    let driver = match drivers::load_driver(m, root) {
        Ok(d) => d,
        Err(e) => {
            item.state = "Error".into();
            item.error = e.to_string();
            return item;
        }
    };
    item.url = driver.engine_url().unwrap_or_default();
    let started = Instant::now();
    let engine = match &tls {
        Some(t) => engine::probe(&item.url, t, timeout).await,
        None => Err(Error::store("the machine's certificates are missing")
            .with_hint("run `berth regenerate-certs NAME`")),
    };
    item.response_time = format!("{}ms", started.elapsed().as_millis());
    match engine {
        Ok(v) => {
            item.state = MachineState::Running.to_string();
            item.docker_version = format!("v{}", v.version);
        }
        Err(e) if e.kind() == ErrorKind::Timeout => {
            // A silent host: dialling its SSH port as well would only wait as long again.
            item.state = MachineState::Timeout.to_string();
            item.error = e.to_string();
        }
        Err(e) => {
            // The API refused or failed fast: the machine's own state tells whether it is down.
            let left = timeout
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(200));
            let state = driver.state(left).await;
            item.state = state.to_string();
            item.docker_version = "Unknown".into();
            if state == MachineState::Running {
                item.error = e.to_string();
                item.hint = e.hint().unwrap_or_default().to_string();
            }
        }
    }
    if let (Some(dir), true) = (dir, driver.features().provisions)
        && let Ok(addr) = driver.address()
        && let Some(problem) = certs::check_server_cert(dir, &addr)
    {
        item.error = format!(
            "{}: run `berth regenerate-certs {}`",
            problem.describe(&item.name),
            item.name
        );
    }
    item
}
