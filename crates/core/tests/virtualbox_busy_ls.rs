//! `ls` keeps its timeout over VirtualBox machines whose VBoxManage is slow to answer: every
//! machine is asked at once and each question is cut off at the timeout (the stand-in is
//! killed). When VBoxManage ran as a blocking call, ten machines answering in 2 s took 20 s.
//!
//! Against tests/fakes/VBoxManage (python3). One test in its own binary: it sets the process
//! environment the driver reads ($BERTH_VBOXMANAGE) and the stand-in inherits.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_core::machine::{HostOptions, Machine};
use berth_core::ops::list::ListOptions;
use berth_core::{Berth, Store};

const MACHINES: usize = 10;
const SLOW: &str = "2";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn set_env(key: &str, value: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: this binary's only test sets its variables before it starts any thread or child.
    unsafe { std::env::set_var(key, value) }
}

/// Ten stopped VirtualBox machines: records in the store, VMs in the stand-in's state.
async fn machines(store: &Store, fake_dir: &Path) -> Vec<String> {
    let names: Vec<String> = (0..MACHINES).map(|i| format!("vb{i}")).collect();
    let mut vms = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let lock = store.reserve_async(name).await.expect("reserve");
        let driver = serde_json::json!({
            "MachineName": name,
            "IPAddress": format!("192.168.56.{}", 10 + i),
            "SSHUser": "berth",
            "SSHPort": 2222 + i,
            "CPU": 1,
            "Memory": 1024,
            "DiskSize": 20000,
            "HostOnlyCIDR": "192.168.56.1/24",
            "HostOnlyNicType": "82540EM",
            "NatNicType": "82540EM",
            "UIType": "headless",
            "VMCreated": true,
        });
        let mut m = Machine::new(name, "virtualbox", driver, HostOptions::default());
        m.set_ready();
        store.save(&mut m).expect("save");
        drop(lock);
        vms.insert(
            name.clone(),
            serde_json::json!({
                "state": "poweroff",
                "base": store.machine_dir(name),
                "settings": {},
                "natpf": [],
            }),
        );
    }
    let state = serde_json::json!({ "vms": vms, "hostonlyifs": [], "media": [] });
    std::fs::write(fake_dir.join("state.json"), state.to_string()).expect("state.json");
    names
}

#[tokio::test]
async fn ls_over_busy_virtualbox_machines_keeps_its_timeout() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: the VBoxManage stand-in needs python3");
        return;
    }
    let temp = tempfile::tempdir().expect("tempdir");
    let fake_dir = temp.path().join("vbox");
    std::fs::create_dir(&fake_dir).expect("mkdir");
    set_env(
        "BERTH_VBOXMANAGE",
        repo_root().join("tests/fakes/VBoxManage"),
    );
    set_env("FAKE_VBOX_DIR", &fake_dir);
    set_env("FAKE_VBOX_SLEEP", "0");
    let store = Store::at(temp.path().join("store"));
    let names = machines(&store, &fake_dir).await;
    let berth = Berth::new(store);

    // Answering at once: the state comes from the stand-in (a generous timeout for a slow host).
    let quick = ListOptions {
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let rows = berth.list(&quick).await.expect("ls");
    assert_eq!(rows.len(), MACHINES);
    for r in &rows {
        assert!(names.contains(&r.name));
        assert_eq!(r.state, "Stopped", "{r:?}");
    }

    // Busy: each showvminfo takes 2 s, ls still answers within its timeout.
    set_env("FAKE_VBOX_SLEEP", SLOW);
    let opts = ListOptions::default();
    let started = Instant::now();
    let rows = berth.list(&opts).await.expect("ls");
    let took = started.elapsed();
    eprintln!("ls over {MACHINES} busy machines took {took:?}");
    assert!(
        took < opts.timeout + Duration::from_secs(2),
        "ls took {took:?} with a {:?} timeout",
        opts.timeout
    );
    assert_eq!(rows.len(), MACHINES);
    for r in &rows {
        assert_eq!(r.state, "Timeout", "{r:?}");
        assert_eq!(r.active, "", "unknown when timed out: {r:?}");
    }
}
