//! `virtualbox`: a VM driven through VBoxManage, in docker-machine's command sequence with its
//! known problems fixed: the host-only network defaults into 192.168.56.0/21 (VirtualBox ≥
//! 6.1.28 refuses 192.168.99.x), the guest gets a fixed host-only address through the cloud-init
//! seed (no DHCP server, so the address and the certificate never go stale), the image is a
//! current cloud image instead of boot2docker, stop falls back to power-off after a timeout, and
//! a failed create removes its VM.

pub mod options;
pub mod vbox;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::localvm::{image, seed};
use super::workspace::{self, GuestMount, PortSpec, SharedFolder};
use super::{Driver, DriverContext, MachineState};
use crate::error::{Error, ErrorKind, Result};
use crate::ssh::SshTarget;
pub use options::{VBoxConfig, info};
use vbox::VBox;

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
/// Guests take addresses from .10 up (the host has its own, usually .1).
const FIRST_GUEST: u32 = 10;

/// This driver's registry entry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "virtualbox",
    features: crate::drivers::Features {
        port_forwarding: true,
        shared_folders: true,
        ..crate::drivers::Features::LOCAL_VM
    },
    info,
    availability: || match vbox::find() {
        Ok(_) => super::registry::always_available(),
        Err(_) => super::Availability {
            ready: false,
            missing: Some(vbox::INSTALL_HINT.to_string()),
        },
    },
    create: |name, info, o| Ok(Box::new(VirtualBox::from_options(name, info, o)?)),
    load: |v, root| Ok(Box::new(VirtualBox::from_config(v, root)?)),
};

pub struct VirtualBox {
    cfg: VBoxConfig,
    dir: PathBuf,
}

/// A VirtualBox MAC (Oracle's 08:00:27 prefix), as VBoxManage writes it: 12 hex digits.
fn random_mac() -> String {
    let r: [u8; 3] = rand::random();
    format!("080027{:02X}{:02X}{:02X}", r[0], r[1], r[2])
}

fn colon_mac(m: &str) -> String {
    m.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// cloud-init network config: DHCP on the NAT card, the fixed address on the host-only one.
pub fn network_config(nat_mac: &str, hostonly_mac: &str, ip: Ipv4Addr, prefix: u8) -> String {
    format!(
        "version: 2\nethernets:\n  nat:\n    match:\n      macaddress: \"{}\"\n    dhcp4: true\n  hostonly:\n    match:\n      macaddress: \"{}\"\n    dhcp4: false\n    addresses: [{ip}/{prefix}]\n",
        colon_mac(nat_mac),
        colon_mac(hostonly_mac)
    )
}

/// The VirtualBox machines' host-only addresses in the store (to give a new one another).
fn used_addresses(store_root: &Path, except: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(store_root.join("machines")) else {
        return vec![];
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy() != except)
        .filter_map(|e| std::fs::read_to_string(e.path().join("machine.json")).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(|v| v["DriverName"] == "virtualbox")
        .filter_map(|v| v["Driver"]["IPAddress"].as_str().map(str::to_string))
        .collect()
}

/// The lowest free guest address in the host-only network.
pub fn pick_address(host: Ipv4Addr, prefix: u8, used: &[String]) -> Result<Ipv4Addr> {
    let mask = u32::MAX << (32 - prefix);
    let net = u32::from(host) & mask;
    let last = net | !mask;
    (net + FIRST_GUEST..last)
        .map(Ipv4Addr::from)
        .find(|a| *a != host && !used.contains(&a.to_string()))
        .ok_or_else(|| Error::invalid("the host-only network has no free address left"))
}

/// PowerShell's answer to `(Get-CimInstance Win32_ComputerSystem).HypervisorPresent`.
fn hypervisor_present(answer: &str) -> bool {
    answer.trim().eq_ignore_ascii_case("true")
}

fn vtx_problem(log: &str) -> bool {
    (log.contains("VT-x is disabled") && !log.contains("falling back to raw-mode"))
        || log.contains("the host CPU does NOT support HW virtualization")
        || log.contains("VERR_VMX_UNABLE_TO_START_VM")
        || (log.contains("Power up failed") && log.contains("VERR_VMX_NO_VMX"))
}

impl VirtualBox {
    pub fn from_options(
        name: &str,
        info: &super::DriverInfo,
        o: &super::DriverOptions,
    ) -> Result<VirtualBox> {
        Ok(VirtualBox {
            cfg: options::from_options(name, info, o)?,
            dir: PathBuf::new(),
        })
    }

    pub fn from_config(v: serde_json::Value, store_root: &Path) -> serde_json::Result<VirtualBox> {
        let cfg: VBoxConfig = serde_json::from_value(v)?;
        let dir = store_root.join("machines").join(&cfg.base.machine_name);
        Ok(VirtualBox { cfg, dir })
    }

    /// The VirtualBox VM's name: the machine's, as docker-machine named it.
    fn vm_name(&self) -> &str {
        &self.cfg.base.machine_name
    }
    fn vbox_log(&self) -> PathBuf {
        self.dir.join(self.vm_name()).join("Logs").join("VBox.log")
    }
    fn serial_log(&self) -> PathBuf {
        self.dir.join("serial.log")
    }

    async fn vm_state(&self, vbox: &VBox) -> Result<MachineState> {
        let info = vbox::parse_machinereadable(
            &vbox
                .run(&["showvminfo", self.vm_name(), "--machinereadable"])
                .await?,
        );
        Ok(match info.get("VMState").map(String::as_str) {
            Some("running") => MachineState::Running,
            Some("paused") => MachineState::Paused,
            Some("saved") => MachineState::Saved,
            Some("poweroff" | "aborted") => MachineState::Stopped,
            Some("starting" | "restoring") => MachineState::Starting,
            Some("stopping") => MachineState::Stopping,
            _ => MachineState::None,
        })
    }

    /// Why the VM did not come up, from its VBox.log (VT-x first) and its console.
    fn boot_hint(&self) -> String {
        let log = std::fs::read_to_string(self.vbox_log()).unwrap_or_default();
        if vtx_problem(&log) {
            return "VT-x/AMD-V is off or taken: enable it in the firmware (BIOS/UEFI) settings; on Windows, turn Hyper-V off or use the hyperv driver".into();
        }
        super::localvm::log_hint("VirtualBox log", &self.vbox_log())
    }

    async fn import_disk(&self, vbox: &VBox, base: &Path) -> Result<()> {
        let disk = self.dir.join("disk.vdi");
        let disk = disk.to_string_lossy();
        let base_s = base.to_string_lossy();
        let ext = base
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if ext == "vdi" || ext == "vmdk" || ext == "vhd" {
            vbox.run(&["clonemedium", "disk", &base_s, &disk, "--format", "VDI"])
                .await?;
        } else {
            vbox.run(&["convertfromraw", &base_s, &disk, "--format", "VDI"])
                .await?;
        }
        vbox.run(&[
            "modifymedium",
            "disk",
            &disk,
            "--resize",
            &self.cfg.disk_mb.to_string(),
        ])
        .await?;
        Ok(())
    }

    async fn create_vm(&mut self, vbox: &VBox) -> Result<()> {
        let name = self.vm_name().to_string();
        let n = name.as_str();
        let (cpus, mem) = (self.cfg.cpus.to_string(), self.cfg.memory_mb.to_string());
        let dir = self.dir.to_string_lossy();
        let serial = self.serial_log().to_string_lossy().to_string();
        vbox.run(&["createvm", "--basefolder", &dir, "--name", n, "--register"])
            .await?;
        self.cfg.vm_created = true;
        vbox.run(&[
            "modifyvm",
            n,
            "--firmware",
            "bios",
            "--bioslogofadein",
            "off",
            "--bioslogofadeout",
            "off",
            "--bioslogodisplaytime",
            "0",
            "--biosbootmenu",
            "disabled",
            "--ostype",
            "Debian_64",
            "--cpus",
            &cpus,
            "--memory",
            &mem,
            "--acpi",
            "on",
            "--ioapic",
            "on",
            "--rtcuseutc",
            "on",
            "--natdnshostresolver1",
            "off",
            "--natdnsproxy1",
            "on",
            "--cpuhotplug",
            "off",
            "--pae",
            "on",
            "--hpet",
            "on",
            "--hwvirtex",
            "on",
            "--nestedpaging",
            "on",
            "--largepages",
            "on",
            "--vtxvpid",
            "on",
            "--accelerate3d",
            "off",
            "--boot1",
            "disk",
            "--uart1",
            "0x3F8",
            "4",
            "--uartmode1",
            "file",
            &serial,
        ])
        .await?;
        vbox.run(&[
            "modifyvm",
            n,
            "--nic1",
            "nat",
            "--nictype1",
            &self.cfg.nat_nic_type,
            "--cableconnected1",
            "on",
            "--macaddress1",
            &self.cfg.nat_mac,
        ])
        .await?;
        vbox.run(&[
            "storagectl",
            n,
            "--name",
            "SATA",
            "--add",
            "sata",
            "--hostiocache",
            "on",
        ])
        .await?;
        let disk = self.dir.join("disk.vdi").to_string_lossy().to_string();
        let seed = self.dir.join("seed.iso").to_string_lossy().to_string();
        vbox.run(&[
            "storageattach",
            n,
            "--storagectl",
            "SATA",
            "--port",
            "0",
            "--device",
            "0",
            "--type",
            "hdd",
            "--medium",
            &disk,
        ])
        .await?;
        vbox.run(&[
            "storageattach",
            n,
            "--storagectl",
            "SATA",
            "--port",
            "1",
            "--device",
            "0",
            "--type",
            "dvddrive",
            "--medium",
            &seed,
        ])
        .await?;
        // docker-machine's shared folders: named, automounted, symlinks allowed in them.
        for (i, share) in self.cfg.shares.iter().enumerate() {
            let tag = workspace::share_tag(i);
            vbox.run(&[
                "sharedfolder",
                "add",
                n,
                "--name",
                &tag,
                "--hostpath",
                &share.host,
                "--automount",
            ])
            .await?;
            vbox.run(&[
                "setextradata",
                n,
                &format!("VBoxInternal2/SharedFoldersEnableSymlinksCreate/{tag}"),
                "1",
            ])
            .await?;
        }
        Ok(())
    }

    /// The host-only adapter with the host's address: reused when one has it, else created.
    async fn hostonly_adapter(&self, vbox: &VBox) -> Result<String> {
        let (host, prefix) = options::parse_cidr(&self.cfg.hostonly_cidr)?;
        let mask = options::netmask(prefix).to_string();
        let ifs = vbox::parse_hostonlyifs(&vbox.run(&["list", "hostonlyifs"]).await?);
        if let Some(i) = ifs
            .iter()
            .find(|i| i.ip == host.to_string() && (i.mask == mask || i.mask == "15.0.0.0"))
        {
            return Ok(i.name.clone());
        }
        let out = vbox.run(&["hostonlyif", "create"]).await?;
        let name = vbox::created_interface(&out).ok_or_else(|| {
            Error::driver(format!("VBoxManage hostonlyif create said: {}", out.trim()))
        })?;
        vbox.run(&["hostonlyif", "ipconfig", &name, "--ip", &host.to_string(), "--netmask", &mask]).await
            .map_err(|e| {
                if e.message().contains("E_ACCESSDENIED") {
                    Error::invalid(format!("VirtualBox refused the host-only address {host}"))
                        .with_hint("VirtualBox ≥ 6.1.28 allows only 192.168.56.0/21 unless /etc/vbox/networks.conf lists more (e.g. `* 10.0.0.0/8`)")
                } else {
                    e
                }
            })?;
        Ok(name)
    }

    /// Network, port forward and power on; then waits for sshd.
    async fn boot(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        let vbox = VBox::new()?;
        let n = self.vm_name().to_string();
        let adapter = self.hostonly_adapter(&vbox).await?;
        vbox.run(&[
            "modifyvm",
            &n,
            "--nic2",
            "hostonly",
            "--nictype2",
            &self.cfg.hostonly_nic_type,
            "--nicpromisc2",
            "deny",
            "--hostonlyadapter2",
            &adapter,
            "--cableconnected2",
            "on",
            "--macaddress2",
            &self.cfg.hostonly_mac,
        ])
        .await?;
        let port = match std::net::TcpListener::bind(("127.0.0.1", self.cfg.base.ssh_port))
            .or_else(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
        {
            Ok(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            Err(e) => return Err(Error::io(format!("no free local port: {e}"))),
        };
        self.cfg.base.ssh_port = port;
        let _ = vbox
            .run(&["modifyvm", &n, "--natpf1", "delete", "ssh"])
            .await;
        vbox.run(&[
            "modifyvm",
            &n,
            "--natpf1",
            &format!("ssh,tcp,127.0.0.1,{port},,22"),
        ])
        .await?;
        vbox.run(&["startvm", &n, "--type", &self.cfg.ui_type])
            .await
            .map_err(|e| {
                Error::driver(format!("Unable to start the VM: {}", e.message()))
                    .with_hint(self.boot_hint())
            })?;
        ctx.progress.log(format!(
            "VM started (SSH on 127.0.0.1:{port}, Docker at {}:2376 on {adapter})",
            self.cfg.base.ip_address
        ));
        let (this, vbox) = (&*self, &vbox);
        let alive = || async move {
            matches!(
                this.vm_state(vbox).await,
                Ok(MachineState::Running | MachineState::Starting)
            )
        };
        super::localvm::wait_sshd(port, BOOT_TIMEOUT, false, ctx, alive, || this.boot_hint()).await
    }

    async fn check_vtx(&self) -> Result<()> {
        if self.cfg.no_vtx_check {
            return Ok(());
        }
        if cfg!(windows) {
            // VirtualBox cannot use VT-x while Windows' hypervisor holds it.
            let out = crate::child::async_background("powershell")
                .args([
                    "-NoProfile",
                    "-NonInteractive",
                    "(Get-CimInstance Win32_ComputerSystem).HypervisorPresent",
                ])
                .output()
                .await;
            if let Ok(o) = out
                && hypervisor_present(&String::from_utf8_lossy(&o.stdout))
            {
                return Err(Error::invalid("Hyper-V is on: VirtualBox cannot start 64-bit VMs beside it")
                    .with_hint("use the hyperv driver, or turn Hyper-V off (bcdedit /set hypervisorlaunchtype off, then restart); --virtualbox-no-vtx-check skips this check"));
            }
            return Ok(());
        }
        if !cfg!(target_os = "linux") {
            return Ok(());
        }
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let flags = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .unwrap_or("");
        if !flags.is_empty() && !flags.split_whitespace().any(|f| f == "vmx" || f == "svm") {
            return Err(Error::invalid("this computer does not have VT-x/AMD-V enabled")
                .with_hint("enable it in the firmware (BIOS/UEFI) settings, or skip the check with --virtualbox-no-vtx-check"));
        }
        Ok(())
    }
}

#[async_trait]
impl Driver for VirtualBox {
    fn name(&self) -> &'static str {
        "virtualbox"
    }
    fn config(&self) -> Result<serde_json::Value> {
        super::config_value(self.name(), &self.cfg)
    }
    fn address(&self) -> Result<String> {
        self.cfg.base.address("VM")
    }
    fn ssh_target(&self) -> Option<SshTarget> {
        let mut t = self.cfg.base.ssh_target();
        t.host = "127.0.0.1".into();
        Some(t)
    }
    fn shares(&self) -> Vec<SharedFolder> {
        self.cfg.shares.clone()
    }
    /// vboxsf needs the guest's VirtualBox module (in mainline Linux since 5.6; Debian's
    /// cloud kernel lacks it, the generic one has it).
    fn guest_mounts(&self) -> Vec<GuestMount> {
        workspace::guest_mounts("vboxsf", &self.cfg.shares)
    }
    fn ports_on_lan(&self) -> bool {
        self.cfg.publish_lan
    }
    /// A NAT rule on the VM's first adapter, changed while it runs (`controlvm natpf1`).
    async fn forward_port(&self, p: &PortSpec) -> Result<()> {
        workspace::host_port_free(p)?;
        let rule = format!(
            "{},{},{},{},,{}",
            p.rule_name(),
            p.proto.as_str(),
            p.host_ip,
            p.port,
            p.port
        );
        VBox::new()?
            .run(&["controlvm", self.vm_name(), "natpf1", &rule])
            .await
            .map(|_| ())
    }
    async fn unforward_port(&self, p: &PortSpec) -> Result<()> {
        VBox::new()?
            .run(&[
                "controlvm",
                self.vm_name(),
                "natpf1",
                "delete",
                &p.rule_name(),
            ])
            .await
            .map(|_| ())
    }

    async fn pre_create_check(&self, _ctx: &DriverContext<'_>) -> Result<()> {
        let vbox = VBox::new()?;
        let version = vbox.run(&["--version"]).await?;
        match vbox::parse_version(&version) {
            Some((major, _)) if major >= 5 => {}
            _ => {
                return Err(Error::invalid(format!(
                    "Berth supports VirtualBox 5 and later; this one is \"{}\"",
                    version.trim()
                ))
                .with_hint("upgrade at https://www.virtualbox.org"));
            }
        }
        self.check_vtx().await?;
        match vbox
            .run(&["showvminfo", self.vm_name(), "--machinereadable"])
            .await
        {
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "VirtualBox already has a VM named \"{}\"",
                    self.vm_name()
                ))
                .with_hint("pick another machine name (Berth names the VM after the machine)"));
            }
        }
        let (host, _) = options::parse_cidr(&self.cfg.hostonly_cidr)?;
        let ifs = vbox::parse_hostonlyifs(&vbox.run(&["list", "hostonlyifs"]).await?);
        for (i, a) in ifs.iter().enumerate() {
            if let Some(b) = ifs[i + 1..]
                .iter()
                .find(|b| b.name == a.name || (!a.ip.is_empty() && b.ip == a.ip))
            {
                let what = if b.name == a.name {
                    format!("name \"{}\"", a.name)
                } else {
                    format!("IP {}", a.ip)
                };
                return Err(Error::invalid(format!(
                    "VirtualBox has several host-only adapters with the same {what}"
                ))
                .with_hint("remove the extra one in VirtualBox's Host Network Manager"));
            }
        }
        let allowed = std::fs::read_to_string("/etc/vbox/networks.conf").unwrap_or_default();
        if !options::in_default_range(host) && !cfg!(windows) && allowed.trim().is_empty() {
            return Err(Error::invalid(format!(
                "VirtualBox (6.1.28 and later) refuses host-only addresses outside 192.168.56.0/21, such as {host}"
            ))
            .with_hint("keep the default --virtualbox-hostonly-cidr 192.168.56.1/24, or allow the range in /etc/vbox/networks.conf"));
        }
        Ok(())
    }

    async fn create(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.dir = ctx.machine_dir.to_path_buf();
        let vbox = VBox::new()?;
        let base = image::resolve_base(
            &mut self.cfg.base_image,
            &self.cfg.image_url,
            &self.cfg.image_checksum,
            ctx,
        )
        .await?;
        let (host, prefix) = options::parse_cidr(&self.cfg.hostonly_cidr)?;
        let ip = pick_address(host, prefix, &used_addresses(ctx.store_root, ctx.name))?;
        self.cfg.base.ip_address = ip.to_string();
        self.cfg.nat_mac = random_mac();
        self.cfg.hostonly_mac = random_mac();
        self.cfg.instance_id = seed::instance_id(ctx.name);
        let (key, public) =
            crate::ssh::generate_ed25519(ctx.machine_dir, &format!("berth-{}", ctx.name))?;
        self.cfg.base.ssh_key_path = key.display().to_string();
        let iso = seed::nocloud_seed(
            &seed::user_data(ctx.name, &self.cfg.base.ssh_user, &public),
            &seed::meta_data(&self.cfg.instance_id, ctx.name),
            Some(&network_config(
                &self.cfg.nat_mac,
                &self.cfg.hostonly_mac,
                ip,
                prefix,
            )),
        )?;
        crate::fsutil::atomic_write(&self.dir.join("seed.iso"), &iso, crate::fsutil::PUBLIC_MODE)?;
        ctx.progress.log(format!(
            "Converting {} to the VM's disk ({} MB)",
            base.display(),
            self.cfg.disk_mb
        ));
        self.import_disk(&vbox, &base).await?;
        self.create_vm(&vbox).await?;
        ctx.progress.log(format!(
            "Created VirtualBox VM \"{}\" ({} CPUs, {} MB)",
            ctx.name, self.cfg.cpus, self.cfg.memory_mb
        ));
        self.boot(ctx).await
    }

    async fn state(&self, timeout: Duration) -> MachineState {
        let Ok(vbox) = VBox::new() else {
            return MachineState::Error;
        };
        // A busy VBoxManage is killed when its future is dropped at the timeout.
        match tokio::time::timeout(timeout, self.vm_state(&vbox)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) if e.kind() == ErrorKind::NotFound => MachineState::NotFound,
            Ok(Err(_)) => MachineState::Error,
            Err(_) => MachineState::Timeout,
        }
    }

    async fn start(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        let vbox = VBox::new()?;
        match self.vm_state(&vbox).await? {
            MachineState::Running => Ok(()),
            MachineState::Paused => vbox
                .run(&["controlvm", self.vm_name(), "resume"])
                .await
                .map(|_| ()),
            // A saved VM keeps its settings (and refuses changes): just resume it.
            MachineState::Saved => {
                vbox.run(&["startvm", self.vm_name(), "--type", &self.cfg.ui_type])
                    .await?;
                let (this, vbox) = (&*self, &vbox);
                let alive = || async move {
                    matches!(this.vm_state(vbox).await, Ok(MachineState::Running))
                };
                super::localvm::wait_sshd(
                    self.cfg.base.ssh_port,
                    BOOT_TIMEOUT,
                    false,
                    ctx,
                    alive,
                    || self.boot_hint(),
                )
                .await
            }
            _ => self.boot(ctx).await,
        }
    }

    async fn stop(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        let vbox = VBox::new()?;
        let n = self.vm_name().to_string();
        if self.vm_state(&vbox).await? == MachineState::Paused {
            vbox.run(&["controlvm", &n, "resume"]).await?;
        }
        vbox.run(&["controlvm", &n, "acpipowerbutton"]).await?;
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        while Instant::now() < deadline {
            if self.vm_state(&vbox).await? == MachineState::Stopped {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        ctx.progress.warn(format!(
            "The VM did not shut down within {} s; powering it off",
            SHUTDOWN_TIMEOUT.as_secs()
        ));
        vbox.run(&["controlvm", &n, "poweroff"]).await.map(|_| ())
    }

    async fn kill(&mut self, _ctx: &DriverContext<'_>) -> Result<()> {
        VBox::new()?
            .run(&["controlvm", self.vm_name(), "poweroff"])
            .await
            .map(|_| ())
    }

    async fn restart(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.stop(ctx).await?;
        self.boot(ctx).await
    }

    async fn remove(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        if self.dir.as_os_str().is_empty() {
            self.dir = ctx.machine_dir.to_path_buf();
        }
        if !self.cfg.vm_created {
            // Create stopped before registering a VM: any VM of this name is not ours. Only
            // the disk it converted may sit in VirtualBox's media registry.
            let disk = self.dir.join("disk.vdi");
            if disk.is_file()
                && let Ok(vbox) = VBox::new()
            {
                let _ = vbox
                    .run(&["closemedium", "disk", &disk.to_string_lossy()])
                    .await;
            }
            return Ok(());
        }
        let vbox = VBox::new()?;
        let n = self.vm_name().to_string();
        match self.vm_state(&vbox).await {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
            Ok(
                MachineState::Running
                | MachineState::Paused
                | MachineState::Starting
                | MachineState::Stopping,
            ) => {
                vbox.run(&["controlvm", &n, "poweroff"]).await?;
            }
            Ok(_) => {}
        }
        vbox.run(&["unregistervm", "--delete", &n]).await?;
        ctx.progress.log(format!("Deleted VirtualBox VM \"{n}\""));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_macs_and_network_config() {
        let host: Ipv4Addr = "192.168.56.1".parse().unwrap();
        assert_eq!(
            pick_address(host, 24, &[]).unwrap().to_string(),
            "192.168.56.10"
        );
        let used = vec!["192.168.56.10".to_string(), "192.168.56.11".to_string()];
        assert_eq!(
            pick_address(host, 24, &used).unwrap().to_string(),
            "192.168.56.12"
        );
        assert!(
            pick_address(
                "10.0.0.1".parse().unwrap(),
                28,
                &(10..15).map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>()
            )
            .is_err()
        );
        let mac = random_mac();
        assert!(mac.starts_with("080027") && mac.len() == 12);
        let nc = network_config(
            "080027AABBCC",
            "080027DDEEFF",
            "192.168.56.10".parse().unwrap(),
            24,
        );
        assert!(
            nc.contains("macaddress: \"08:00:27:dd:ee:ff\"")
                && nc.contains("addresses: [192.168.56.10/24]"),
            "{nc}"
        );
        assert!(vtx_problem("00:00:01 Power up failed (VERR_VMX_NO_VMX)"));
        assert!(hypervisor_present("True\r\n") && !hypervisor_present("False"));
        assert!(!vtx_problem("all fine"));
    }
}
