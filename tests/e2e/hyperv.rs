//! The hyperv driver through the real `berth` against tests/fakes/powershell, a stand-in for
//! Windows PowerShell's Hyper-V module (Hyper-V cannot run here) that records every script and
//! answers as PowerShell prints. Asserts docker-machine's cmdlet sequence, that the disk Berth
//! hands Convert-VHD is a real VHD and the DVD a real ISO, the privilege and switch checks, and
//! a VM that dies while booting being removed again.

mod support;

use std::process::Output;

use support::*;

struct FakeHyperV {
    tool: FakeTool,
    image: String,
}

impl FakeHyperV {
    fn new() -> FakeHyperV {
        let tool = FakeTool::new();
        let image = tool.dir.path().join("debian.raw");
        std::fs::write(&image, vec![0u8; 5000]).expect("image");
        let image = image.display().to_string();
        FakeHyperV { tool, image }
    }

    fn berth(&self, b: &Berth, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut c = b.cmd();
        c.env(
            "BERTH_POWERSHELL",
            repo_root().join("tests/fakes/powershell"),
        )
        .env("FAKE_HYPERV_DIR", self.tool.dir.path());
        for v in [
            "FAKE_HYPERV_MODULE",
            "FAKE_HYPERV_HVADMIN",
            "FAKE_HYPERV_ADMIN",
            "FAKE_HYPERV_SWITCHES",
            "FAKE_HYPERV_BOOT",
        ] {
            c.env_remove(v);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(args).output().expect("run berth")
    }

    fn create(&self, b: &Berth, env: &[(&str, &str)], name: &str, extra: &[&str]) -> Output {
        let mut args = vec!["create", "-d", "hyperv", "--hyperv-image", &self.image];
        args.extend_from_slice(extra);
        args.push(name);
        self.berth(b, env, &args)
    }
}

#[test]
fn create_sends_docker_machines_cmdlets_and_removes_a_vm_that_dies() {
    let fake = FakeHyperV::new();
    let b = Berth::new();
    let o = fake.create(
        &b,
        &[],
        "hv",
        &[
            "--hyperv-cpu-count",
            "4",
            "--hyperv-vlan-id",
            "12",
            "--hyperv-static-macaddress",
            "00:15:5D:01:02:03",
            "--hyperv-disable-dynamic-memory",
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert_fails_with(&o, "stopped while booting", "the VM turned itself off");
    let dir = b.machine_dir("hv").display().to_string();
    let calls = fake.tool.calls();
    let want = [
        "@(Get-Module -ListAvailable hyper-v).Name | Get-Unique".to_string(),
        format!(
            "Hyper-V\\Convert-VHD -Path '{dir}/fixed.vhd' -DestinationPath '{dir}/disk.vhd' -VHDType Dynamic -DeleteSource"
        ),
        format!("Hyper-V\\Resize-VHD -Path '{dir}/disk.vhd' -SizeBytes 20000MB"),
        format!(
            "Hyper-V\\New-VM 'hv' -Path '{dir}' -SwitchName 'External Switch' -MemoryStartupBytes 2048MB"
        ),
        "Hyper-V\\Set-VMMemory -VMName 'hv' -DynamicMemoryEnabled $false".into(),
        "Hyper-V\\Set-VMProcessor 'hv' -Count 4".into(),
        "Hyper-V\\Set-VMNetworkAdapter -VMName 'hv' -StaticMacAddress '00:15:5D:01:02:03'".into(),
        "Hyper-V\\Set-VMNetworkAdapterVlan -VMName 'hv' -Access -VlanId 12".into(),
        format!("Hyper-V\\Set-VMDvdDrive -VMName 'hv' -Path '{dir}/seed.iso'"),
        format!("Hyper-V\\Add-VMHardDiskDrive -VMName 'hv' -Path '{dir}/disk.vhd'"),
        "Hyper-V\\Start-VM 'hv'".into(),
        "Hyper-V\\Remove-VM 'hv' -Force".into(),
    ];
    assert_in_order(&calls, &want);
    assert_eq!(fake.tool.vms(), serde_json::json!({}), "rolled back");
    assert!(
        !b.machine_dir("hv").join("fixed.vhd").exists(),
        "Convert-VHD deleted its source"
    );
    assert_ok(
        &fake.berth(&b, &[], &["rm", "-y", "hv"]),
        "rm after rollback",
    );
}

#[test]
fn privileges_and_switches_are_checked_first() {
    let fake = FakeHyperV::new();
    let b = Berth::new();
    for (env, extra, needle) in [
        (
            &[("FAKE_HYPERV_MODULE", "")][..],
            &[][..],
            "Enable-WindowsOptionalFeature",
        ),
        (
            &[("FAKE_HYPERV_ADMIN", "False")][..],
            &[][..],
            "Hyper-V Administrators",
        ),
        (
            &[("FAKE_HYPERV_SWITCHES", "Default Switch:Internal")][..],
            &[][..],
            "no External virtual switch",
        ),
        (
            &[][..],
            &["--hyperv-virtual-switch", "Nope"][..],
            "no virtual switch \"Nope\"",
        ),
        (
            &[("BERTH_POWERSHELL", "/nonexistent/powershell")][..],
            &[][..],
            "PowerShell",
        ),
    ] {
        let o = fake.create(&b, env, "pre", extra);
        assert_eq!(o.status.code(), Some(3), "{env:?}: {}", text(&o));
        assert_fails_with(&o, needle, &format!("{env:?} {extra:?}"));
        assert!(!b.machine_dir("pre").exists());
    }
    // Shared folders (reverse SSHFS, served by the port agent): bad ones refused before any
    // cmdlet runs.
    for (extra, needle) in [
        (
            &["--hyperv-share-folder", "relative/src"][..],
            "--hyperv-share-folder \"relative/src\": the host folder must be an absolute path",
        ),
        (
            &["--hyperv-share-folder", "/tmp", "--hyperv-no-share"][..],
            "--hyperv-share-folder and --hyperv-no-share contradict each other",
        ),
    ] {
        fake.tool.clear();
        let o = fake.create(&b, &[], "pre", extra);
        assert_fails_with(&o, needle, &format!("{extra:?}"));
        assert!(
            fake.tool.calls().is_empty(),
            "no cmdlet ran: {:?}",
            fake.tool.calls()
        );
        assert!(!b.machine_dir("pre").exists());
    }
    // A VM of the user's with the machine's name: refused, and that VM is left alone.
    std::fs::write(
        fake.tool.dir.path().join("state.json"),
        r#"{"vms": {"mine": {"state": "Running", "dvd": null, "disks": []}}}"#,
    )
    .expect("state");
    let o = fake.create(&b, &[], "mine", &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_fails_with(&o, "already has a VM named \"mine\"", "name taken");
    assert_eq!(fake.tool.vms()["mine"]["state"], "Running");
    assert!(
        !fake
            .tool
            .calls()
            .iter()
            .any(|c| c.contains("Stop-VM") || c.contains("Remove-VM"))
    );
    std::fs::remove_file(fake.tool.dir.path().join("state.json")).expect("reset");

    // A Hyper-V Administrator who is not a Windows Administrator may create (the disk keeps
    // the image's size: Resize-VHD needs Administrator); the Internal switch can be named.
    let o = fake.create(
        &b,
        &[
            ("FAKE_HYPERV_ADMIN", "False"),
            ("FAKE_HYPERV_HVADMIN", "True"),
        ],
        "internal",
        &["--hyperv-virtual-switch", "Default Switch"],
    );
    assert_ne!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("Resize-VHD needs Administrator"),
        "{}",
        text(&o)
    );
    let calls = fake.tool.calls();
    assert!(!calls.iter().any(|c| c.contains("Resize-VHD")));
    assert!(
        calls
            .iter()
            .any(|c| c.contains("-SwitchName 'Default Switch'"))
    );
    assert!(
        !calls.iter().any(|c| c.contains("New-VM 'pre'")),
        "nothing made for the refused creates"
    );
}
