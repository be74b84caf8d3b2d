//! The qemu driver's options and what machine.json stores for it.

use serde::{Deserialize, Serialize};

use crate::drivers::OptionSpec;
use crate::drivers::cloud::BaseFields;
use crate::drivers::localvm::image::{Checksum, DEFAULT_IMAGE_URL};
use crate::drivers::workspace::{self, SharedFolder};
use crate::drivers::{DriverInfo, DriverKind, DriverOptions, OptionKind};
use crate::error::{Error, Result};

pub const DEFAULT_USER: &str = "berth";
pub const DEFAULT_CMDLINE: &str = "root=/dev/vda rw console=ttyS0";

pub fn info() -> DriverInfo {
    use OptionKind::*;
    let mut info = DriverInfo {
        name: "qemu",
        title: "QEMU virtual machine",
        description: "A Linux VM on this computer under QEMU (KVM, HVF or WHPX when they work, else software emulation), reached through forwarded 127.0.0.1 ports.",
        kind: DriverKind::Local,
        features: super::REGISTRATION.features,
        options: vec![
            OptionSpec::new("qemu-cpu-count", Int)
.range(1, 64)
.host_limit(crate::drivers::localvm::host::cpus())
.label("CPUs")
.help("virtual CPUs")
.default("2")
.env("QEMU_CPU_COUNT"),
            OptionSpec::new("qemu-memory", Int)
.range(256, 1024 * 1024)
.host_limit(crate::drivers::localvm::host::memory_mb())
.label("Memory (MB)")
.help("memory in MB")
.default("2048")
.env("QEMU_MEMORY"),
            OptionSpec::new("qemu-disk-size", Int)
.range(2, 16384)
.label("Disk (GB)")
.help("disk size in GB (the machine's own overlay on the shared base image)")
.default("20")
.env("QEMU_DISK_SIZE"),
            OptionSpec::new("qemu-image", Path)
.label("Local image")
.help("a local qcow2 or raw cloud image to use instead of downloading one")
.env("QEMU_IMAGE"),
            OptionSpec::new("qemu-image-url", String)
.label("Image URL")
.help("cloud image to download (once; cached for every machine)")
.default(DEFAULT_IMAGE_URL)
.env("QEMU_IMAGE_URL"),
            OptionSpec::new("qemu-image-checksum", String)
.label("Image checksum")
.help("sha256:HEX or sha512:HEX (default: the SHA512SUMS/SHA256SUMS published beside the image)")
.env("QEMU_IMAGE_CHECKSUM"),
            OptionSpec::new("qemu-accel", String)
.choices(&["auto", "kvm", "hvf", "whpx", "tcg"])
.label("Acceleration")
.help("auto (KVM/HVF/WHPX when they really work, else TCG), kvm, hvf, whpx or tcg")
.default("auto")
.env("QEMU_ACCEL"),
            OptionSpec::new("qemu-kernel", Path)
.label("Kernel")
.help("boot this kernel directly (images without a boot loader)"),
            OptionSpec::new("qemu-initrd", Path)
.label("Initrd")
.help("the initrd for --qemu-kernel"),
            OptionSpec::new("qemu-kernel-cmdline", String)
.label("Kernel command line")
.help("for --qemu-kernel")
.default(DEFAULT_CMDLINE),
            OptionSpec::new("qemu-ssh-user", String)
.label("SSH user")
.help("the user cloud-init makes for Berth")
.default(DEFAULT_USER)
.env("QEMU_SSH_USER"),
            OptionSpec::new("qemu-binary", Path)
.label("QEMU binary")
.help("qemu-system-* to use (default: from PATH)")
.env("QEMU_BINARY"),
            OptionSpec::new("qemu-share-folder", StringList)
.label("Shared folders")
.help("a folder of this computer to mount in the VM, HOST[:GUEST] (repeatable; default: your home folder at the same path)")
.placeholder("/home/me/src:/src"),
            OptionSpec::new("qemu-mount-type", String)
.choices(&["virtiofs", "reverse-sshfs"])
.label("Folder sharing")
.help("how the folders are mounted: virtiofs (Linux hosts; fastest) or reverse-sshfs (over SSH, any host)")
.default(default_mount_type()),
            OptionSpec::new("qemu-no-share", Bool)
.label("No shared folders")
.help("do not mount your home folder (or any folder) in the VM"),
            OptionSpec::new("qemu-publish-lan", Bool)
.label("Ports on the network")
.help("published container ports answer on all of this computer's addresses (reachable from your network), not only on 127.0.0.1"),
            OptionSpec::new("qemu-restrict-network", Bool)
.label("No outbound network")
.help("the VM reaches nothing outside (only its forwarded SSH and Docker ports are open)"),
        ],
    };
    crate::drivers::mark_advanced(
        &mut info.options,
        &[
            "qemu-cpu-count",
            "qemu-memory",
            "qemu-disk-size",
            "qemu-image",
            "qemu-share-folder",
            "qemu-mount-type",
            "qemu-no-share",
        ],
    );
    info
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct QemuConfig {
    #[serde(flatten)]
    pub base: BaseFields,
    #[serde(rename = "EnginePort", default)]
    pub engine_port: u16,
    /// Where records made before QMP moved to a Unix socket everywhere kept QMP's 127.0.0.1
    /// port (Windows): still read, never used or written again.
    #[serde(rename = "QMPPort", default, skip_serializing)]
    pub qmp_port: u16,
    #[serde(rename = "CPU")]
    pub cpus: u32,
    #[serde(rename = "Memory")]
    pub memory_mb: u32,
    #[serde(rename = "DiskSize")]
    pub disk_gb: u32,
    /// The image the overlay is based on (a local file, or the cached download).
    #[serde(rename = "BaseImage", default)]
    pub base_image: String,
    #[serde(rename = "ImageURL", default)]
    pub image_url: String,
    #[serde(rename = "ImageChecksum", default)]
    pub image_checksum: String,
    #[serde(rename = "Kernel", default)]
    pub kernel: String,
    #[serde(rename = "Initrd", default)]
    pub initrd: String,
    #[serde(rename = "KernelCmdline", default)]
    pub cmdline: String,
    /// What was asked for (auto, tcg, …) and what create found working.
    #[serde(rename = "AccelWanted", default)]
    pub accel_wanted: String,
    #[serde(rename = "Accel", default)]
    pub accel: String,
    #[serde(rename = "QemuBinary", default)]
    pub qemu_binary: String,
    #[serde(rename = "RestrictNetwork", default)]
    pub restrict_network: bool,
    #[serde(rename = "InstanceID", default)]
    pub instance_id: String,
    /// Folders of this computer mounted in the VM (none for machines made before shares).
    #[serde(rename = "Shares", default)]
    pub shares: Vec<SharedFolder>,
    #[serde(rename = "PublishLan", default)]
    pub publish_lan: bool,
    /// "virtiofs" or "reverse-sshfs" (empty in machines made before: virtiofs).
    #[serde(rename = "MountType", default)]
    pub mount_type: String,
}

/// virtiofs where its daemon runs (Linux); elsewhere reverse SSHFS.
pub fn default_mount_type() -> &'static str {
    if cfg!(target_os = "linux") {
        "virtiofs"
    } else {
        "reverse-sshfs"
    }
}

impl QemuConfig {
    /// The folders go over SSH (the port agent serves them), not through virtiofs.
    pub fn shares_over_ssh(&self) -> bool {
        self.mount_type == "reverse-sshfs"
    }
}

pub fn from_options(name: &str, info: &DriverInfo, o: &DriverOptions) -> Result<QemuConfig> {
    let accel = o.string(info, "qemu-accel")?.trim().to_ascii_lowercase();
    if !["auto", "kvm", "hvf", "whpx", "tcg"].contains(&accel.as_str()) {
        return Err(
            Error::invalid(format!("--qemu-accel \"{accel}\" is not an accelerator"))
                .with_hint("auto, kvm, hvf, whpx or tcg"),
        );
    }
    let image = o.path(info, "qemu-image")?;
    let url = o.string(info, "qemu-image-url")?.trim().to_string();
    if image.is_empty() && !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Error::invalid(format!(
            "--qemu-image-url \"{url}\" is not an http(s) URL"
        )));
    }
    let checksum = o.string(info, "qemu-image-checksum")?.trim().to_string();
    if !checksum.is_empty() {
        Checksum::parse(&checksum)?;
    }
    let kernel = o.path(info, "qemu-kernel")?;
    let initrd = o.path(info, "qemu-initrd")?;
    if kernel.is_empty() && !initrd.is_empty() {
        return Err(Error::invalid("--qemu-initrd needs --qemu-kernel"));
    }
    for (flag, p) in [
        ("qemu-image", &image),
        ("qemu-kernel", &kernel),
        ("qemu-initrd", &initrd),
    ] {
        if !p.is_empty() && !std::path::Path::new(p).is_file() {
            return Err(Error::invalid(format!("--{flag} \"{p}\" does not exist")));
        }
    }
    let cmdline = o.string(info, "qemu-kernel-cmdline")?;
    if cmdline.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            "--qemu-kernel-cmdline contains control characters",
        ));
    }
    Ok(QemuConfig {
        base: BaseFields {
            machine_name: name.to_string(),
            ip_address: "127.0.0.1".into(),
            ssh_user: o.ssh_user(info, "qemu-ssh-user")?,
            ..Default::default()
        },
        cpus: o.int_in_range(info, "qemu-cpu-count")?,
        memory_mb: o.int_in_range(info, "qemu-memory")?,
        disk_gb: o.int_in_range(info, "qemu-disk-size")?,
        base_image: image,
        image_url: url,
        image_checksum: checksum,
        kernel,
        initrd,
        cmdline,
        accel_wanted: accel,
        qemu_binary: o.path(info, "qemu-binary")?,
        restrict_network: o.bool(info, "qemu-restrict-network")?,
        shares: workspace::shares_from_flags(
            "qemu-share-folder",
            &o.list("qemu-share-folder"),
            o.bool(info, "qemu-no-share")?,
        )?,
        publish_lan: o.bool(info, "qemu-publish-lan")?,
        mount_type: mount_type(&o.string(info, "qemu-mount-type")?)?,
        ..Default::default()
    })
}

fn mount_type(v: &str) -> Result<String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default_mount_type().into()),
        t @ ("virtiofs" | "reverse-sshfs") => Ok(t.into()),
        _ => Err(Error::invalid(format!(
            "--qemu-mount-type \"{v}\" is not a way to share folders"
        ))
        .with_hint("use virtiofs or reverse-sshfs")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::cloud::test_options as opts;

    #[test]
    fn defaults_and_validation() {
        let info = info();
        let c = from_options("dev", &info, &opts(&[])).unwrap();
        assert_eq!((c.cpus, c.memory_mb, c.disk_gb), (2, 2048, 20));
        assert_eq!(c.base.ip_address, "127.0.0.1");
        assert_eq!(c.base.ssh_user, "berth");
        assert_eq!(c.accel_wanted, "auto");
        for bad in [
            ("qemu-accel", "fast"),
            ("qemu-memory", "12"),
            ("qemu-cpu-count", "0"),
            ("qemu-disk-size", "x"),
            ("qemu-image", "/nonexistent.qcow2"),
            ("qemu-initrd", "/etc/hostname"),
            ("qemu-image-checksum", "md5:1"),
            ("qemu-image-url", "ftp://x/y.img"),
        ] {
            assert!(from_options("m", &info, &opts(&[bad])).is_err(), "{bad:?}");
        }
    }

    /// A record from when Windows served QMP on a TCP port still loads; the port is dropped.
    #[test]
    fn old_records_with_a_qmp_port_load_and_lose_it() {
        let old = serde_json::json!({
            "MachineName": "m", "SSHUser": "berth", "SSHPort": 0, "CPU": 1, "Memory": 512, "DiskSize": 2,
            "QMPPort": 49152,
        });
        let c: QemuConfig = serde_json::from_value(old).unwrap();
        assert_eq!(c.qmp_port, 49152);
        assert!(serde_json::to_value(&c).unwrap().get("QMPPort").is_none());
    }
}
