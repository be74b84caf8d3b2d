//! The agent's other job, for VMs without a hypervisor share (Hyper-V; QEMU away from Linux):
//! this computer's folders kept mounted in the VM by reverse SSHFS over one SSH connection,
//! made again when it drops. What each share came to goes to shares.json, as a boot's mount
//! does for the others.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::run::log;
use crate::drivers::workspace::ShareStatus;
use crate::error::Result;
use crate::ops::workspace::{MOUNTING, record_shares, unmounted};
use crate::ops::{Berth, ProgressRef};
use crate::progress::{Event, Progress};

/// The longest pause between two attempts to connect again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What connecting says, in the agent's log.
struct ToLog;

impl Progress for ToLog {
    fn emit(&self, event: Event) {
        match event {
            Event::Log { line } | Event::Warn { line } => log(&line),
            Event::Step { .. } | Event::Debug { .. } => {}
        }
    }
}

/// Keeps the machine's shares mounted; returns only when it has none to serve this way.
pub async fn keep_mounted(root: &Path, name: &str) {
    let berth = Berth::new(crate::Store::at(root));
    let mut backoff = Duration::from_secs(1);
    loop {
        match serve_all(&berth, name).await {
            Ok(false) => return,
            Ok(true) => backoff = Duration::from_secs(1),
            Err(e) => log(&format!("cannot mount the shared folders: {e}")),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection serving every share until they all end. Ok(false): nothing to serve.
async fn serve_all(berth: &Berth, name: &str) -> Result<bool> {
    let (mut m, d) = berth.load_ready(name)?;
    let shares = d.shares();
    if shares.is_empty() || !d.shares_over_ssh() {
        return Ok(false);
    }
    let dir = berth.store.machine_dir(name);
    let status = Arc::new(Mutex::new(unmounted(&shares, MOUNTING)));
    let progress: ProgressRef = Arc::new(ToLog);
    let session = match berth.connect_ssh(&mut m, d.as_ref(), &progress).await {
        Ok(s) => s,
        Err(e) => {
            let why = format!("cannot log in to the VM: {}", e.message());
            if let Err(e) = record_shares(&dir, &unmounted(&shares, &why)) {
                log(&format!("cannot record the shared folders: {e}"));
            }
            return Err(e);
        }
    };
    let serving = shares.iter().enumerate().map(|(i, share)| {
        let (status, dir, session) = (status.clone(), dir.clone(), &session);
        async move {
            let on_mount = {
                let (status, dir) = (status.clone(), dir.clone());
                move || {
                    log(&format!(
                        "mounted {} at {} in the VM",
                        share.host, share.guest
                    ));
                    set_one(&dir, &status, i, "");
                }
            };
            let r =
                crate::reverse_sshfs::serve(session, share, std::future::pending(), on_mount).await;
            let why = match r {
                Ok(()) => "unmounted in the VM".to_string(),
                Err(e) => e.to_string(),
            };
            log(&format!("{} is no longer mounted: {why}", share.host));
            set_one(&dir, &status, i, &why);
        }
    });
    futures_util::future::join_all(serving).await;
    session.close().await;
    Ok(true)
}

fn set_one(dir: &Path, status: &Mutex<Vec<ShareStatus>>, i: usize, problem: &str) {
    let Ok(mut s) = status.lock() else { return };
    if let Some(one) = s.get_mut(i) {
        one.problem = problem.to_string();
    }
    if let Err(e) = record_shares(dir, &s) {
        log(&format!("cannot record the shared folders: {e}"));
    }
}
