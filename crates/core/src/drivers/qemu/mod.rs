//! `qemu`: a local VM under QEMU (the local default on Linux; HVF on macOS, WHPX on Windows).
//! A per-machine qcow2 overlay on a shared base image, a NoCloud seed Berth writes itself,
//! user-mode networking with SSH and the engine port forwarded from free 127.0.0.1 ports, QMP
//! on a Unix socket only the user can reach (qmp.rs) for state, ACPI shutdown and kill, and the
//! serial console kept in serial.log (QEMU's own messages in qemu.log).

pub mod accel;
pub mod options;
pub mod process;
pub mod qmp;
pub mod shares;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::localvm::{image, seed};
use super::workspace::{self, GuestMount, PortSpec, SharedFolder};
use super::{Driver, DriverContext, MachineState};
use crate::error::{Error, Result};
use crate::ssh::SshTarget;
pub use options::{QemuConfig, info};
use qmp::Qmp;

/// Booting to sshd: seconds with an accelerator, a minute or two under TCG.
const BOOT_TIMEOUT_ACCEL: Duration = Duration::from_secs(180);
const BOOT_TIMEOUT_TCG: Duration = Duration::from_secs(600);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
const QMP_TIMEOUT: Duration = Duration::from_secs(5);
/// QEMU setting the VM up (devices, port forwards) until it runs: well under a second.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(60);

/// This driver's registry entry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "qemu",
    features: crate::drivers::Features {
        port_forwarding: true,
        shared_folders: true,
        ..crate::drivers::Features::LOCAL_VM
    },
    info,
    availability: || match accel::find_qemu("") {
        Ok(_) => super::registry::always_available(),
        Err(_) => super::Availability {
            ready: false,
            missing: Some(accel::install_hint().to_string()),
        },
    },
    create: |name, info, o| Ok(Box::new(Qemu::from_options(name, info, o)?)),
    load: |v, root| Ok(Box::new(Qemu::from_config(v, root)?)),
};

pub struct Qemu {
    cfg: QemuConfig,
    dir: PathBuf,
    /// Why the last boot could not share the folders (virtiofsd missing or failing).
    share_problem: Option<String>,
}

/// The machine type: q35 on x86-64, virt on ARM (Apple Silicon, ARM Linux).
fn machine_type() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "virt"
    } else {
        "q35"
    }
}

/// UEFI firmware for ARM guests, where the usual packages put it (Homebrew, Debian, Fedora).
fn arm_firmware() -> Option<PathBuf> {
    if !cfg!(target_arch = "aarch64") {
        return None;
    }
    [
        "/opt/homebrew/share/qemu/edk2-aarch64-code.fd",
        "/usr/local/share/qemu/edk2-aarch64-code.fd",
        "/usr/share/qemu/edk2-aarch64-code.fd",
        "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
        "/usr/share/AAVMF/AAVMF_CODE.fd",
        "/usr/share/edk2/aarch64/QEMU_EFI.fd",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// A free TCP port on 127.0.0.1 (the OS picks it; QEMU binds it a moment later).
fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::io(format!("no free local port: {e}")))
}

fn port_free(port: u16) -> bool {
    port != 0 && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn tool_error(what: &str, out: &std::process::Output) -> Error {
    Error::driver(format!(
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

impl Qemu {
    pub fn from_options(
        name: &str,
        info: &super::DriverInfo,
        o: &super::DriverOptions,
    ) -> Result<Qemu> {
        Ok(Qemu {
            cfg: options::from_options(name, info, o)?,
            dir: PathBuf::new(),
            share_problem: None,
        })
    }

    pub fn from_config(v: serde_json::Value, store_root: &Path) -> serde_json::Result<Qemu> {
        let cfg: QemuConfig = serde_json::from_value(v)?;
        let dir = store_root.join("machines").join(&cfg.base.machine_name);
        Ok(Qemu {
            cfg,
            dir,
            share_problem: None,
        })
    }

    fn disk(&self) -> PathBuf {
        self.dir.join("disk.qcow2")
    }
    fn seed(&self) -> PathBuf {
        self.dir.join("seed.iso")
    }
    fn pidfile(&self) -> PathBuf {
        self.dir.join("qemu.pid")
    }
    pub fn serial_log(&self) -> PathBuf {
        self.dir.join("serial.log")
    }
    /// What QEMU itself prints (errors starting the VM, warnings).
    fn qemu_log(&self) -> PathBuf {
        self.dir.join("qemu.log")
    }
    /// The QMP socket: in the machine directory, else in the user's private directory.
    fn qmp_socket(&self) -> Result<PathBuf> {
        qmp::socket_path(&self.dir)
    }

    async fn pid(&self) -> Option<u32> {
        let pid = std::fs::read_to_string(self.pidfile())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        process::alive(pid, &self.disk()).await.then_some(pid)
    }

    fn qemu(&self) -> Result<PathBuf> {
        accel::find_qemu(&self.cfg.qemu_binary)
    }

    /// qemu-img: beside qemu-system-*, else on PATH.
    fn qemu_img(&self) -> Result<PathBuf> {
        let qemu = self.qemu()?;
        let exe = if cfg!(windows) {
            "qemu-img.exe"
        } else {
            "qemu-img"
        };
        let beside = qemu.with_file_name(exe);
        if beside.is_file() {
            return Ok(beside);
        }
        std::env::var_os("PATH")
            .and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(exe))
                    .find(|p| p.is_file())
            })
            .ok_or_else(|| {
                Error::invalid("qemu-img was not found").with_hint(accel::install_hint())
            })
    }

    async fn image_format(&self, image: &Path) -> Result<String> {
        let out = crate::child::async_background(self.qemu_img()?)
            .args(["info", "--output=json"])
            .arg(image)
            .output()
            .await
            .map_err(|e| Error::driver(format!("cannot run qemu-img: {e}")))?;
        if !out.status.success() {
            return Err(tool_error(
                &format!("qemu-img info {}", image.display()),
                &out,
            ));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| Error::driver(format!("qemu-img info: {e}")))?;
        match v["format"].as_str() {
            Some(f @ ("qcow2" | "raw")) => Ok(f.to_string()),
            other => Err(Error::invalid(format!(
                "{} is a {} image; Berth takes qcow2 or raw",
                image.display(),
                other.unwrap_or("unknown")
            ))),
        }
    }

    async fn make_overlay(&self, base: &Path) -> Result<()> {
        let format = self.image_format(base).await?;
        let out = crate::child::async_background(self.qemu_img()?)
            .args(["create", "-q", "-f", "qcow2", "-F", &format, "-b"])
            .arg(base)
            .arg(self.disk())
            .arg(format!("{}G", self.cfg.disk_gb))
            .output()
            .await
            .map_err(|e| Error::driver(format!("cannot run qemu-img: {e}")))?;
        if !out.status.success() {
            return Err(tool_error("qemu-img create", &out));
        }
        Ok(())
    }

    fn write_seed(&self, public_key: &str) -> Result<()> {
        let name = &self.cfg.base.machine_name;
        let iso = seed::nocloud_seed(
            &seed::user_data(name, &self.cfg.base.ssh_user, public_key),
            &seed::meta_data(&self.cfg.instance_id, name),
            None,
        )?;
        crate::fsutil::atomic_write(&self.seed(), &iso, crate::fsutil::PUBLIC_MODE)
    }

    /// The forwarded ports, re-picked when another program took them since the last boot.
    fn ensure_ports(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        let c = &mut self.cfg;
        let mut picked: Vec<u16> = Vec::new();
        for (what, port) in [
            ("SSH", &mut c.base.ssh_port),
            ("Docker", &mut c.engine_port),
        ] {
            if !port_free(*port) || picked.contains(port) {
                if *port != 0 {
                    ctx.progress
                        .log(format!("Port {} is taken: {what} moves", *port));
                }
                *port = loop {
                    let p = free_port()?;
                    if !picked.contains(&p) {
                        break p;
                    }
                };
            }
            picked.push(*port);
        }
        Ok(())
    }

    fn qemu_args(&self, qmp_socket: &Path, share_sockets: &[PathBuf]) -> Vec<String> {
        let c = &self.cfg;
        // QEMU splits option values at commas; a comma in a path is written twice.
        let path = |p: PathBuf| p.display().to_string().replace(',', ",,");
        let mut net = format!(
            "user,id=net0,hostfwd=tcp:127.0.0.1:{}-:22,hostfwd=tcp:127.0.0.1:{}-:2376",
            c.base.ssh_port, c.engine_port
        );
        if c.restrict_network {
            net.push_str(",restrict=on");
        }
        // `host` exists only under KVM and HVF (released QEMU refuses it under WHPX).
        let cpu = if matches!(c.accel.as_str(), "kvm" | "hvf") {
            "host"
        } else {
            "max"
        };
        let mut a: Vec<String> = vec![
            "-name".into(),
            format!("berth-{}", c.base.machine_name),
            "-machine".into(),
            format!("{},accel={}", machine_type(), c.accel),
            "-cpu".into(),
            cpu.into(),
            "-smp".into(),
            c.cpus.to_string(),
            "-m".into(),
            c.memory_mb.to_string(),
            "-nodefaults".into(),
            "-display".into(),
            "none".into(),
            "-drive".into(),
            format!(
                "file={},if=virtio,format=qcow2,discard=unmap",
                path(self.disk())
            ),
            "-drive".into(),
            format!(
                "file={},if=virtio,format=raw,readonly=on",
                path(self.seed())
            ),
            "-netdev".into(),
            net,
            "-device".into(),
            "virtio-net-pci,netdev=net0".into(),
            "-device".into(),
            "virtio-rng-pci".into(),
            "-serial".into(),
            format!("file:{}", path(self.serial_log())),
            "-qmp".into(),
            qmp::qemu_arg(qmp_socket),
        ];
        a.extend(shares::qemu_args(share_sockets, c.memory_mb));
        if c.kernel.is_empty()
            && let Some(fw) = arm_firmware()
        {
            // ARM's virt machine has no BIOS: UEFI firmware boots the cloud image.
            a.extend(["-bios".into(), fw.display().to_string()]);
        }
        if !c.kernel.is_empty() {
            a.extend([
                "-kernel".into(),
                c.kernel.clone(),
                "-append".into(),
                c.cmdline.clone(),
            ]);
            if !c.initrd.is_empty() {
                a.extend(["-initrd".into(), c.initrd.clone()]);
            }
        }
        a
    }

    /// Starts QEMU in the background and waits for sshd.
    async fn boot(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.ensure_ports(ctx)?;
        let qemu = self.qemu()?;
        qmp::check_qemu(&qemu).await?;
        let socket = self.qmp_socket()?;
        // A socket left by a QEMU that did not exit cleanly.
        let _ = std::fs::remove_file(&socket);
        let share_sockets = self.launch_shares(ctx).await;
        let mut cmd = crate::child::background(qemu);
        // Not the user's working directory: QEMU would keep it busy for the VM's life.
        cmd.args(self.qemu_args(&socket, &share_sockets))
            .current_dir(&self.dir);
        // Reaped by a thread however this ends, a cancelled create included.
        let mut child = process::Launched::new(process::spawn(cmd, &self.qemu_log())?);
        let pid = child.id().to_string();
        if let Err(e) =
            crate::fsutil::atomic_write(&self.pidfile(), pid.as_bytes(), crate::fsutil::PUBLIC_MODE)
        {
            child.kill();
            return Err(e);
        }
        self.wait_launched(child, &socket).await?;
        ctx.progress.log(format!(
            "VM started ({}, {} CPUs, {} MB; SSH on 127.0.0.1:{}, Docker on 127.0.0.1:{})",
            self.cfg.accel,
            self.cfg.cpus,
            self.cfg.memory_mb,
            self.cfg.base.ssh_port,
            self.cfg.engine_port
        ));
        self.wait_sshd(ctx).await
    }

    /// The virtiofs daemons for the shared folders; none (and a warning) when they cannot run:
    /// a VM without the user's folders is still a working machine.
    async fn launch_shares(&mut self, ctx: &DriverContext<'_>) -> Vec<PathBuf> {
        self.share_problem = None;
        if self.cfg.shares.is_empty() || self.cfg.shares_over_ssh() {
            return vec![];
        }
        match shares::launch(&self.dir, &self.cfg.shares).await {
            Ok(sockets) => sockets,
            Err(e) => {
                ctx.progress
                    .warn(format!("Folders are not shared: {}", e.message()));
                self.share_problem = Some(e.message().to_string());
                vec![]
            }
        }
    }

    /// Waits until QEMU runs this VM (QMP answers with its name and `running`), or says why
    /// QEMU exited: a port taken meanwhile, a bad image, an accelerator that went away.
    async fn wait_launched(&self, mut child: process::Launched, qmp: &Path) -> Result<()> {
        let deadline = Instant::now() + LAUNCH_TIMEOUT;
        let name = format!("berth-{}", self.cfg.base.machine_name);
        loop {
            if let Some(status) = child.exited() {
                return Err(Error::driver(format!(
                    "starting QEMU failed ({status}): {}",
                    super::localvm::log_tail(&self.qemu_log(), 10).trim()
                ))
                .with_hint(format!(
                    "QEMU's messages are in {}; the VM's console log is {}",
                    self.qemu_log().display(),
                    self.serial_log().display()
                )));
            }
            if let Ok(mut q) = Qmp::connect(qmp, Duration::from_secs(2)).await
                && q.name(QMP_TIMEOUT).await.is_ok_and(|n| n == name)
                && q.status(QMP_TIMEOUT).await.is_ok_and(|s| s == "running")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                child.kill();
                return Err(Error::timeout(format!(
                    "QEMU did not start the VM within {} s",
                    LAUNCH_TIMEOUT.as_secs()
                ))
                .with_hint(super::localvm::log_hint("QEMU log", &self.qemu_log())));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_sshd(&self, ctx: &DriverContext<'_>) -> Result<()> {
        let tcg = self.cfg.accel == "tcg";
        let limit = if tcg {
            BOOT_TIMEOUT_TCG
        } else {
            BOOT_TIMEOUT_ACCEL
        };
        super::localvm::wait_sshd(
            self.cfg.base.ssh_port,
            limit,
            tcg,
            ctx,
            || async move { self.pid().await.is_some() },
            || self.console_hint(),
        )
        .await
    }

    fn console_hint(&self) -> String {
        super::localvm::log_hint("console log", &self.serial_log())
    }

    async fn qmp(&self) -> Result<Qmp> {
        Qmp::connect(&self.qmp_socket()?, QMP_TIMEOUT).await
    }

    async fn wait_exit(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.pid().await.is_none() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        false
    }

    async fn power_off(&mut self, ctx: &DriverContext<'_>, clean: bool) -> Result<()> {
        let r = self.power_off_qemu(ctx, clean).await;
        // virtiofsd ends with QEMU's socket; one left by a QEMU that failed to start does not.
        shares::stop_all(&self.dir).await;
        r
    }

    async fn power_off_qemu(&mut self, ctx: &DriverContext<'_>, clean: bool) -> Result<()> {
        let Some(pid) = self.pid().await else {
            return Ok(());
        };
        if clean {
            self.qmp().await?.powerdown(QMP_TIMEOUT).await?;
            if self.wait_exit(SHUTDOWN_TIMEOUT).await {
                return Ok(());
            }
            ctx.progress.warn(format!(
                "The VM did not shut down within {} s; stopping it hard",
                SHUTDOWN_TIMEOUT.as_secs()
            ));
        }
        let quit = match self.qmp().await {
            Ok(mut q) => q.quit(QMP_TIMEOUT).await,
            Err(e) => Err(e),
        };
        if quit.is_err() || !self.wait_exit(Duration::from_secs(10)).await {
            // Checked again right before: still this machine's QEMU.
            if self.pid().await == Some(pid) {
                process::kill(pid).await;
            }
            self.wait_exit(Duration::from_secs(10)).await;
        }
        Ok(())
    }
}

#[async_trait]
impl Driver for Qemu {
    fn name(&self) -> &'static str {
        "qemu"
    }
    fn config(&self) -> Result<serde_json::Value> {
        super::config_value(self.name(), &self.cfg)
    }
    fn address(&self) -> Result<String> {
        Ok("127.0.0.1".into())
    }
    fn engine_url(&self) -> Result<String> {
        if self.cfg.engine_port == 0 {
            return Err(Error::driver("the VM has no Docker port yet"));
        }
        Ok(format!("tcp://127.0.0.1:{}", self.cfg.engine_port))
    }
    fn ssh_target(&self) -> Option<SshTarget> {
        Some(self.cfg.base.ssh_target())
    }
    fn shares(&self) -> Vec<SharedFolder> {
        self.cfg.shares.clone()
    }
    fn share_problem(&self) -> Option<String> {
        self.share_problem.clone()
    }
    fn shares_over_ssh(&self) -> bool {
        self.cfg.shares_over_ssh()
    }
    fn guest_mounts(&self) -> Vec<GuestMount> {
        if self.share_problem.is_some() || self.cfg.shares_over_ssh() {
            return vec![];
        }
        workspace::guest_mounts("virtiofs", &self.cfg.shares)
    }
    fn ports_on_lan(&self) -> bool {
        self.cfg.publish_lan
    }
    /// A rule on QEMU's user network, added while the VM runs (QMP carries the monitor
    /// command): QEMU itself listens on this computer, TCP and UDP alike.
    async fn forward_port(&self, p: &PortSpec) -> Result<()> {
        workspace::host_port_free(p)?;
        let rule = format!("{}:{}:{}-:{}", p.proto.as_str(), p.host_ip, p.port, p.port);
        let out = self
            .qmp()
            .await?
            .human(&format!("hostfwd_add net0 {rule}"), QMP_TIMEOUT)
            .await?;
        if out.trim().is_empty() {
            Ok(())
        } else {
            Err(Error::driver(format!("QEMU: {}", out.trim())))
        }
    }
    /// libslirp removes the first socket bound to the port, which may be a connection made
    /// through the forward rather than its listener: removed again until the port is free
    /// here (or QEMU has nothing left on it).
    async fn unforward_port(&self, p: &PortSpec) -> Result<()> {
        let rule = format!("{}:{}:{}", p.proto.as_str(), p.host_ip, p.port);
        let mut qmp = self.qmp().await?;
        for _ in 0..64 {
            let out = qmp
                .human(&format!("hostfwd_remove net0 {rule}"), QMP_TIMEOUT)
                .await?;
            if out.contains("not found") || workspace::host_port_free(p).is_ok() {
                return Ok(());
            }
            if !out.contains("removed") {
                return Err(Error::driver(format!("QEMU: {}", out.trim())));
            }
        }
        Err(Error::driver(format!(
            "QEMU still holds {} port {} after removing its forward",
            p.proto.as_str(),
            p.port
        )))
    }

    async fn pre_create_check(&self, ctx: &DriverContext<'_>) -> Result<()> {
        let qemu = self.qemu()?;
        qmp::check_qemu(&qemu).await?;
        self.qemu_img()?;
        if !self.cfg.base_image.is_empty() {
            self.image_format(Path::new(&self.cfg.base_image)).await?;
        }
        if cfg!(target_arch = "aarch64") && self.cfg.kernel.is_empty() && arm_firmware().is_none() {
            return Err(Error::invalid("no UEFI firmware for ARM VMs was found")
                .with_hint("install it: brew install qemu (macOS), sudo apt install qemu-efi-aarch64 (Debian/Ubuntu)"));
        }
        ctx.progress.log(format!("QEMU: {}", qemu.display()));
        Ok(())
    }

    async fn create(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.dir = ctx.machine_dir.to_path_buf();
        let qemu = self.qemu()?;
        let (accel, warning) =
            accel::choose(&qemu, &self.cfg.accel_wanted, ctx.machine_dir).await?;
        if let Some(w) = warning {
            ctx.progress.warn(w);
        }
        self.cfg.accel = accel;
        let base = image::resolve_base(
            &mut self.cfg.base_image,
            &self.cfg.image_url,
            &self.cfg.image_checksum,
            ctx,
        )
        .await?;
        let (key, public) =
            crate::ssh::generate_ed25519(ctx.machine_dir, &format!("berth-{}", ctx.name))?;
        self.cfg.base.ssh_key_path = key.display().to_string();
        self.cfg.instance_id = seed::instance_id(ctx.name);
        self.make_overlay(&base).await?;
        self.write_seed(&public)?;
        ctx.progress.log(format!(
            "Disk: {} GB overlay on {}",
            self.cfg.disk_gb,
            base.display()
        ));
        self.boot(ctx).await
    }

    async fn state(&self, timeout: Duration) -> MachineState {
        // Finding QEMU asks a program outside Linux (ps, PowerShell): within the timeout too.
        let deadline = tokio::time::Instant::now() + timeout;
        let Ok(pid) = tokio::time::timeout_at(deadline, self.pid()).await else {
            return MachineState::Timeout;
        };
        if pid.is_none() {
            return if self.disk().is_file() {
                MachineState::Stopped
            } else {
                MachineState::Error
            };
        }
        let status = async { self.qmp().await?.status(QMP_TIMEOUT).await };
        match tokio::time::timeout_at(deadline, status).await {
            Ok(Ok(s)) => match s.as_str() {
                "running" => MachineState::Running,
                "paused" | "suspended" => MachineState::Paused,
                "shutdown" => MachineState::Stopping,
                "prelaunch" | "inmigrate" => MachineState::Starting,
                _ => MachineState::Error,
            },
            Ok(Err(_)) => MachineState::Error,
            Err(_) => MachineState::Timeout,
        }
    }

    async fn start(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        if self.pid().await.is_some() {
            return Ok(());
        }
        if self.cfg.accel != "tcg" && self.cfg.accel_wanted == "auto" {
            // What worked at create may not now (a kernel update, nested virtualisation).
            let (accel, warning) = accel::choose(&self.qemu()?, "auto", &self.dir).await?;
            if let Some(w) = warning {
                ctx.progress.warn(w);
            }
            self.cfg.accel = accel;
        }
        self.boot(ctx).await
    }
    async fn stop(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.power_off(ctx, true).await
    }
    async fn kill(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.power_off(ctx, false).await
    }
    async fn restart(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.power_off(ctx, true).await?;
        self.boot(ctx).await
    }
    async fn remove(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        if self.dir.as_os_str().is_empty() {
            self.dir = ctx.machine_dir.to_path_buf();
        }
        self.power_off(ctx, false).await?;
        // Outside the machine directory when its path is too long for a socket.
        if let Ok(socket) = self.qmp_socket() {
            let _ = std::fs::remove_file(socket);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    /// A VM QEMU refuses to start (here its disk is missing) fails at once with QEMU's own
    /// words, which qemu.log keeps, and leaves no process behind. Skipped without QEMU
    /// (scripts/test.sh installs it).
    #[tokio::test]
    async fn a_vm_qemu_refuses_fails_at_once_with_qemus_words() {
        let Some(qemu) = accel::qemu_for_tests() else {
            return;
        };
        let store = tempfile::tempdir().expect("tempdir");
        let dir = store.path().join("machines").join("bad");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let cfg = serde_json::json!({
            "MachineName": "bad", "SSHUser": "berth", "SSHPort": 0,
            "CPU": 1, "Memory": 64, "DiskSize": 2, "Accel": "tcg",
            "QemuBinary": qemu.display().to_string(),
        });
        let mut vm = Qemu::from_config(cfg, store.path()).expect("config");
        let ctx = DriverContext {
            name: "bad",
            store_root: store.path(),
            machine_dir: &dir,
            progress: &Silent,
            records: None,
        };
        let started = Instant::now();
        let err = vm.boot(&ctx).await.expect_err("no disk, no VM");
        assert!(started.elapsed() < LAUNCH_TIMEOUT, "{err}");
        assert!(err.message().contains("starting QEMU failed"), "{err}");
        assert!(err.message().contains("disk.qcow2"), "QEMU's words: {err}");
        let log = std::fs::read_to_string(dir.join("qemu.log")).expect("qemu.log");
        assert!(log.contains("disk.qcow2"), "{log}");
        assert!(vm.pid().await.is_none(), "no QEMU left");
        // The ports it was given are recorded for the next try.
        assert_ne!(vm.cfg.base.ssh_port, 0);
        assert_ne!(vm.cfg.engine_port, vm.cfg.base.ssh_port);
    }
}
