//! Every driver registers here once: its description and option schema, whether it can run on
//! this computer, what it can do (features), and how to make one. The CLI, the app, the tray
//! and the operations read these entries instead of matching on driver names.
//!
//! Adding a driver: one new module that exports a `REGISTRATION`, and one line in `DRIVERS`.

use std::path::Path;

use serde::Serialize;

use super::{Availability, Driver, DriverInfo, DriverOptions, RestartKind};
use crate::error::{Error, Result};
use crate::machine::Machine;

/// What a driver's machines can do. The front ends show or hide actions from these; the
/// operations refuse what a driver lacks. New capabilities get a field here, not a name list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Features {
    /// Berth can start, stop and kill the machine (existing servers are not Berth's to power).
    pub power: bool,
    /// Berth logs in over SSH (`berth ssh`, `scp`, the app's SSH action).
    pub ssh: bool,
    /// `create` installs and configures Docker; `provision` re-runs that.
    pub provisions: bool,
    /// What `restart` does.
    pub restart: RestartKind,
    /// `provision` accepts new driver options (address, user, port) for an existing machine.
    pub reconfigurable: bool,
    /// A VM on this computer.
    pub local_vm: bool,
    /// Ports published by containers answer on this computer's localhost.
    pub port_forwarding: bool,
    /// Folders of this computer are visible inside the machine.
    pub shared_folders: bool,
    /// CPUs, memory or disk can change after create.
    pub resize: bool,
}

impl Features {
    /// What a machine of an unknown driver can do: nothing.
    pub const NONE: Features = Features {
        power: false,
        ssh: false,
        provisions: false,
        restart: RestartKind::Unsupported,
        reconfigurable: false,
        local_vm: false,
        port_forwarding: false,
        shared_folders: false,
        resize: false,
    };
    /// A VM on this computer: powered, reached over SSH, provisioned, rebooted.
    pub const LOCAL_VM: Features = Features {
        power: true,
        ssh: true,
        provisions: true,
        restart: RestartKind::Machine,
        local_vm: true,
        ..Features::NONE
    };
    /// A cloud server Berth made: like a VM, but elsewhere.
    pub const CLOUD: Features = Features {
        local_vm: false,
        ..Features::LOCAL_VM
    };
}

/// One driver's entry.
pub struct Registration {
    pub name: &'static str,
    /// What its machines can do (its info carries the same value).
    pub features: Features,
    /// Title, description, kind, option schema and features.
    pub info: fn() -> DriverInfo,
    /// Whether it can be used on this computer (may look for programs: call when needed).
    pub availability: fn() -> Availability,
    /// A driver for a new machine from checked create options.
    pub create: fn(&str, &DriverInfo, &DriverOptions) -> Result<Box<dyn Driver>>,
    /// The driver of a stored machine, from machine.json's `Driver` object and the store root.
    pub load: fn(serde_json::Value, &Path) -> serde_json::Result<Box<dyn Driver>>,
}

/// Every driver this build knows, in the order the GUI offers them.
pub static DRIVERS: &[Registration] = &[
    super::qemu::REGISTRATION,
    super::virtualbox::REGISTRATION,
    super::hyperv::REGISTRATION,
    super::generic::REGISTRATION,
    super::digitalocean::REGISTRATION,
    super::amazonec2::REGISTRATION,
    super::none::REGISTRATION,
    #[cfg(any(test, feature = "testing"))]
    super::fake::REGISTRATION,
];

/// A driver that needs nothing installed (its own SSH and HTTPS clients do the work).
pub fn always_available() -> Availability {
    Availability {
        ready: true,
        missing: None,
    }
}

/// The entry of `name`, or an error naming the drivers there are.
pub fn find(name: &str) -> Result<&'static Registration> {
    DRIVERS.iter().find(|r| r.name == name).ok_or_else(|| {
        let names: Vec<_> = offered().map(|r| r.name).collect();
        Error::invalid(format!("unknown driver \"{name}\""))
            .with_hint(format!("available drivers: {}", names.join(", ")))
    })
}

/// The drivers users see (the in-process test driver is not one of them).
pub fn offered() -> impl Iterator<Item = &'static Registration> {
    DRIVERS.iter().filter(|r| !r.name.starts_with("test-"))
}

/// What machines of `driver` can do; nothing for a driver this build lacks.
pub fn features(driver: &str) -> Features {
    DRIVERS
        .iter()
        .find(|r| r.name == driver)
        .map(|r| r.features)
        .unwrap_or(Features::NONE)
}

/// The driver of an existing machine, from its stored configuration.
pub fn load(machine: &Machine, store_root: &Path) -> Result<Box<dyn Driver>> {
    let Some(entry) = DRIVERS.iter().find(|r| r.name == machine.driver_name) else {
        return Err(Error::store(format!(
            "machine \"{}\" uses the driver \"{}\", which this Berth does not have",
            machine.name, machine.driver_name
        ))
        .with_hint("upgrade Berth"));
    };
    (entry.load)(machine.driver.clone(), store_root).map_err(|e| {
        Error::store(format!(
            "the {} driver configuration of \"{}\" is damaged: {e}",
            machine.driver_name, machine.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_driver_registers_once_under_its_own_name() {
        let mut seen = std::collections::BTreeSet::new();
        for r in DRIVERS {
            assert!(seen.insert(r.name), "{} registered twice", r.name);
            assert_eq!((r.info)().name, r.name);
            assert_eq!((r.info)().features, r.features, "{}", r.name);
        }
    }

    /// The features the front ends used to guess from names, now stated by each driver.
    #[test]
    fn features_say_what_the_name_lists_said() {
        for r in offered() {
            let f = (r.info)().features;
            let existing = matches!(r.name, "generic" | "none");
            assert_eq!(f.power, !existing, "{}", r.name);
            assert_eq!(f.ssh, r.name != "none", "{}", r.name);
            assert_eq!(f.provisions, r.name != "none", "{}", r.name);
            assert_eq!(f.reconfigurable, existing, "{}", r.name);
            assert_eq!(
                f.local_vm,
                matches!(r.name, "qemu" | "virtualbox" | "hyperv"),
                "{}",
                r.name
            );
        }
        assert_eq!(features("no-such-driver"), Features::NONE);
    }
}
