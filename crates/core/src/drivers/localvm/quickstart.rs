//! Docker Toolbox's Quickstart, again: one local machine called `default` on the best local VM
//! driver this computer has, sized to it, with no form to fill.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::drivers::{self, OptionValue};
use crate::error::{Error, Result};

pub const NAME: &str = "default";

/// What the one-click create will make.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QuickstartPlan {
    pub name: String,
    pub driver: String,
    pub options: BTreeMap<String, OptionValue>,
    /// "QEMU virtual machine, 2 CPUs, 4096 MB", for the button's caption.
    pub summary: String,
}

/// The local drivers in the order this OS's users are best served by.
fn preference() -> &'static [&'static str] {
    if cfg!(windows) {
        &["hyperv", "virtualbox", "qemu"]
    } else {
        &["qemu", "virtualbox"]
    }
}

/// Half the CPUs (1 to 4) and a quarter of the memory (1 to 4 GB), as Docker Desktop sizes
/// its VM.
pub fn sizing(host_cpus: Option<i64>, host_mb: Option<i64>) -> (i64, i64) {
    let cpus = (host_cpus.unwrap_or(2) / 2).clamp(1, 4);
    let mb = (host_mb.unwrap_or(4096) / 4).clamp(1024, 4096) / 256 * 256;
    (cpus, mb)
}

pub fn plan() -> Result<QuickstartPlan> {
    let mut missing = vec![];
    for name in preference() {
        let a = drivers::availability(name);
        if !a.ready {
            if let Some(m) = a.missing {
                missing.push(format!("{name}: {m}"));
            }
            continue;
        }
        let info = drivers::driver_info(name)?;
        let (cpus, mb) = sizing(super::host::cpus(), super::host::memory_mb());
        let mut options = BTreeMap::new();
        for o in &info.options {
            if o.name.ends_with("-cpu-count") {
                options.insert(o.name.to_string(), OptionValue::Int(cpus));
            } else if o.name.ends_with("-memory") {
                options.insert(o.name.to_string(), OptionValue::Int(mb));
            }
        }
        return Ok(QuickstartPlan {
            name: NAME.into(),
            driver: name.to_string(),
            options,
            summary: format!("{}, {cpus} CPUs, {mb} MB", info.title),
        });
    }
    Err(
        Error::invalid("this computer has no local VM driver ready to use").with_hint(
            if missing.is_empty() {
                "install QEMU or VirtualBox".to_string()
            } else {
                missing.join("; ")
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_sized_to_the_computer() {
        assert_eq!(sizing(Some(2), Some(24 * 1024)), (1, 4096));
        assert_eq!(sizing(Some(16), Some(8 * 1024)), (4, 2048));
        assert_eq!(sizing(Some(1), Some(2048)), (1, 1024));
        assert_eq!(sizing(None, None), (1, 1024));
    }

    /// Its options are the driver's own (a create with them passes the driver's checks).
    #[test]
    fn the_plan_uses_the_drivers_own_options() {
        if let Ok(p) = plan() {
            let info = drivers::driver_info(&p.driver).unwrap();
            for k in p.options.keys() {
                assert!(info.options.iter().any(|o| o.name == k), "{k}");
            }
            assert!(
                drivers::new_driver(&p.driver, NAME, &drivers::DriverOptions(p.options.clone()))
                    .is_ok()
            );
        }
    }
}
