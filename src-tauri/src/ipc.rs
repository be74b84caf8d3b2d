//! The window's side of the IPC contract, generated: `ui/src/lib/bindings.ts` holds the
//! TypeScript declarations of every type the app sends or takes (from the Rust types, via
//! ts-rs) and a typed function per command. The test fails when the file is not what the Rust
//! side says; `BERTH_WRITE_BINDINGS=1 cargo test -p berth-app bindings` rewrites it.

use berth_core::ErrorKind;
use berth_core::agent::ports::PortStatus;
use berth_core::cloud::choices::Choice;
use berth_core::containers::{
    ContainerAction, ContainerPort, ContainerRow, DiskUsage, EngineOverview, ImageRow, LogBatch,
    NetworkRow, PullProgress, RunRequest, VolumeRow, disk::UsageRow,
};
use berth_core::drivers::localvm::quickstart::QuickstartPlan;
use berth_core::drivers::workspace::{Proto, ShareStatus};
use berth_core::drivers::{
    DriverInfo, DriverKind, Features, Listing, OptionKind, OptionSpec, OptionValue, RestartKind,
};
use berth_core::monitor::{MachineView, ViewState};
use berth_core::ops::MachineAction;
use berth_core::ops::details::{LogFile, MachineDetails};
use berth_core::profiles::{ProfileFile, ProfileState};
use berth_core::progress::Event;
use berth_core::settings::{Settings, SwitchMode, Theme};
use ts_rs::{Config, TS};

use crate::commands::accounts::{AccountView, AddedAccount, NewAccount};
use crate::commands::containers::{DockerChanged, PullStep};
use crate::commands::create::{CreateRequest, DriverCard, EngineForm};
use crate::commands::settings::AppInfo;
use crate::commands::{JobDone, JobProgress, UiError};
use berth_core::containers::logs::LogTake;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/lib/bindings.ts");

fn cfg() -> Config {
    // Counts and sizes are small: plain numbers, not bigint.
    Config::new().with_large_int("number")
}

fn decl<T: TS>() -> String {
    format!("export {}\n", T::decl(&cfg()))
}

fn ts<T: TS>() -> String {
    T::name(&cfg())
}

/// One command: its name, its arguments (name, TypeScript type) and what it resolves to.
struct Command {
    name: &'static str,
    args: Vec<(&'static str, String)>,
    returns: String,
}

fn c<R: TS>(name: &'static str, args: Vec<(&'static str, String)>) -> Command {
    Command {
        name,
        args,
        returns: ts::<R>(),
    }
}

fn a<T: TS>(name: &'static str) -> (&'static str, String) {
    (name, ts::<T>())
}

/// The signatures of `commands/`, as the window calls them.
fn table() -> Vec<Command> {
    vec![
        c::<Vec<MachineView>>("list_machines", vec![]),
        c::<Vec<MachineView>>("refresh", vec![]),
        c::<Vec<DriverCard>>("driver_catalog", vec![]),
        c::<Vec<Choice>>(
            "option_choices",
            vec![
                a::<String>("driver"),
                a::<String>("option"),
                a::<Option<String>>("account"),
                a::<Option<String>>("region"),
            ],
        ),
        c::<()>("validate_create", vec![a::<CreateRequest>("request")]),
        c::<String>("create_machine", vec![a::<CreateRequest>("request")]),
        c::<()>("cancel_create", vec![a::<String>("name")]),
        c::<QuickstartPlan>("quickstart_plan", vec![]),
        c::<()>(
            "machine_action",
            vec![a::<String>("name"), a::<MachineAction>("action")],
        ),
        c::<()>(
            "remove_machine",
            vec![a::<String>("name"), a::<bool>("force")],
        ),
        c::<()>("use_machine", vec![a::<Option<String>>("name")]),
        c::<String>("env_command", vec![a::<String>("name")]),
        c::<()>("open_terminal", vec![a::<String>("name"), a::<bool>("ssh")]),
        c::<()>("open_port", vec![a::<u16>("port")]),
        c::<Settings>("get_settings", vec![]),
        c::<Settings>("set_settings", vec![a::<Settings>("settings")]),
        c::<Vec<ProfileFile>>("profiles_preview", vec![]),
        c::<Vec<ProfileFile>>("profiles_install", vec![]),
        c::<Vec<ProfileFile>>("profiles_uninstall", vec![]),
        c::<AppInfo>("app_info", vec![]),
        c::<()>(
            "frontend_ready",
            vec![("marks", "Record<string, number>".into())],
        ),
        c::<Vec<AccountView>>("list_accounts", vec![]),
        c::<AddedAccount>("add_account", vec![a::<NewAccount>("account")]),
        c::<String>(
            "test_account",
            vec![a::<String>("provider"), a::<String>("name")],
        ),
        c::<()>(
            "remove_account",
            vec![a::<String>("provider"), a::<String>("name")],
        ),
        c::<EngineOverview>("engine_overview", vec![a::<String>("name")]),
        c::<MachineDetails>("machine_details", vec![a::<String>("name")]),
        c::<Vec<ContainerRow>>(
            "list_containers",
            vec![a::<String>("name"), a::<Option<Vec<String>>>("ids")],
        ),
        c::<()>(
            "container_action",
            vec![
                a::<String>("name"),
                a::<Vec<String>>("ids"),
                a::<ContainerAction>("action"),
            ],
        ),
        c::<LogBatch>(
            "container_logs",
            vec![
                a::<String>("name"),
                a::<String>("id"),
                a::<Option<u32>>("tail"),
            ],
        ),
        c::<()>(
            "open_container_shell",
            vec![a::<String>("name"), a::<String>("id")],
        ),
        c::<String>(
            "save_container_logs",
            vec![a::<String>("name"), a::<String>("id")],
        ),
        c::<String>(
            "inspect_container",
            vec![a::<String>("name"), a::<String>("id")],
        ),
        c::<DiskUsage>("disk_usage", vec![a::<String>("name")]),
        c::<()>(
            "pull_image",
            vec![a::<String>("name"), a::<String>("reference")],
        ),
        c::<String>(
            "run_container",
            vec![a::<String>("name"), a::<RunRequest>("request")],
        ),
        c::<Vec<ImageRow>>("list_images", vec![a::<String>("name")]),
        c::<()>(
            "remove_image",
            vec![a::<String>("name"), a::<String>("id"), a::<bool>("force")],
        ),
        c::<i64>("prune_images", vec![a::<String>("name")]),
        c::<Vec<VolumeRow>>("list_volumes", vec![a::<String>("name")]),
        c::<()>(
            "remove_volume",
            vec![a::<String>("name"), a::<String>("volume")],
        ),
        c::<i64>("prune_volumes", vec![a::<String>("name")]),
        c::<Vec<NetworkRow>>("list_networks", vec![a::<String>("name")]),
        c::<()>("watch_machine", vec![a::<Option<String>>("name")]),
        c::<()>(
            "follow_logs",
            vec![a::<String>("name"), a::<Option<String>>("id")],
        ),
        c::<LogTake>("take_log_lines", vec![a::<String>("id")]),
    ]
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for ch in snake.chars() {
        if ch == '_' {
            up = true;
        } else if up {
            out.extend(ch.to_uppercase());
            up = false;
        } else {
            out.push(ch);
        }
    }
    out
}

fn generate() -> String {
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/src/ipc.rs: do not edit.\n\
         // BERTH_WRITE_BINDINGS=1 cargo test -p berth-app bindings rewrites it.\n\
         import { invoke } from '@tauri-apps/api/core'\n\n",
    );
    for d in [
        decl::<MachineView>(),
        decl::<ViewState>(),
        decl::<Features>(),
        decl::<PortStatus>(),
        decl::<Proto>(),
        decl::<ShareStatus>(),
        decl::<QuickstartPlan>(),
        decl::<RestartKind>(),
        decl::<OptionKind>(),
        decl::<OptionSpec>(),
        decl::<Listing>(),
        decl::<DriverKind>(),
        decl::<DriverInfo>(),
        decl::<DriverCard>(),
        decl::<OptionValue>(),
        decl::<Choice>(),
        decl::<EngineForm>(),
        decl::<CreateRequest>(),
        decl::<Event>(),
        decl::<JobProgress>(),
        decl::<JobDone>(),
        decl::<ErrorKind>(),
        decl::<UiError>(),
        decl::<SwitchMode>(),
        decl::<Theme>(),
        decl::<Settings>(),
        decl::<ProfileState>(),
        decl::<ProfileFile>(),
        decl::<AppInfo>(),
        decl::<MachineAction>(),
        decl::<AccountView>(),
        decl::<NewAccount>(),
        decl::<AddedAccount>(),
        decl::<crate::Boot>(),
        decl::<EngineOverview>(),
        decl::<ContainerRow>(),
        decl::<ContainerPort>(),
        decl::<ContainerAction>(),
        decl::<LogBatch>(),
        decl::<LogTake>(),
        decl::<ImageRow>(),
        decl::<VolumeRow>(),
        decl::<NetworkRow>(),
        decl::<DockerChanged>(),
        decl::<DiskUsage>(),
        decl::<MachineDetails>(),
        decl::<LogFile>(),
        decl::<UsageRow>(),
        decl::<PullProgress>(),
        decl::<PullStep>(),
        decl::<RunRequest>(),
    ] {
        out.push_str(&d);
    }
    out.push_str(&format!(
        "\n/** The machine page's name for this computer's own Docker (no machine has it). */\nexport const LOCAL_DOCKER = {:?}\n",
        berth_core::ops::LOCAL_DOCKER
    ));
    out.push_str("\n/** One typed function per command of src-tauri/src/commands/. */\nexport const commands = {\n");
    for cmd in table() {
        let params: Vec<String> = cmd
            .args
            .iter()
            .map(|(n, t)| {
                // Optional trailing arguments may be left out.
                if n == &"marks" {
                    format!("{n}?: {t}")
                } else {
                    format!("{n}: {t}")
                }
            })
            .collect();
        let names: Vec<&str> = cmd.args.iter().map(|(n, _)| *n).collect();
        let returns = if cmd.returns == "null" {
            "void".to_string()
        } else {
            cmd.returns.clone()
        };
        let call = if names.is_empty() {
            format!("invoke<{returns}>('{}')", cmd.name)
        } else {
            format!(
                "invoke<{returns}>('{}', {{ {} }})",
                cmd.name,
                names.join(", ")
            )
        };
        out.push_str(&format!(
            "  {}: ({}) => {call},\n",
            camel(cmd.name),
            params.join(", ")
        ));
    }
    out.push_str("}\n");
    out
}

macro_rules! names {
    ($($m:ident::$c:ident),*) => {
        [$(stringify!($c)),*]
    };
}

#[test]
fn the_command_table_lists_every_registered_command() {
    let registered: Vec<&str> = commands!(names).to_vec();
    let tabled: Vec<&str> = table().iter().map(|c| c.name).collect();
    assert_eq!(registered, tabled);
}

#[test]
fn bindings_are_current() {
    let want = generate();
    if std::env::var_os("BERTH_WRITE_BINDINGS").is_some() {
        std::fs::write(FILE, &want).unwrap();
    }
    let have = std::fs::read_to_string(FILE).unwrap_or_default();
    assert!(
        have == want,
        "ui/src/lib/bindings.ts is not what the Rust types say: run \
         `BERTH_WRITE_BINDINGS=1 cargo test -p berth-app bindings` and commit it"
    );
}
