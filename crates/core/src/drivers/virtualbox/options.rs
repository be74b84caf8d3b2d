//! The virtualbox driver's options and what machine.json stores for it.

use serde::{Deserialize, Serialize};

use crate::drivers::OptionSpec;
use crate::drivers::cloud::BaseFields;
use crate::drivers::localvm::image::Checksum;
use crate::drivers::{DriverInfo, DriverKind, DriverOptions, OptionKind};
use crate::error::{Error, Result};

/// Debian 12's generic cloud image as a raw disk (VirtualBox converts raw, not qcow2).
pub const DEFAULT_IMAGE_URL: &str =
    "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.raw";
/// Inside 192.168.56.0/21, the only host-only range VirtualBox ≥ 6.1.28 allows on Linux and
/// macOS without /etc/vbox/networks.conf (docker-machine's 192.168.99.1/24 is refused there).
pub const DEFAULT_HOSTONLY_CIDR: &str = "192.168.56.1/24";

/// The NIC models VirtualBox emulates.
const NIC_TYPES: &[&str] = &[
    "82540EM",
    "82543GC",
    "82545EM",
    "Am79C970A",
    "Am79C973",
    "virtio",
];

pub fn info() -> DriverInfo {
    use OptionKind::*;
    let mut info = DriverInfo {
        name: "virtualbox",
        title: "VirtualBox virtual machine",
        description: "A Linux VM in VirtualBox: SSH through a NAT port on 127.0.0.1, Docker on a host-only network with a fixed address.",
        kind: DriverKind::Local,
        features: super::REGISTRATION.features,
        options: vec![
            OptionSpec::new("virtualbox-cpu-count", Int)
                .range(1, 32)
                .host_limit(crate::drivers::localvm::host::cpus())
                .label("CPUs")
                .help("virtual CPUs")
                .default("2")
                .env("VIRTUALBOX_CPU_COUNT"),
            OptionSpec::new("virtualbox-memory", Int)
                .range(256, 1024 * 1024)
                .host_limit(crate::drivers::localvm::host::memory_mb())
                .label("Memory (MB)")
                .help("memory in MB")
                .default("2048")
                .env("VIRTUALBOX_MEMORY_SIZE"),
            OptionSpec::new("virtualbox-disk-size", Int)
                .range(2000, 16 * 1024 * 1024)
                .label("Disk (MB)")
                .help("disk size in MB")
                .default("20000")
                .env("VIRTUALBOX_DISK_SIZE"),
            OptionSpec::new("virtualbox-image", Path)
                .label("Local image")
                .help("a local cloud image (raw, VDI or VMDK) instead of downloading one")
                .env("VIRTUALBOX_IMAGE"),
            OptionSpec::new("virtualbox-image-url", String)
                .label("Image URL")
                .help("raw cloud image to download (once; cached for every machine)")
                .default(DEFAULT_IMAGE_URL)
                .env("VIRTUALBOX_IMAGE_URL"),
            OptionSpec::new("virtualbox-image-checksum", String)
                .label("Image checksum")
                .help("sha256:HEX or sha512:HEX (default: the published SUMS file)"),
            OptionSpec::new("virtualbox-hostonly-cidr", String)
                .label("Host-only network")
                .help("the host's address on the host-only network, with its prefix")
                .default(DEFAULT_HOSTONLY_CIDR)
                .env("VIRTUALBOX_HOSTONLY_CIDR"),
            OptionSpec::new("virtualbox-hostonly-nictype", String)
                .choices(NIC_TYPES)
                .label("Host-only NIC type")
                .help("virtual network card of the host-only adapter")
                .default("82540EM")
                .env("VIRTUALBOX_HOSTONLY_NIC_TYPE"),
            OptionSpec::new("virtualbox-nat-nictype", String)
                .choices(NIC_TYPES)
                .label("NAT NIC type")
                .help("virtual network card of the NAT adapter")
                .default("82540EM")
                .env("VIRTUALBOX_NAT_NICTYPE"),
            OptionSpec::new("virtualbox-ui-type", String)
                .choices(&["headless", "gui", "sdl", "separate"])
                .label("Window")
                .help("headless, gui, sdl or separate")
                .default("headless")
                .env("VIRTUALBOX_UI_TYPE"),
            OptionSpec::new("virtualbox-no-vtx-check", Bool)
                .label("Skip the VT-x check")
                .help("do not check for hardware virtualisation first")
                .env("VIRTUALBOX_NO_VTX_CHECK"),
            OptionSpec::new("virtualbox-share-folder", StringList)
                .label("Shared folders")
                .help("a folder of this computer to mount in the VM, HOST[:GUEST] (repeatable; default: your home folder at the same path, C:\\Users as /c/Users on Windows)")
                .placeholder("/home/me/src:/src")
                .env("VIRTUALBOX_SHARE_FOLDER"),
            OptionSpec::new("virtualbox-no-share", Bool)
                .label("No shared folders")
                .help("do not mount your home folder (or any folder) in the VM")
                .env("VIRTUALBOX_NO_SHARE"),
            OptionSpec::new("virtualbox-publish-lan", Bool)
                .label("Ports on the network")
                .help("published container ports answer on all of this computer's addresses (reachable from your network), not only on 127.0.0.1"),
            OptionSpec::new("virtualbox-ssh-user", String)
                .label("SSH user")
                .help("the user cloud-init makes for Berth")
                .default("berth"),
        ],
    };
    crate::drivers::mark_advanced(
        &mut info.options,
        &[
            "virtualbox-cpu-count",
            "virtualbox-memory",
            "virtualbox-disk-size",
            "virtualbox-image",
            "virtualbox-share-folder",
            "virtualbox-no-share",
        ],
    );
    info
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct VBoxConfig {
    /// `IPAddress` is the fixed host-only address (the engine's); SSH goes through `SSHPort`
    /// on 127.0.0.1.
    #[serde(flatten)]
    pub base: BaseFields,
    #[serde(rename = "CPU")]
    pub cpus: u32,
    #[serde(rename = "Memory")]
    pub memory_mb: u32,
    #[serde(rename = "DiskSize")]
    pub disk_mb: u32,
    #[serde(rename = "BaseImage", default)]
    pub base_image: String,
    #[serde(rename = "ImageURL", default)]
    pub image_url: String,
    #[serde(rename = "ImageChecksum", default)]
    pub image_checksum: String,
    #[serde(rename = "HostOnlyCIDR")]
    pub hostonly_cidr: String,
    #[serde(rename = "HostOnlyNicType")]
    pub hostonly_nic_type: String,
    #[serde(rename = "NatNicType")]
    pub nat_nic_type: String,
    #[serde(rename = "UIType")]
    pub ui_type: String,
    #[serde(rename = "NoVTXCheck", default)]
    pub no_vtx_check: bool,
    #[serde(rename = "NatMAC", default)]
    pub nat_mac: String,
    #[serde(rename = "HostOnlyMAC", default)]
    pub hostonly_mac: String,
    #[serde(rename = "InstanceID", default)]
    pub instance_id: String,
    /// Berth registered the VM (rm and rollback touch no VM Berth did not make).
    #[serde(rename = "VMCreated", default)]
    pub vm_created: bool,
    /// Folders of this computer shared with the VM (VirtualBox shared folders, mounted with
    /// vboxsf).
    #[serde(rename = "Shares", default)]
    pub shares: Vec<crate::drivers::workspace::SharedFolder>,
    #[serde(rename = "PublishLan", default)]
    pub publish_lan: bool,
}

/// `a.b.c.d/n` → (address, prefix), the address not being the network's own.
pub fn parse_cidr(cidr: &str) -> Result<(std::net::Ipv4Addr, u8)> {
    let bad = || {
        Error::invalid(format!(
            "--virtualbox-hostonly-cidr \"{cidr}\" is not an IPv4 address/prefix"
        ))
        .with_hint(format!("for example {DEFAULT_HOSTONLY_CIDR}"))
    };
    let (a, p) = cidr.trim().split_once('/').ok_or_else(bad)?;
    let ip: std::net::Ipv4Addr = a.parse().map_err(|_| bad())?;
    let prefix: u8 = p.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&prefix) {
        return Err(bad());
    }
    let mask = u32::MAX << (32 - prefix);
    let host = u32::from(ip) & !mask;
    if host == 0 {
        return Err(Error::invalid(format!(
            "--virtualbox-hostonly-cidr \"{cidr}\" is a network address; give the host's address in it"
        ))
        .with_hint(format!("for example {DEFAULT_HOSTONLY_CIDR}")));
    }
    if host == !mask {
        return Err(bad());
    }
    Ok((ip, prefix))
}

pub fn netmask(prefix: u8) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::MAX << (32 - prefix))
}

/// Whether VirtualBox (≥ 6.1.28 on Linux/macOS) lets a host-only network use this address
/// without an /etc/vbox/networks.conf entry.
pub fn in_default_range(ip: std::net::Ipv4Addr) -> bool {
    (u32::from(ip) & 0xFFFF_F800) == u32::from(std::net::Ipv4Addr::new(192, 168, 56, 0))
}

pub fn from_options(name: &str, info: &DriverInfo, o: &DriverOptions) -> Result<VBoxConfig> {
    let image = o.path(info, "virtualbox-image")?;
    if !image.is_empty() && !std::path::Path::new(&image).is_file() {
        return Err(Error::invalid(format!(
            "--virtualbox-image \"{image}\" does not exist"
        )));
    }
    let checksum = o
        .string(info, "virtualbox-image-checksum")?
        .trim()
        .to_string();
    if !checksum.is_empty() {
        Checksum::parse(&checksum)?;
    }
    let cidr = o
        .string(info, "virtualbox-hostonly-cidr")?
        .trim()
        .to_string();
    parse_cidr(&cidr)?;
    Ok(VBoxConfig {
        base: BaseFields {
            machine_name: name.to_string(),
            ssh_user: o.ssh_user(info, "virtualbox-ssh-user")?,
            ..Default::default()
        },
        cpus: o.int_in_range(info, "virtualbox-cpu-count")?,
        memory_mb: o.int_in_range(info, "virtualbox-memory")?,
        disk_mb: o.int_in_range(info, "virtualbox-disk-size")?,
        base_image: image,
        image_url: o.string(info, "virtualbox-image-url")?.trim().to_string(),
        image_checksum: checksum,
        hostonly_cidr: cidr,
        hostonly_nic_type: o.choice(info, "virtualbox-hostonly-nictype")?,
        nat_nic_type: o.choice(info, "virtualbox-nat-nictype")?,
        ui_type: o.choice(info, "virtualbox-ui-type")?,
        no_vtx_check: o.bool(info, "virtualbox-no-vtx-check")?,
        shares: crate::drivers::workspace::shares_from_flags(
            "virtualbox-share-folder",
            &o.list("virtualbox-share-folder"),
            o.bool(info, "virtualbox-no-share")?,
        )?,
        publish_lan: o.bool(info, "virtualbox-publish-lan")?,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::cloud::test_options as opts;

    #[test]
    fn defaults_cidrs_and_validation() {
        let info = info();
        let c = from_options("dev", &info, &opts(&[])).unwrap();
        assert_eq!((c.cpus, c.memory_mb, c.disk_mb), (2, 2048, 20000));
        assert_eq!(c.hostonly_cidr, DEFAULT_HOSTONLY_CIDR);
        let (ip, p) = parse_cidr(DEFAULT_HOSTONLY_CIDR).unwrap();
        assert!(in_default_range(ip));
        assert_eq!(netmask(p).to_string(), "255.255.255.0");
        assert!(!in_default_range("192.168.99.1".parse().unwrap()));
        assert!(in_default_range("192.168.63.1".parse().unwrap()));
        assert!(
            parse_cidr("192.168.56.0/24")
                .unwrap_err()
                .message()
                .contains("network address")
        );
        for bad in [
            ("virtualbox-hostonly-cidr", "192.168.56.1"),
            ("virtualbox-hostonly-cidr", "192.168.56.255/24"),
            ("virtualbox-ui-type", "fullscreen"),
            ("virtualbox-nat-nictype", "e1000"),
            ("virtualbox-memory", "10"),
            ("virtualbox-image", "/nonexistent.raw"),
        ] {
            assert!(from_options("m", &info, &opts(&[bad])).is_err(), "{bad:?}");
        }
    }
}
