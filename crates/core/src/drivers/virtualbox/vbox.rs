//! Running VBoxManage the way docker-machine learnt to (retry "object is not ready", treat
//! `error:` on stderr as failure even with exit 0) and reading its answers: `--version`,
//! `list hostonlyifs`, `showvminfo --machinereadable`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

pub const INSTALL_HINT: &str = "install VirtualBox (https://www.virtualbox.org/wiki/Downloads) and make sure VBoxManage is on PATH";

/// VBoxManage: $BERTH_VBOXMANAGE (tests), PATH, then VirtualBox's install folders.
pub fn find() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_VBOXMANAGE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = if cfg!(windows) {
        "VBoxManage.exe"
    } else {
        "VBoxManage"
    };
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for var in ["VBOX_INSTALL_PATH", "VBOX_MSI_INSTALL_PATH"] {
        if let Some(v) = std::env::var_os(var) {
            dirs.extend(std::env::split_paths(&v));
        }
    }
    dirs.push(PathBuf::from(r"C:\Program Files\Oracle\VirtualBox"));
    dirs.push(PathBuf::from("/Applications/VirtualBox.app/Contents/MacOS"));
    dirs.into_iter()
        .map(|d| d.join(exe))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::invalid("VBoxManage was not found").with_hint(INSTALL_HINT))
}

pub struct VBox {
    bin: PathBuf,
}

impl VBox {
    pub fn new() -> Result<VBox> {
        Ok(VBox { bin: find()? })
    }

    /// Runs VBoxManage; its stdout. Failure when it exits non-zero or says `error:`. Waits
    /// without blocking the runtime; dropping the future (a timeout) kills VBoxManage.
    pub async fn run(&self, args: &[&str]) -> Result<String> {
        let mut tries = 0;
        loop {
            let out = crate::child::async_background(&self.bin)
                .args(args)
                .output()
                .await
                .map_err(|e| {
                    Error::driver(format!("cannot run VBoxManage: {e}")).with_hint(INSTALL_HINT)
                })?;
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            if stderr.contains("error: The object is not ready") && tries < 5 {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if !out.status.success() || stderr.contains("error:") {
                let msg = stderr
                    .lines()
                    .find(|l| l.contains("error:"))
                    .unwrap_or(stderr.trim())
                    .trim_start_matches("VBoxManage: ")
                    .to_string();
                let kind = if stderr.contains("Could not find a registered machine") {
                    ErrorKind::NotFound
                } else {
                    ErrorKind::Driver
                };
                return Err(Error::new(
                    kind,
                    format!("VBoxManage {}: {msg}", args.first().unwrap_or(&"")),
                ));
            }
            return Ok(String::from_utf8_lossy(&out.stdout).to_string());
        }
    }
}

/// `7.0.14r161095` → (7, 0).
pub fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.trim().split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostOnlyIf {
    pub name: String,
    pub ip: String,
    pub mask: String,
}

/// `list hostonlyifs`: blank-line separated blocks of `Key: value`.
pub fn parse_hostonlyifs(text: &str) -> Vec<HostOnlyIf> {
    text.split("\n\n")
        .filter_map(|block| {
            let kv: BTreeMap<&str, &str> = block
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim(), v.trim()))
                .collect();
            Some(HostOnlyIf {
                name: kv.get("Name")?.to_string(),
                ip: kv.get("IPAddress").unwrap_or(&"").to_string(),
                mask: kv.get("NetworkMask").unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// `showvminfo --machinereadable`: `key="value"` (or `key=value`) lines.
pub fn parse_machinereadable(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim_matches('"').to_string(),
                v.trim_matches('"').to_string(),
            )
        })
        .collect()
}

/// `Interface 'vboxnet1' was successfully created`.
pub fn created_interface(text: &str) -> Option<String> {
    let start = text.find("Interface '")? + "Interface '".len();
    let end = text[start..].find('\'')?;
    Some(text[start..start + end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        assert_eq!(parse_version("7.0.14r161095\n"), Some((7, 0)));
        assert_eq!(parse_version("junk"), None);
        let ifs = parse_hostonlyifs(
            "Name:            vboxnet0\nGUID:            786f\nDHCP:            Disabled\nIPAddress:       192.168.56.1\nNetworkMask:     255.255.255.0\n\nName:            vboxnet1\nIPAddress:       192.168.57.1\nNetworkMask:     255.255.255.0\n",
        );
        assert_eq!(ifs.len(), 2);
        assert_eq!(ifs[1].ip, "192.168.57.1");
        let info = parse_machinereadable(
            "name=\"dev\"\nVMState=\"poweroff\"\nmacaddress2=\"080027AABBCC\"\ncpus=2\n",
        );
        assert_eq!(info["VMState"], "poweroff");
        assert_eq!(info["cpus"], "2");
        assert_eq!(
            created_interface("0%...100%\nInterface 'vboxnet3' was successfully created\n")
                .as_deref(),
            Some("vboxnet3")
        );
    }
}
