//! The port agent's VirtualBox mechanism: a published port becomes a NAT rule on the running
//! VM's first adapter (`controlvm natpf1`), TCP and UDP, removed by name when the container
//! goes; a port another program holds here is refused with that reason before VirtualBox is
//! asked.
//!
//! Against tests/fakes/VBoxManage (python3), which keeps the rules and lists them the way
//! `showvminfo --machinereadable` does. One test in its own binary: it sets the environment
//! the driver reads ($BERTH_VBOXMANAGE) and the stand-in inherits.
#![cfg(unix)]

use std::path::{Path, PathBuf};

use berth_core::drivers::workspace::{PortSpec, Proto};
use berth_core::machine::{HostOptions, Machine};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn set_env(key: &str, value: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: this binary's only test sets its variables before it starts any thread or child.
    unsafe { std::env::set_var(key, value) }
}

fn calls(fake: &Path) -> Vec<String> {
    std::fs::read_to_string(fake.join("calls.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<Vec<String>>(l)
                .expect("a call")
                .join(" ")
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

#[tokio::test]
async fn published_ports_are_nat_rules_added_and_removed_by_name() {
    let fake = tempfile::tempdir().expect("tempdir");
    let store = tempfile::tempdir().expect("tempdir");
    set_env(
        "BERTH_VBOXMANAGE",
        repo_root().join("tests/fakes/VBoxManage"),
    );
    set_env("FAKE_VBOX_DIR", fake.path());
    let state = serde_json::json!({
        "vms": {"vb": {"state": "running", "base": store.path(), "settings": {}, "natpf": ["ssh,tcp,127.0.0.1,2222,,22"]}},
        "hostonlyifs": [], "media": [],
    });
    std::fs::write(fake.path().join("state.json"), state.to_string()).expect("state");
    let driver = serde_json::json!({
        "MachineName": "vb", "IPAddress": "192.168.56.10", "SSHUser": "berth", "SSHPort": 2222,
        "CPU": 1, "Memory": 1024, "DiskSize": 20000, "HostOnlyCIDR": "192.168.56.1/24",
        "HostOnlyNicType": "82540EM", "NatNicType": "82540EM", "UIType": "headless",
        "VMCreated": true,
    });
    let m = Machine::new("vb", "virtualbox", driver, HostOptions::default());
    let d = berth_core::drivers::load_driver(&m, store.path()).expect("driver");
    assert!(d.features().port_forwarding && d.features().shared_folders);

    let (tcp, udp) = (free_port(), free_port());
    let web = PortSpec {
        proto: Proto::Tcp,
        host_ip: "127.0.0.1".into(),
        port: tcp,
    };
    let dns = PortSpec {
        proto: Proto::Udp,
        host_ip: "127.0.0.1".into(),
        port: udp,
    };
    d.forward_port(&web).await.expect("tcp rule");
    d.forward_port(&dns).await.expect("udp rule");
    d.unforward_port(&web).await.expect("tcp rule removed");

    // Taken here: refused with the reason, VirtualBox not asked.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = PortSpec {
        proto: Proto::Tcp,
        host_ip: "127.0.0.1".into(),
        port: held.local_addr().expect("addr").port(),
    };
    let before = calls(fake.path()).len();
    let err = d.forward_port(&taken).await.expect_err("taken");
    assert!(err.message().contains("in use on this computer"), "{err}");
    assert_eq!(calls(fake.path()).len(), before, "VirtualBox was not asked");

    assert_eq!(
        calls(fake.path()),
        [
            format!("controlvm vb natpf1 berth-tcp-{tcp},tcp,127.0.0.1,{tcp},,{tcp}"),
            format!("controlvm vb natpf1 berth-udp-{udp},udp,127.0.0.1,{udp},,{udp}"),
            format!("controlvm vb natpf1 delete berth-tcp-{tcp}"),
        ]
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fake.path().join("state.json")).expect("state"))
            .expect("json");
    assert_eq!(
        state["vms"]["vb"]["natpf"],
        serde_json::json!([
            "ssh,tcp,127.0.0.1,2222,,22",
            format!("berth-udp-{udp},udp,127.0.0.1,{udp},,{udp}")
        ])
    );
}
