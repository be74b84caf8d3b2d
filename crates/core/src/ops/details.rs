//! Where a machine runs, for its page: the driver's facts that say it (address, region, size,
//! IDs, CPUs, memory; never a secret), and the logs that were only files until now (the create
//! log, a VM's console and hypervisor logs, the port agent's).

use serde::Serialize;

use super::Berth;
use crate::error::Result;

/// Driver fields worth showing, in the order shown, with their labels. A list, not "every
/// field": driver records also hold tokens and keys, which must never reach a window.
const FACTS: &[(&str, &str)] = &[
    ("IPAddress", "Address"),
    ("PrivateIPAddress", "Private address"),
    ("Region", "Region"),
    ("Zone", "Zone"),
    ("Size", "Size"),
    ("InstanceType", "Instance type"),
    ("Image", "Image"),
    ("AMI", "AMI"),
    ("DropletID", "Droplet ID"),
    ("InstanceId", "Instance ID"),
    ("InstanceID", "Instance ID"),
    ("VpcId", "VPC"),
    ("SubnetId", "Subnet"),
    ("SecurityGroupNames", "Security groups"),
    ("VMName", "VM"),
    ("CPU", "CPUs"),
    ("Memory", "Memory (MB)"),
    ("DiskSize", "Disk (MB)"),
    ("VSwitch", "Switch"),
    ("Account", "Cloud account"),
    ("SSHUser", "SSH user"),
    ("SSHPort", "SSH port"),
];

/// Logs a machine's directory may hold, with their labels.
const LOGS: &[(&str, &str)] = &[
    (super::create::CREATE_LOG, "Create log"),
    ("serial.log", "Console"),
    ("qemu.log", "QEMU"),
    (crate::agent::LOG, "Port and folder agent"),
];

/// Lines of each log the page shows.
const LOG_TAIL: usize = 300;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct MachineDetails {
    pub driver: String,
    pub url: String,
    pub created_at: String,
    /// The OS Berth found when it provisioned the machine.
    pub os: String,
    #[cfg_attr(feature = "ts", ts(type = "Array<[string, string]>"))]
    pub facts: Vec<(String, String)>,
    pub logs: Vec<LogFile>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LogFile {
    pub label: String,
    pub path: String,
    /// Its last lines.
    pub tail: String,
}

fn facts(driver: &serde_json::Value) -> Vec<(String, String)> {
    FACTS
        .iter()
        .filter_map(|(key, label)| {
            let text = match driver.get(key)? {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) if n.as_f64() != Some(0.0) => n.to_string(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => return None,
            };
            (!text.is_empty()).then(|| (label.to_string(), text))
        })
        .collect()
}

impl Berth {
    pub fn machine_details(&self, name: &str) -> Result<MachineDetails> {
        let m = self.load(name)?;
        let dir = self.store.machine_dir(name);
        let mut files: Vec<(String, std::path::PathBuf)> = LOGS
            .iter()
            .map(|(file, label)| (label.to_string(), dir.join(file)))
            .collect();
        // VirtualBox keeps its own log under the VM's folder.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let vbox = e.path().join("Logs").join("VBox.log");
                if vbox.is_file() {
                    files.push(("VirtualBox".into(), vbox));
                }
            }
        }
        let logs = files
            .into_iter()
            .filter_map(|(label, path)| {
                Some(LogFile {
                    label,
                    tail: crate::fsutil::tail_lines(&path, LOG_TAIL)?,
                    path: path.display().to_string(),
                })
            })
            .collect();
        Ok(MachineDetails {
            driver: m.driver_name.clone(),
            url: self.url(name).unwrap_or_default(),
            created_at: m.created_at.clone(),
            os: m.host.as_ref().map(|h| h.os.clone()).unwrap_or_default(),
            facts: facts(&m.driver),
            logs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_the_listed_fields_and_never_a_secret() {
        let driver = serde_json::json!({
            "IPAddress": "203.0.113.7", "Region": "fra1", "DropletID": 4242, "CPU": 0,
            "SecurityGroupNames": ["berth", "web"], "AccessToken": "dop_v1_secret",
            "SecretKey": "aws-secret", "SSHKeyPath": "/home/me/.ssh/id", "SSHPort": 22
        });
        let f = facts(&driver);
        assert_eq!(
            f,
            [
                ("Address", "203.0.113.7"),
                ("Region", "fra1"),
                ("Droplet ID", "4242"),
                ("Security groups", "berth, web"),
                ("SSH port", "22"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let shown = format!("{f:?}");
        assert!(!shown.contains("secret") && !shown.contains("/home/me"));
    }
}
