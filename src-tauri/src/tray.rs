//! The tray menu: every machine with a check on the active one (click to switch), start/stop
//! per machine, "Use local Docker", "Open Berth", "Quit". The menu model is a plain function of
//! the machine list, and menu ids parse back into actions, so both are tested without a tray.

use berth_core::monitor::{MachineView, ViewState};

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A machine to switch to: id, label, checked, enabled.
    Machine {
        id: String,
        label: String,
        checked: bool,
        enabled: bool,
    },
    /// A submenu of plain items (id, label, enabled).
    Submenu {
        label: String,
        items: Vec<(String, String, bool)>,
    },
    Item {
        id: String,
        label: String,
        checked: Option<bool>,
    },
    Separator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Use(String),
    UseLocal,
    Start(String),
    Stop(String),
    Open,
    /// Open the window on a machine's page.
    OpenMachine(String),
    Quit,
}

pub fn parse(id: &str) -> Option<Action> {
    let (verb, name) = id.split_once(':').unwrap_or((id, ""));
    match (verb, name) {
        ("use", n) if !n.is_empty() => Some(Action::Use(n.into())),
        ("start", n) if !n.is_empty() => Some(Action::Start(n.into())),
        ("stop", n) if !n.is_empty() => Some(Action::Stop(n.into())),
        ("page", n) if !n.is_empty() => Some(Action::OpenMachine(n.into())),
        ("local", "") => Some(Action::UseLocal),
        ("open", "") => Some(Action::Open),
        ("quit", "") => Some(Action::Quit),
        _ => None,
    }
}

pub fn model(machines: &[MachineView]) -> Vec<Entry> {
    let mut m = vec![];
    for v in machines {
        let state = match v.state {
            ViewState::Unknown => "unknown".to_string(),
            other => other.as_str().to_lowercase(),
        };
        let containers = match v.running_containers {
            Some(1) => ", 1 container".to_string(),
            Some(n) => format!(", {n} containers"),
            None => String::new(),
        };
        m.push(Entry::Machine {
            id: format!("use:{}", v.name),
            label: format!("{}  ({state}{containers})", v.name),
            checked: v.active,
            enabled: v.state == ViewState::Running || v.active,
        });
    }
    if machines.is_empty() {
        m.push(Entry::Item {
            id: "open".into(),
            label: "No machines yet: create one…".into(),
            checked: None,
        });
    }
    let power: Vec<(String, String, bool)> = machines
        .iter()
        .filter(|v| v.features.power)
        .flat_map(|v| {
            let running = v.state == ViewState::Running;
            [
                (
                    format!("start:{}", v.name),
                    format!("Start {}", v.name),
                    !running,
                ),
                (
                    format!("stop:{}", v.name),
                    format!("Stop {}", v.name),
                    running,
                ),
            ]
        })
        .collect();
    m.push(Entry::Separator);
    if !power.is_empty() {
        m.push(Entry::Submenu {
            label: "Start / stop".into(),
            items: power,
        });
    }
    if !machines.is_empty() {
        m.push(Entry::Submenu {
            label: "Open machine page".into(),
            items: machines
                .iter()
                .map(|v| (format!("page:{}", v.name), format!("Open {}", v.name), true))
                // This computer's own Docker has a page too.
                .chain(std::iter::once((
                    format!("page:{}", berth_core::ops::LOCAL_DOCKER),
                    format!("Open {}", berth_core::ops::LOCAL_DOCKER),
                    true,
                )))
                .collect(),
        });
    }
    let any_active = machines.iter().any(|v| v.active);
    m.push(Entry::Item {
        id: "local".into(),
        label: "Use local Docker".into(),
        checked: Some(!any_active),
    });
    m.push(Entry::Separator);
    m.push(Entry::Item {
        id: "open".into(),
        label: "Open Berth".into(),
        checked: None,
    });
    m.push(Entry::Item {
        id: "quit".into(),
        label: "Quit".into(),
        checked: None,
    });
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, driver: &str, state: &str, active: bool) -> MachineView {
        MachineView {
            name: name.into(),
            driver: driver.into(),
            state: ViewState::parse(state),
            active,
            features: berth_core::drivers::registry::features(driver),
            ..Default::default()
        }
    }

    #[test]
    fn menu_checks_the_active_machine_and_offers_power_only_where_possible() {
        let menu = model(&[
            MachineView {
                running_containers: Some(3),
                ..v("dev", "generic", "Running", true)
            },
            v("vm", "qemu", "Stopped", false),
        ]);
        assert_eq!(
            menu[0],
            Entry::Machine {
                id: "use:dev".into(),
                label: "dev  (running, 3 containers)".into(),
                checked: true,
                enabled: true
            }
        );
        assert!(matches!(
            &menu[1],
            Entry::Machine {
                checked: false,
                enabled: false,
                ..
            }
        ));
        let Some(Entry::Submenu { items, .. }) =
            menu.iter().find(|e| matches!(e, Entry::Submenu { .. }))
        else {
            panic!("{menu:?}")
        };
        assert_eq!(
            items,
            &vec![
                ("start:vm".to_string(), "Start vm".to_string(), true),
                ("stop:vm".to_string(), "Stop vm".to_string(), false)
            ]
        );
        assert!(menu.contains(&Entry::Submenu {
            label: "Open machine page".into(),
            items: vec![
                ("page:dev".into(), "Open dev".into(), true),
                ("page:vm".into(), "Open vm".into(), true),
                ("page:local Docker".into(), "Open local Docker".into(), true)
            ]
        }));
        assert_eq!(parse("page:vm"), Some(Action::OpenMachine("vm".into())));
        assert_eq!(
            parse("page:local Docker"),
            Some(Action::OpenMachine("local Docker".into()))
        );
        assert!(menu.contains(&Entry::Item {
            id: "local".into(),
            label: "Use local Docker".into(),
            checked: Some(false)
        }));
        assert!(menu.contains(&Entry::Item {
            id: "quit".into(),
            label: "Quit".into(),
            checked: None
        }));
    }

    #[test]
    fn ids_round_trip() {
        for e in model(&[v("a.b-1", "qemu", "Running", false)]) {
            match e {
                Entry::Machine { id, .. } | Entry::Item { id, .. } => {
                    assert!(parse(&id).is_some(), "{id}")
                }
                Entry::Submenu { items, .. } => items
                    .iter()
                    .for_each(|(id, _, _)| assert!(parse(id).is_some())),
                Entry::Separator => {}
            }
        }
        assert_eq!(parse("use:dev"), Some(Action::Use("dev".into())));
        assert_eq!(parse("use:"), None);
        assert_eq!(parse("bogus"), None);
    }
}
