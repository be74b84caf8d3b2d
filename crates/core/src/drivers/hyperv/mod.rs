//! `hyperv`: a Hyper-V VM through PowerShell's Hyper-V module, in docker-machine's cmdlet
//! sequence, with a current cloud image (raw → fixed VHD written by Berth → dynamic VHD by
//! Convert-VHD), the cloud-init seed as the DVD, an IPv4 filter on the VM's addresses, bounded
//! waits, and privilege and virtual-switch checks that say what to do.

pub mod vhd;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::OptionSpec;
use super::cloud::BaseFields;
use super::localvm::{image, seed};
use super::{
    Driver, DriverContext, DriverInfo, DriverKind, DriverOptions, MachineState, OptionKind,
};
use crate::error::{Error, Result};
use crate::ssh::SshTarget;

const IP_TIMEOUT: Duration = Duration::from_secs(300);
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
pub const DEFAULT_IMAGE_URL: &str =
    "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.raw";
const SWITCH_HINT: &str = "create an External switch in Hyper-V Manager (Virtual Switch Manager), or name one with --hyperv-virtual-switch (see `Get-VMSwitch`)";

pub fn info() -> DriverInfo {
    use OptionKind::*;
    let mut info = DriverInfo {
        name: "hyperv",
        title: "Hyper-V virtual machine",
        description: "A Linux VM in Hyper-V on Windows, on a virtual switch of your choice.",
        kind: DriverKind::Local,
        features: REGISTRATION.features,
        options: vec![
            OptionSpec::new("hyperv-virtual-switch", String)
                .label("Virtual switch")
                .help("switch to connect (default: the first External switch)")
                .env("HYPERV_VIRTUAL_SWITCH"),
            OptionSpec::new("hyperv-cpu-count", Int)
                .range(1, 64)
                .host_limit(crate::drivers::localvm::host::cpus())
                .label("CPUs")
                .help("virtual CPUs")
                .default("2")
                .env("HYPERV_CPU_COUNT"),
            OptionSpec::new("hyperv-memory", Int)
                .range(256, 1024 * 1024)
                .host_limit(crate::drivers::localvm::host::memory_mb())
                .label("Memory (MB)")
                .help("memory in MB")
                .default("2048")
                .env("HYPERV_MEMORY"),
            OptionSpec::new("hyperv-disk-size", Int)
                .range(2000, 64 * 1024 * 1024)
                .label("Disk (MB)")
                .help("disk size in MB")
                .default("20000")
                .env("HYPERV_DISK_SIZE"),
            OptionSpec::new("hyperv-image", Path)
                .label("Local image")
                .help("a local raw cloud image instead of downloading one")
                .env("HYPERV_IMAGE"),
            OptionSpec::new("hyperv-image-url", String)
                .label("Image URL")
                .help("raw cloud image to download (once; cached)")
                .default(DEFAULT_IMAGE_URL)
                .env("HYPERV_IMAGE_URL"),
            OptionSpec::new("hyperv-static-macaddress", String)
                .label("Static MAC")
                .help("a fixed MAC address for the network adapter")
                .env("HYPERV_STATIC_MACADDRESS"),
            OptionSpec::new("hyperv-vlan-id", Int)
                .range(0, 4094)
                .label("VLAN")
                .help("VLAN ID (0: none)")
                .default("0")
                .env("HYPERV_VLAN_ID"),
            OptionSpec::new("hyperv-disable-dynamic-memory", Bool)
                .label("Fixed memory")
                .help("turn dynamic memory off")
                .env("HYPERV_DISABLE_DYNAMIC_MEMORY"),
            OptionSpec::new("hyperv-ssh-user", String)
                .label("SSH user")
                .help("the user cloud-init makes for Berth")
                .default("berth"),
            OptionSpec::new("hyperv-share-folder", StringList)
                .label("Shared folders")
                .help("a folder of this computer to mount in the VM, HOST[:GUEST] (repeatable; default: C:\\Users at /c/Users)")
                .placeholder("C:\\src:/src"),
            OptionSpec::new("hyperv-no-share", Bool)
                .label("No shared folders")
                .help("do not mount C:\\Users (or any folder) in the VM"),
        ],
    };
    super::mark_advanced(
        &mut info.options,
        &[
            "hyperv-virtual-switch",
            "hyperv-cpu-count",
            "hyperv-memory",
            "hyperv-disk-size",
            "hyperv-share-folder",
            "hyperv-no-share",
        ],
    );
    info
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HyperVConfig {
    #[serde(flatten)]
    pub base: BaseFields,
    #[serde(rename = "VSwitch", default)]
    pub switch: String,
    #[serde(rename = "CPU")]
    pub cpus: u32,
    #[serde(rename = "MemSize")]
    pub memory_mb: u32,
    #[serde(rename = "DiskSize")]
    pub disk_mb: u32,
    #[serde(rename = "BaseImage", default)]
    pub base_image: String,
    #[serde(rename = "ImageURL", default)]
    pub image_url: String,
    #[serde(rename = "MacAddr", default)]
    pub mac: String,
    #[serde(rename = "VLanID", default)]
    pub vlan: u32,
    #[serde(rename = "DisableDynamicMemory", default)]
    pub fixed_memory: bool,
    #[serde(rename = "InstanceID", default)]
    pub instance_id: String,
    /// Berth made the VM (rm and rollback touch no VM Berth did not make).
    #[serde(rename = "VMCreated", default)]
    pub vm_created: bool,
    /// Folders of this computer mounted in the VM by reverse SSHFS (the port agent serves them).
    #[serde(rename = "Shares", default)]
    pub shares: Vec<super::workspace::SharedFolder>,
}

/// A PowerShell single-quoted string ('' escapes ').
pub fn quote(s: &str) -> String {
    // PowerShell also takes the typographic single quotes as quotes: double them too.
    let mut out = String::from("'");
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

pub struct PowerShell {
    bin: PathBuf,
}

impl PowerShell {
    /// powershell.exe (Windows PowerShell, which has the Hyper-V module); $BERTH_POWERSHELL in tests.
    pub fn find() -> Result<PowerShell> {
        if let Some(p) = std::env::var_os("BERTH_POWERSHELL").filter(|p| !p.is_empty()) {
            return Ok(PowerShell {
                bin: PathBuf::from(p),
            });
        }
        let exe = if cfg!(windows) {
            "powershell.exe"
        } else {
            "powershell"
        };
        std::env::var_os("PATH")
            .and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(exe))
                    .find(|p| p.is_file())
            })
            .map(|bin| PowerShell { bin })
            .ok_or_else(|| {
                Error::invalid("PowerShell was not found").with_hint(
                    "the hyperv driver runs on Windows with PowerShell and Hyper-V enabled",
                )
            })
    }

    /// Runs a script; its stdout (trimmed). A non-zero exit is an error with PowerShell's message.
    /// Waits without blocking the runtime; dropping the future (a timeout) kills PowerShell.
    pub async fn run(&self, script: &str) -> Result<String> {
        let out = crate::child::async_background(&self.bin)
            .args(["-NoProfile", "-NonInteractive", script])
            .output()
            .await
            .map_err(|e| Error::driver(format!("cannot run PowerShell: {e}")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            return Err(Error::driver(format!("Hyper-V: {first}")));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

fn valid_mac(m: &str) -> bool {
    let hex: String = m.chars().filter(|c| !matches!(c, ':' | '-')).collect();
    hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// This driver's registry entry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "hyperv",
    // Ports through Berth's own proxy (Hyper-V has no NAT rules on its switches); folders by
    // reverse SSHFS (Windows has no virtiofs host side), both kept by the port agent.
    features: crate::drivers::Features {
        port_forwarding: true,
        shared_folders: true,
        ..crate::drivers::Features::LOCAL_VM
    },
    info,
    availability: || {
        match PowerShell::find() {
        Ok(_) if cfg!(windows) || std::env::var_os("BERTH_POWERSHELL").is_some() => {
            super::registry::always_available()
        }
        _ => super::Availability {
            ready: false,
            missing: Some(
                "Hyper-V runs on Windows (Pro, Enterprise or Education) with the Hyper-V feature on"
                    .into(),
            ),
        },
    }
    },
    create: |name, info, o| Ok(Box::new(HyperV::from_options(name, info, o)?)),
    load: |v, root| Ok(Box::new(HyperV::from_config(v, root)?)),
};

pub struct HyperV {
    cfg: HyperVConfig,
    dir: PathBuf,
    /// Published container ports, forwarded by the port agent that holds this driver.
    proxies: super::portproxy::Proxies,
}

impl HyperV {
    pub fn from_options(name: &str, info: &DriverInfo, o: &DriverOptions) -> Result<HyperV> {
        let mac = o
            .string(info, "hyperv-static-macaddress")?
            .trim()
            .to_string();
        if !mac.is_empty() && !valid_mac(&mac) {
            return Err(Error::invalid(format!(
                "--hyperv-static-macaddress \"{mac}\" is not a MAC address"
            )));
        }
        let switch = o.string(info, "hyperv-virtual-switch")?.trim().to_string();
        if switch.chars().any(char::is_control) {
            return Err(Error::invalid(
                "--hyperv-virtual-switch contains control characters",
            ));
        }
        let image = o.path(info, "hyperv-image")?;
        if !image.is_empty() && !Path::new(&image).is_file() {
            return Err(Error::invalid(format!(
                "--hyperv-image \"{image}\" does not exist"
            )));
        }
        Ok(HyperV {
            cfg: HyperVConfig {
                base: BaseFields {
                    machine_name: name.to_string(),
                    ssh_user: o.ssh_user(info, "hyperv-ssh-user")?,
                    ssh_port: 22,
                    ..Default::default()
                },
                switch,
                cpus: o.int_in_range(info, "hyperv-cpu-count")?,
                memory_mb: o.int_in_range(info, "hyperv-memory")?,
                disk_mb: o.int_in_range(info, "hyperv-disk-size")?,
                base_image: image,
                image_url: o.string(info, "hyperv-image-url")?.trim().to_string(),
                mac,
                vlan: o.int_in_range(info, "hyperv-vlan-id")?,
                fixed_memory: o.bool(info, "hyperv-disable-dynamic-memory")?,
                shares: super::workspace::shares_from_flags(
                    "hyperv-share-folder",
                    &o.list("hyperv-share-folder"),
                    o.bool(info, "hyperv-no-share")?,
                )?,
                ..Default::default()
            },
            dir: PathBuf::new(),
            proxies: Default::default(),
        })
    }

    pub fn from_config(v: serde_json::Value, store_root: &Path) -> serde_json::Result<HyperV> {
        let cfg: HyperVConfig = serde_json::from_value(v)?;
        let dir = store_root.join("machines").join(&cfg.base.machine_name);
        Ok(HyperV {
            cfg,
            dir,
            proxies: Default::default(),
        })
    }

    fn vm(&self) -> String {
        quote(&self.cfg.base.machine_name)
    }

    /// How many VMs have this machine's name (an error if Hyper-V cannot be asked).
    async fn count_vms(&self, ps: &PowerShell) -> Result<usize> {
        let out = ps
            .run(&format!(
                "@(Hyper-V\\Get-VM | Where-Object {{ $_.Name -eq {} }}).Count",
                self.vm()
            ))
            .await?;
        out.trim()
            .parse()
            .map_err(|_| Error::driver(format!("Hyper-V answered \"{out}\" when counting VMs")))
    }

    async fn vm_state(&self, ps: &PowerShell) -> Result<MachineState> {
        let s = ps
            .run(&format!("( Hyper-V\\Get-VM {} ).state", self.vm()))
            .await
            .map_err(|e| Error::driver(format!("Failed to find the VM status: {}", e.message())))?;
        Ok(match s.as_str() {
            "Running" => MachineState::Running,
            "Off" => MachineState::Stopped,
            "Paused" => MachineState::Paused,
            "Saved" => MachineState::Saved,
            "Starting" => MachineState::Starting,
            "Stopping" => MachineState::Stopping,
            _ => MachineState::None,
        })
    }

    /// The switch to use: the named one (it must exist), else the first External switch.
    async fn choose_switch(&self, ps: &PowerShell) -> Result<String> {
        if self.cfg.switch.is_empty() {
            let out = ps.run("[Console]::OutputEncoding = [Text.Encoding]::UTF8; (Hyper-V\\Get-VMSwitch -SwitchType External).Name").await?;
            return out
                .lines()
                .next()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    Error::invalid("Hyper-V has no External virtual switch").with_hint(SWITCH_HINT)
                });
        }
        let all = ps
            .run("[Console]::OutputEncoding = [Text.Encoding]::UTF8; (Hyper-V\\Get-VMSwitch).Name")
            .await?;
        if all.lines().any(|l| l.trim() == self.cfg.switch) {
            Ok(self.cfg.switch.clone())
        } else {
            Err(Error::invalid(format!(
                "Hyper-V has no virtual switch \"{}\"",
                self.cfg.switch
            ))
            .with_hint(SWITCH_HINT))
        }
    }

    async fn is_admin(ps: &PowerShell) -> Result<bool> {
        Ok(ps.run("([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole([Security.Principal.WindowsBuiltInRole] \"Administrator\")").await? == "True")
    }

    /// The VM's first IPv4 address (the first one listed can be an IPv6 link-local address).
    async fn wait_ip(&mut self, ps: &PowerShell, ctx: &DriverContext<'_>) -> Result<()> {
        ctx.progress.log("Waiting for the VM's IP address...");
        let deadline = Instant::now() + IP_TIMEOUT;
        loop {
            if self.vm_state(ps).await? != MachineState::Running {
                return Err(
                    Error::driver("the VM is not running (it stopped while booting)")
                        .with_hint("look at the VM's console in Hyper-V Manager"),
                );
            }
            let out = ps
                .run(&format!(
                    "(( Hyper-V\\Get-VM {} ).networkadapters[0]).ipaddresses",
                    self.vm()
                ))
                .await?;
            if let Some(ip) = out
                .lines()
                .map(str::trim)
                .find(|l| l.parse::<std::net::Ipv4Addr>().is_ok())
            {
                self.cfg.base.ip_address = ip.to_string();
                ctx.progress.log(format!("The VM has {ip}"));
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::timeout(format!(
                    "the VM got no IPv4 address in {} s",
                    IP_TIMEOUT.as_secs()
                ))
                .with_hint("check that the virtual switch reaches a DHCP server"));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn boot(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        let ps = PowerShell::find()?;
        ps.run(&format!("Hyper-V\\Start-VM {}", self.vm())).await?;
        self.wait_ip(&ps, ctx).await?;
        super::cloud::wait_ssh(
            &self.cfg.base.ip_address,
            22,
            "VM",
            "check the VM's console in Hyper-V Manager",
            ctx,
        )
        .await
    }

    async fn power_off(&self, ps: &PowerShell, turn_off: bool) -> Result<()> {
        ps.run(&format!(
            "Hyper-V\\Stop-VM {}{}",
            self.vm(),
            if turn_off { " -TurnOff" } else { "" }
        ))
        .await?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.vm_state(ps).await? == MachineState::Running {
            if Instant::now() > deadline {
                return Err(
                    Error::timeout("the VM did not stop").with_hint("`berth kill` turns it off")
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    }
}

#[async_trait]
impl Driver for HyperV {
    fn name(&self) -> &'static str {
        "hyperv"
    }
    fn config(&self) -> Result<serde_json::Value> {
        super::config_value(self.name(), &self.cfg)
    }
    fn address(&self) -> Result<String> {
        self.cfg.base.address("VM")
    }
    fn ssh_target(&self) -> Option<SshTarget> {
        Some(self.cfg.base.ssh_target())
    }
    /// To the VM's own address on the switch, from Berth's proxy (it answers there anyway;
    /// this makes it answer on localhost too).
    async fn forward_port(&self, p: &super::workspace::PortSpec) -> Result<()> {
        let ip = self.address()?;
        let target = if ip.contains(':') {
            format!("[{ip}]:{}", p.port)
        } else {
            format!("{ip}:{}", p.port)
        };
        self.proxies.add(p, target).await
    }
    async fn unforward_port(&self, p: &super::workspace::PortSpec) -> Result<()> {
        self.proxies.remove(p);
        Ok(())
    }
    fn shares(&self) -> Vec<super::workspace::SharedFolder> {
        self.cfg.shares.clone()
    }
    fn shares_over_ssh(&self) -> bool {
        true
    }

    async fn pre_create_check(&self, _ctx: &DriverContext<'_>) -> Result<()> {
        let ps = PowerShell::find()?;
        if ps
            .run("@(Get-Module -ListAvailable hyper-v).Name | Get-Unique")
            .await?
            != "Hyper-V"
        {
            return Err(Error::invalid("the Hyper-V PowerShell module is not available")
                .with_hint("turn on Hyper-V: Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V -All (as Administrator), then restart"));
        }
        let hv_admin = ps.run("([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole(\"S-1-5-32-578\")").await? == "True";
        if !hv_admin && !Self::is_admin(&ps).await? {
            return Err(Error::invalid("Hyper-V commands need a Hyper-V Administrator or an Administrator")
                .with_hint("add yourself to the \"Hyper-V Administrators\" group (then sign out and in), or run Berth as Administrator"));
        }
        self.choose_switch(&ps).await?;
        if self.count_vms(&ps).await? > 0 {
            return Err(Error::invalid(format!(
                "Hyper-V already has a VM named \"{}\"",
                self.cfg.base.machine_name
            ))
            .with_hint("pick another machine name (Berth names the VM after the machine)"));
        }
        Ok(())
    }

    async fn create(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.dir = ctx.machine_dir.to_path_buf();
        let ps = PowerShell::find()?;
        self.cfg.switch = self.choose_switch(&ps).await?;
        let base =
            image::resolve_base(&mut self.cfg.base_image, &self.cfg.image_url, "", ctx).await?;
        let (key, public) =
            crate::ssh::generate_ed25519(ctx.machine_dir, &format!("berth-{}", ctx.name))?;
        self.cfg.base.ssh_key_path = key.display().to_string();
        self.cfg.instance_id = seed::instance_id(ctx.name);
        // Hyper-V learns the guest's address from its KVP daemon (Debian's hyperv-daemons);
        // sshfs mounts the shared folders.
        let user_data = format!(
            "{}packages:\n  - hyperv-daemons\n  - sshfs\n",
            seed::user_data(ctx.name, &self.cfg.base.ssh_user, &public)
        );
        let iso = seed::nocloud_seed(
            &user_data,
            &seed::meta_data(&self.cfg.instance_id, ctx.name),
            None,
        )?;
        let seed_path = self.dir.join("seed.iso");
        crate::fsutil::atomic_write(&seed_path, &iso, crate::fsutil::PUBLIC_MODE)?;

        ctx.progress
            .log(format!("Converting {} to the VM's disk", base.display()));
        let fixed = self.dir.join("fixed.vhd");
        let disk = self.dir.join("disk.vhd");
        // Copies the whole image: on a blocking thread, off the async runtime.
        let (src, dst) = (base.clone(), fixed.clone());
        tokio::task::spawn_blocking(move || vhd::raw_to_fixed_vhd(&src, &dst))
            .await
            .map_err(|e| Error::driver(format!("converting the image failed: {e}")))??;
        ps.run(&format!(
            "Hyper-V\\Convert-VHD -Path {} -DestinationPath {} -VHDType Dynamic -DeleteSource",
            quote(&fixed.display().to_string()),
            quote(&disk.display().to_string())
        ))
        .await?;
        if Self::is_admin(&ps).await? {
            ps.run(&format!(
                "Hyper-V\\Resize-VHD -Path {} -SizeBytes {}MB",
                quote(&disk.display().to_string()),
                self.cfg.disk_mb
            ))
            .await?;
        } else {
            ctx.progress.warn("Not an Administrator: the disk keeps the image's size (Resize-VHD needs Administrator)");
        }
        let vm = self.vm();
        ps.run(&format!(
            "Hyper-V\\New-VM {vm} -Path {} -SwitchName {} -MemoryStartupBytes {}MB",
            quote(&self.dir.display().to_string()),
            quote(&self.cfg.switch),
            self.cfg.memory_mb
        ))
        .await?;
        self.cfg.vm_created = true;
        if self.cfg.fixed_memory {
            ps.run(&format!(
                "Hyper-V\\Set-VMMemory -VMName {vm} -DynamicMemoryEnabled $false"
            ))
            .await?;
        }
        if self.cfg.cpus > 1 {
            ps.run(&format!(
                "Hyper-V\\Set-VMProcessor {vm} -Count {}",
                self.cfg.cpus
            ))
            .await?;
        }
        if !self.cfg.mac.is_empty() {
            ps.run(&format!(
                "Hyper-V\\Set-VMNetworkAdapter -VMName {vm} -StaticMacAddress {}",
                quote(&self.cfg.mac)
            ))
            .await?;
        }
        if self.cfg.vlan > 0 {
            ps.run(&format!(
                "Hyper-V\\Set-VMNetworkAdapterVlan -VMName {vm} -Access -VlanId {}",
                self.cfg.vlan
            ))
            .await?;
        }
        ps.run(&format!(
            "Hyper-V\\Set-VMDvdDrive -VMName {vm} -Path {}",
            quote(&seed_path.display().to_string())
        ))
        .await?;
        ps.run(&format!(
            "Hyper-V\\Add-VMHardDiskDrive -VMName {vm} -Path {}",
            quote(&disk.display().to_string())
        ))
        .await?;
        ctx.progress.log(format!(
            "Created Hyper-V VM on switch \"{}\"",
            self.cfg.switch
        ));
        self.boot(ctx).await
    }

    async fn state(&self, timeout: Duration) -> MachineState {
        let Ok(ps) = PowerShell::find() else {
            return MachineState::Error;
        };
        // A busy PowerShell is killed when its future is dropped at the timeout.
        match tokio::time::timeout(timeout, self.vm_state(&ps)).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => MachineState::Error,
            Err(_) => MachineState::Timeout,
        }
    }
    async fn start(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.boot(ctx).await
    }
    async fn stop(&mut self, _ctx: &DriverContext<'_>) -> Result<()> {
        self.power_off(&PowerShell::find()?, false).await
    }
    async fn kill(&mut self, _ctx: &DriverContext<'_>) -> Result<()> {
        self.power_off(&PowerShell::find()?, true).await
    }
    async fn restart(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.power_off(&PowerShell::find()?, false).await?;
        self.boot(ctx).await
    }
    async fn remove(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        if !self.cfg.vm_created {
            // Create stopped before New-VM: any VM of this name is not ours.
            return Ok(());
        }
        let ps = PowerShell::find()?;
        if self.count_vms(&ps).await? == 0 {
            return Ok(());
        }
        if matches!(
            self.vm_state(&ps).await?,
            MachineState::Running | MachineState::Paused | MachineState::Starting
        ) {
            self.power_off(&ps, true).await?;
        }
        ps.run(&format!("Hyper-V\\Remove-VM {} -Force", self.vm()))
            .await?;
        ctx.progress.log(format!(
            "Deleted Hyper-V VM \"{}\"",
            self.cfg.base.machine_name
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::cloud::test_options as opts;

    #[test]
    fn options_and_quoting() {
        let info = info();
        let h = HyperV::from_options("dev", &info, &opts(&[])).unwrap();
        assert_eq!(
            (h.cfg.cpus, h.cfg.memory_mb, h.cfg.disk_mb),
            (2, 2048, 20000)
        );
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote("O\u{2019}Brien"), "'O\u{2019}\u{2019}Brien'");
        for bad in [
            ("hyperv-static-macaddress", "00:11"),
            ("hyperv-vlan-id", "5000"),
            ("hyperv-memory", "1"),
        ] {
            assert!(
                HyperV::from_options("m", &info, &opts(&[bad])).is_err(),
                "{bad:?}"
            );
        }
        assert!(
            HyperV::from_options(
                "m",
                &info,
                &opts(&[("hyperv-static-macaddress", "00-15-5D-01-02-03")])
            )
            .is_ok()
        );
    }
}
