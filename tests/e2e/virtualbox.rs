//! The virtualbox driver through the real `berth` against tests/fakes/VBoxManage, a stand-in
//! (VirtualBox cannot run here) that records every argument vector and answers in VBoxManage's
//! formats. Asserts docker-machine's command sequence (with the host-only default moved into
//! 192.168.56.0/21 and fixed guest addresses), the pre-create checks, and the error paths:
//! a VM that dies while booting, VT-x missing, a guest whose sshd is broken — each rolled back.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::*;

struct FakeVBox {
    tool: FakeTool,
    image: PathBuf,
}

impl FakeVBox {
    fn new() -> FakeVBox {
        let tool = FakeTool::new();
        let image = tool.dir.path().join("debian.raw");
        std::fs::write(&image, vec![0u8; 4096]).expect("image");
        FakeVBox { tool, image }
    }

    fn calls(&self) -> Vec<String> {
        self.tool.calls()
    }

    fn vms(&self) -> serde_json::Value {
        self.tool.vms()
    }

    fn berth(&self, b: &Berth, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut c = b.cmd();
        c.env(
            "BERTH_VBOXMANAGE",
            repo_root().join("tests/fakes/VBoxManage"),
        )
        .env("FAKE_VBOX_DIR", self.tool.dir.path())
        .env_remove("FAKE_VBOX_BOOT")
        .env_remove("FAKE_VBOX_VERSION")
        .env_remove("FAKE_VBOX_HOSTONLY")
        .env_remove("FAKE_VBOX_FAIL");
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(args).output().expect("run berth")
    }

    fn create(&self, b: &Berth, env: &[(&str, &str)], name: &str, extra: &[&str]) -> Output {
        let image = self.image.display().to_string();
        // This machine's CPU may hide VT-x (nested); the check has its own test.
        let mut args = vec![
            "create",
            "-d",
            "virtualbox",
            "--virtualbox-image",
            &image,
            "--virtualbox-no-vtx-check",
        ];
        args.extend_from_slice(extra);
        args.push(name);
        self.berth(b, env, &args)
    }
}

fn position(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no call starting \"{prefix}\" in:\n{}", calls.join("\n")))
}

fn file_has(path: &Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).contains(needle))
        .unwrap_or(false)
}

#[test]
fn create_follows_docker_machines_sequence_and_rolls_back_a_vm_that_dies() {
    let fake = FakeVBox::new();
    let b = Berth::new();
    // The home folder is shared by default, as docker-machine shared /Users and C:\Users.
    let home = tempfile::tempdir().expect("home");
    let home_dir = home.path().display().to_string();
    let o = fake.create(
        &b,
        &[("FAKE_VBOX_BOOT", "abort"), ("HOME", &home_dir)],
        "vb",
        &[],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert_ne!(o.status.code(), Some(3), "not a pre-create failure");
    assert_fails_with(&o, "the VM stopped while booting", "aborted VM");
    assert_fails_with(&o, "VBox.log", "the hint names the VM log");

    let dir = b.machine_dir("vb").display().to_string();
    let calls = fake.calls();
    let want_in_order = [
        "--version".to_string(),
        "list hostonlyifs".into(),
        format!(
            "convertfromraw {} {dir}/disk.vdi --format VDI",
            fake.image.display()
        ),
        format!("modifymedium disk {dir}/disk.vdi --resize 20000"),
        format!("createvm --basefolder {dir} --name vb --register"),
        "modifyvm vb --firmware bios".into(),
        "modifyvm vb --nic1 nat --nictype1 82540EM --cableconnected1 on --macaddress1 080027".into(),
        "storagectl vb --name SATA --add sata --hostiocache on".into(),
        format!(
            "storageattach vb --storagectl SATA --port 0 --device 0 --type hdd --medium {dir}/disk.vdi"
        ),
        format!(
            "storageattach vb --storagectl SATA --port 1 --device 0 --type dvddrive --medium {dir}/seed.iso"
        ),
        format!("sharedfolder add vb --name berth0 --hostpath {home_dir} --automount"),
        "setextradata vb VBoxInternal2/SharedFoldersEnableSymlinksCreate/berth0 1".into(),
        "hostonlyif create".into(),
        "hostonlyif ipconfig vboxnet0 --ip 192.168.56.1 --netmask 255.255.255.0".into(),
        "modifyvm vb --nic2 hostonly --nictype2 82540EM --nicpromisc2 deny --hostonlyadapter2 vboxnet0 --cableconnected2 on --macaddress2 080027".into(),
        "modifyvm vb --natpf1 delete ssh".into(),
        "modifyvm vb --natpf1 ssh,tcp,127.0.0.1,".into(),
        "startvm vb --type headless".into(),
        "unregistervm --delete vb".into(),
    ];
    assert_in_order(&calls, &want_in_order);
    let modify = &calls[position(&calls, "modifyvm vb --firmware")];
    for setting in [
        "--ostype Debian_64",
        "--cpus 2",
        "--memory 2048",
        "--boot1 disk",
        "--uartmode1 file",
    ] {
        assert!(modify.contains(setting), "{setting} in {modify}");
    }
    // The rolled-back VM is gone from VirtualBox; the store keeps the machine marked Error.
    assert_eq!(fake.vms(), serde_json::json!({}));
    let m = b.machine_json("vb");
    assert_eq!(m["Driver"]["IPAddress"], "192.168.56.10");
    assert_eq!(
        m["Driver"]["Shares"],
        serde_json::json!([{"Host": home_dir, "Guest": home_dir}])
    );
    // The seed gives the host-only card its fixed address (no DHCP server to go stale).
    let seed = b.machine_dir("vb").join("seed.iso");
    assert!(file_has(&seed, "addresses: [192.168.56.10/24]"));
    assert!(file_has(&seed, "CIDATA"));
    assert_ok(
        &fake.berth(&b, &[], &["rm", "-y", "vb"]),
        "rm after rollback",
    );
}

#[test]
fn pre_create_checks_fail_before_anything_is_made() {
    let fake = FakeVBox::new();
    let b = Berth::new();
    for (env, extra, needle) in [
        (
            &[("BERTH_VBOXMANAGE", "/nonexistent/VBoxManage")][..],
            &[][..],
            "install VirtualBox",
        ),
        (
            &[("FAKE_VBOX_VERSION", "4.3.40r117504")][..],
            &[][..],
            "VirtualBox 5 and later",
        ),
        (
            &[(
                "FAKE_VBOX_HOSTONLY",
                "vboxnet0=192.168.56.1/255.255.255.0,vboxnet1=192.168.56.1/255.255.255.0",
            )][..],
            &[][..],
            "same IP 192.168.56.1",
        ),
        (
            &[][..],
            &["--virtualbox-hostonly-cidr", "192.168.99.1/24"][..],
            "outside 192.168.56.0/21",
        ),
    ] {
        let o = fake.create(&b, env, "pre", extra);
        assert_eq!(o.status.code(), Some(3), "{env:?} {extra:?}: {}", text(&o));
        assert_fails_with(&o, needle, &format!("{env:?} {extra:?}"));
        assert!(!b.machine_dir("pre").exists());
    }
    // Without --virtualbox-no-vtx-check: refused exactly when the CPU shows no vmx/svm flag.
    let image = fake.image.display().to_string();
    let o = fake.berth(
        &b,
        &[],
        &[
            "create",
            "-d",
            "virtualbox",
            "--virtualbox-image",
            &image,
            "pre",
        ],
    );
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let has_vtx = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    if has_vtx {
        assert_ne!(o.status.code(), Some(3), "{}", text(&o));
        assert_ok(&fake.berth(&b, &[], &["rm", "-y", "pre"]), "rm");
    } else {
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        assert_fails_with(&o, "--virtualbox-no-vtx-check", "no VT-x");
    }
    // A VM of the user's with the machine's name: refused, and that VM is left alone.
    std::fs::write(
        fake.tool.dir.path().join("state.json"),
        r#"{"vms": {"mine": {"state": "running", "base": "/nonexistent", "settings": {}, "natpf": []}}, "hostonlyifs": [], "media": []}"#,
    )
    .expect("state");
    let o = fake.create(&b, &[], "mine", &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_fails_with(&o, "already has a VM named \"mine\"", "name taken");
    assert_eq!(fake.vms()["mine"]["state"], "running");
    std::fs::remove_file(fake.tool.dir.path().join("state.json")).expect("reset");
    fake.tool.clear();
    let o = fake.create(
        &b,
        &[],
        "pre",
        &["--virtualbox-hostonly-cidr", "192.168.56.0/24"],
    );
    assert_fails_with(&o, "is a network address", "network address");
    assert!(
        !fake.calls().iter().any(|c| c.starts_with("createvm")),
        "nothing was created"
    );
}

#[test]
fn vtx_missing_is_explained_and_an_existing_adapter_is_reused() {
    let fake = FakeVBox::new();
    let b = Berth::new();
    let env = [
        ("FAKE_VBOX_BOOT", "vtx"),
        ("FAKE_VBOX_HOSTONLY", "vboxnet7=192.168.56.1/255.255.255.0"),
    ];
    let o = fake.create(&b, &env, "vt", &["--virtualbox-no-share"]);
    assert_fails_with(&o, "Unable to start the VM", "startvm failed");
    assert_fails_with(&o, "VT-x/AMD-V is off", "the hint says what to do");
    let calls = fake.calls();
    assert!(!calls.iter().any(|c| c.starts_with("hostonlyif create")));
    position(&calls, "modifyvm vt --nic2 hostonly");
    assert!(
        calls
            .iter()
            .any(|c| c.contains("--hostonlyadapter2 vboxnet7"))
    );
    position(&calls, "unregistervm --delete vt");
    assert!(
        !calls.iter().any(|c| c.starts_with("sharedfolder")),
        "--virtualbox-no-share: {calls:?}"
    );
}

#[test]
fn a_create_that_fails_before_the_vm_exists_leaves_no_medium() {
    let fake = FakeVBox::new();
    let b = Berth::new();
    let o = fake.create(&b, &[("FAKE_VBOX_FAIL", "createvm")], "half", &[]);
    assert_fails_with(&o, "VERR_DISK_FULL", "createvm failed");
    let calls = fake.calls();
    let disk = format!("{}/disk.vdi", b.machine_dir("half").display());
    assert_in_order(
        &calls,
        &[
            "convertfromraw".into(),
            "createvm".into(),
            format!("closemedium disk {disk}"),
        ],
    );
    assert!(
        !calls.iter().any(|c| c.starts_with("unregistervm")),
        "{calls:?}"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fake.tool.dir.path().join("state.json")).expect("state"),
    )
    .expect("json");
    assert_eq!(state["media"], serde_json::json!([]));
}

#[test]
fn a_broken_guest_is_powered_off_and_kept_only_when_asked() {
    let fake = FakeVBox::new();
    let b = Berth::new();
    let env = [("FAKE_VBOX_BOOT", "banner")];
    // sshd answers with a banner but no SSH: provisioning fails after the VM runs.
    let o = fake.create(&b, &env, "bad", &[]);
    assert!(!o.status.success(), "{}", text(&o));
    let calls = fake.calls();
    let off = position(&calls, "controlvm bad poweroff");
    assert!(position(&calls, "unregistervm --delete bad") > off);
    assert_eq!(fake.vms(), serde_json::json!({}));
    assert_ok(&fake.berth(&b, &[], &["rm", "-y", "bad"]), "rm");

    // --keep-on-failure keeps the running VM; rm powers it off and unregisters it.
    let o = fake.create(&b, &env, "kept", &["--keep-on-failure"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(fake.vms()["kept"]["state"], "running");
    // The failed machine says Error until provisioned; rm powers the kept VM off first.
    assert_eq!(
        stdout(&fake.berth(&b, &[], &["status", "kept"])).trim(),
        "Error"
    );
    fake.tool.clear();
    assert_ok(&fake.berth(&b, &[], &["rm", "-y", "kept"]), "rm kept");
    let calls = fake.calls();
    let off = position(&calls, "controlvm kept poweroff");
    assert!(position(&calls, "unregistervm --delete kept") > off);
    assert_eq!(fake.vms(), serde_json::json!({}));
}

/// Marks a machine as provisioned, as a successful create would (provisioning needs a real
/// guest, which a stand-in cannot be): the power commands refuse a failed machine.
fn mark_ready(b: &Berth, name: &str) {
    let mut m = b.machine_json(name);
    m["Status"]["Phase"] = "Ready".into();
    if let Some(s) = m["Status"].as_object_mut() {
        s.remove("Error");
        s.remove("Hint");
    }
    let path = b.machine_dir(name).join("machine.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&m).expect("json")).expect("write");
}

#[test]
fn stop_presses_the_power_button_kill_pulls_the_plug_and_start_boots_again() {
    let fake = FakeVBox::new();
    let b = Berth::new();
    let env = [("FAKE_VBOX_BOOT", "banner")];
    let o = fake.create(&b, &env, "pw", &["--keep-on-failure"]);
    assert!(!o.status.success(), "{}", text(&o));
    mark_ready(&b, "pw");
    assert_eq!(
        stdout(&fake.berth(&b, &[], &["status", "pw"])).trim(),
        "Running"
    );

    // stop: the ACPI power button, then VirtualBox reports it off; no hard power-off needed.
    fake.tool.clear();
    assert_ok(&fake.berth(&b, &[], &["stop", "pw"]), "stop");
    let calls = fake.calls();
    position(&calls, "controlvm pw acpipowerbutton");
    assert!(
        !calls.iter().any(|c| c.starts_with("controlvm pw poweroff")),
        "a clean stop:\n{}",
        calls.join("\n")
    );
    assert_eq!(fake.vms()["pw"]["state"], "poweroff");
    assert_eq!(
        stdout(&fake.berth(&b, &[], &["status", "pw"])).trim(),
        "Stopped"
    );
    let o = fake.berth(&b, &[], &["stop", "pw"]);
    assert_fails_with(&o, "already stopped", "a second stop");

    // start: the host-only card and the SSH forward are set again before the VM boots (the
    // guest's sshd is broken here, so start fails after the VM runs).
    fake.tool.clear();
    let o = fake.berth(&b, &env, &["start", "pw"]);
    assert_fails_with(
        &o,
        "SSH handshake with 127.0.0.1:",
        "start reaches the guest's broken sshd",
    );
    assert_in_order(
        &fake.calls(),
        &[
            "showvminfo pw --machinereadable".to_string(),
            "modifyvm pw --nic2 hostonly".into(),
            "modifyvm pw --natpf1 delete ssh".into(),
            "modifyvm pw --natpf1 ssh,tcp,127.0.0.1,".into(),
            "startvm pw --type headless".into(),
        ],
    );
    assert_eq!(fake.vms()["pw"]["state"], "running");

    // kill: powered off at once.
    fake.tool.clear();
    assert_ok(&fake.berth(&b, &[], &["kill", "pw"]), "kill");
    position(&fake.calls(), "controlvm pw poweroff");
    assert!(!fake.calls().iter().any(|c| c.contains("acpipowerbutton")));
    assert_eq!(fake.vms()["pw"]["state"], "poweroff");
    assert_ok(&fake.berth(&b, &[], &["rm", "-y", "pw"]), "rm");
    assert_eq!(fake.vms(), serde_json::json!({}));
}
