//! Command-line definition: docker-machine's commands and flags, plus Berth's own (`use`,
//! `reset-host-key`, `drivers`). Driver flags are generated from each driver's option schema.

use std::path::PathBuf;

use berth_core::drivers::{self, DriverOptions, OptionKind, OptionValue};
use clap::{
    Arg, ArgAction, ArgMatches, Args, Command, CommandFactory, FromArgMatches, Parser, Subcommand,
};

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "Create Docker hosts anywhere and switch between them (docker-machine compatible)",
    disable_version_flag = true,
    after_help = "Exit status: 0 success, 1 error, 2 bad usage, 3 create pre-check failed; \
                  `berth ssh NAME CMD` exits with CMD's status."
)]
pub struct Cli {
    /// Show every remote command and the provisioning trace
    #[arg(short = 'D', long, global = true, env = "MACHINE_DEBUG", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub debug: bool,
    /// Where Berth keeps machines and certificates
    #[arg(short = 's', long, global = true, env = "BERTH_STORAGE_PATH")]
    pub storage_path: Option<PathBuf>,
    /// Use the built-in SSH client even when `ssh` is installed
    #[arg(long, global = true, env = "MACHINE_NATIVE_SSH", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub native_ssh: bool,
    /// Print the version
    #[arg(short = 'v', long = "version", action = ArgAction::SetTrue)]
    pub version_flag: bool,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum CredentialsCmd {
    /// Add an account; the secret is read from standard input (asked for, unechoed, on a terminal)
    Add {
        /// digitalocean or amazonec2 (aws)
        provider: String,
        /// A name for the account (work, personal, ...)
        #[arg(long, default_value = "default")]
        name: String,
        /// AWS only: the access key ID (not secret); the secret access key is read from stdin
        #[arg(long)]
        access_key_id: Option<String>,
        /// Store without checking the secret with an API call (offline)
        #[arg(long)]
        no_verify: bool,
    },
    /// List accounts (never their secrets) and credentials found in the environment
    Ls,
    /// Remove an account and its keychain entry
    Rm { provider: String, name: String },
    /// Check credentials with a real API call (an account, else the environment's)
    Test {
        provider: String,
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Print which machine is active
    Active {
        #[arg(short, long, default_value_t = 10)]
        timeout: u64,
        #[arg(hide = true)]
        extra: Vec<String>,
    },
    /// Print the docker client flags for a machine
    Config {
        #[arg(long)]
        swarm: bool,
        name: Option<String>,
    },
    /// Create a machine
    Create(CreateArgs),
    /// Cloud accounts: secrets in the OS keychain, never in the store
    Credentials {
        #[command(subcommand)]
        action: CredentialsCmd,
    },
    /// Print the commands that point the docker client at a machine
    Env(EnvArgs),
    /// Print a machine's record as JSON, or through a Go template
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        name: Option<String>,
    },
    /// Print the IP address of machines
    Ip { names: Vec<String> },
    /// Kill (power off abruptly) machines
    Kill { names: Vec<String> },
    /// List machines
    Ls(LsArgs),
    /// Mount a machine's folder here with sshfs (`-u` unmounts), as docker-machine did
    Mount {
        /// Unmount LOCAL_DIR
        #[arg(short = 'u', long)]
        unmount: bool,
        /// NAME:PATH (for -u: LOCAL_DIR)
        remote: String,
        local: Option<String>,
    },
    /// Reach a machine's port on this computer's 127.0.0.1 through SSH, like `ssh -L`
    /// (until Ctrl-C); for clouds and servers: local VMs publish container ports by themselves
    PortForward {
        name: String,
        /// [LOCAL:]REMOTE, e.g. 8080 or 18080:80
        ports: String,
    },
    /// Mount a folder of this computer in a machine over SSH (reverse SSHFS, until Ctrl-C);
    /// for clouds and servers: local VMs mount your home folder by themselves
    Share {
        name: String,
        /// HOST_FOLDER[:MACHINE_PATH] (the same path when the machine path is left out)
        folder: String,
    },
    /// Show a local VM's shared folders and the container ports that answer on this computer
    Ports {
        /// Print JSON
        #[arg(long)]
        json: bool,
        name: Option<String>,
    },
    /// Install and configure Docker on machines again (driver flags update a single machine's settings)
    Provision(ProvisionArgs),
    /// Issue new TLS certificates for machines and restart their Docker daemons
    RegenerateCerts {
        /// Do not ask for confirmation
        #[arg(short, long)]
        force: bool,
        /// Also replace the store's CA and client certificate
        #[arg(long)]
        client_certs: bool,
        names: Vec<String>,
    },
    /// Restart machines (for existing servers: their Docker daemon)
    Restart { names: Vec<String> },
    /// Remove machines
    Rm {
        /// Remove the local record even when the remote side cannot be cleaned up
        #[arg(short, long)]
        force: bool,
        /// Do not ask for confirmation
        #[arg(short = 'y')]
        yes: bool,
        names: Vec<String>,
    },
    /// Copy files between this computer and machines ([machine:]path)
    Scp {
        #[arg(short, long)]
        recursive: bool,
        #[arg(short, long)]
        quiet: bool,
        /// Copy only the differences (rsync)
        #[arg(short, long)]
        delta: bool,
        src: String,
        dst: String,
    },
    /// Log in to a machine, or run a command on it (exits with the command's status)
    #[command(disable_help_flag = true)]
    Ssh {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Start machines
    Start { names: Vec<String> },
    /// Print a machine's state
    Status { name: Option<String> },
    /// Stop machines
    Stop { names: Vec<String> },
    /// Print a machine's Docker URL
    Url { name: Option<String> },
    /// Make a machine the active Docker host for new shells (`local` or --unset: the local Docker)
    Use {
        #[arg(long)]
        unset: bool,
        name: Option<String>,
    },
    /// Forget a machine's pinned SSH host key (after the server was reinstalled)
    ResetHostKey { name: String },
    /// List drivers and their options
    Drivers {
        #[arg(long)]
        json: bool,
    },
    /// Print Berth's version, or a machine's Docker version
    Version { names: Vec<String> },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to create the machine with
    #[arg(short, long, env = "MACHINE_DRIVER", default_value = "generic")]
    pub driver: String,
    /// Script URL that installs Docker when it is missing (default: the distribution's package)
    #[arg(long, env = "MACHINE_DOCKER_INSTALL_URL", default_value = "")]
    pub engine_install_url: String,
    /// dockerd flag, `flag` or `flag=value` (repeatable)
    #[arg(long = "engine-opt")]
    pub engine_opt: Vec<String>,
    /// Insecure registry for dockerd (repeatable)
    #[arg(long = "engine-insecure-registry")]
    pub engine_insecure_registry: Vec<String>,
    /// Registry mirror for dockerd (repeatable)
    #[arg(long = "engine-registry-mirror")]
    pub engine_registry_mirror: Vec<String>,
    /// Label for dockerd, key=value (repeatable)
    #[arg(long = "engine-label")]
    pub engine_label: Vec<String>,
    /// Storage driver for dockerd (default: keep the one in use)
    #[arg(long, default_value = "")]
    pub engine_storage_driver: String,
    /// Environment variable for dockerd, NAME=value (repeatable)
    #[arg(long = "engine-env")]
    pub engine_env: Vec<String>,
    /// Do not enable dockerd's live-restore (containers then stop when dockerd restarts)
    #[arg(long)]
    pub engine_no_live_restore: bool,
    /// Extra name or IP in the server certificate (repeatable)
    #[arg(long = "tls-san")]
    pub tls_san: Vec<String>,
    /// If create fails, keep what it made (droplet, instance, keys) instead of removing it
    #[arg(long)]
    pub keep_on_failure: bool,
    /// Swarm classic is gone; accepted for compatibility and refused if set
    #[arg(long, hide = true)]
    pub swarm: bool,
    #[arg(long, hide = true)]
    pub swarm_master: bool,
    pub name: Option<String>,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EnvArgs {
    #[arg(long)]
    pub swarm: bool,
    /// bash, zsh, sh, fish, powershell, cmd, tcsh, emacs or nushell (default: detected)
    #[arg(long)]
    pub shell: Option<String>,
    /// Print the commands that unset the variables
    #[arg(short, long)]
    pub unset: bool,
    /// Add the machine's address to NO_PROXY
    #[arg(long)]
    pub no_proxy: bool,
    pub name: Option<String>,
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Names only
    #[arg(short, long)]
    pub quiet: bool,
    /// key=value: driver, state, name (regexp), label (repeatable)
    #[arg(long)]
    pub filter: Vec<String>,
    /// Seconds to wait for each machine (all are asked at once)
    #[arg(short, long, default_value_t = 1.0)]
    pub timeout: f64,
    /// Go template, e.g. "table {{.Name}}\t{{.URL}}"
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct ProvisionArgs {
    pub names: Vec<String>,
}

/// Adds every driver's flags to a subcommand, grouped per driver in --help.
fn with_driver_flags(mut cmd: Command) -> Command {
    for d in drivers::catalog() {
        for o in d.options {
            let mut help = format!("{}{}", o.help, o.help_suffix());
            if let Some(d) = o.default {
                help.push_str(&format!(" [default: {d}]"));
            }
            if let Some(e) = o.env {
                help.push_str(&format!(" [env: {e}]"));
            }
            let mut a = Arg::new(o.name)
                .long(o.name)
                .help(help)
                .help_heading(format!("{} driver", d.title));
            a = match o.kind {
                OptionKind::Bool => a.action(ArgAction::SetTrue),
                OptionKind::StringList => a.action(ArgAction::Append).value_name("VALUE"),
                _ => a.action(ArgAction::Set).value_name(match o.kind {
                    OptionKind::Int => "N",
                    OptionKind::Path => "PATH",
                    _ => "VALUE",
                }),
            };
            cmd = cmd.arg(a);
        }
    }
    cmd
}

pub fn command() -> Command {
    Cli::command()
        .mut_subcommand("create", with_driver_flags)
        .mut_subcommand("provision", with_driver_flags)
}

/// The driver flags the user actually gave (defaults and env are applied by the driver).
pub fn driver_options(m: &ArgMatches) -> DriverOptions {
    let mut opts = DriverOptions::default();
    for d in drivers::catalog() {
        for o in d.options {
            if m.value_source(o.name) != Some(clap::parser::ValueSource::CommandLine) {
                continue;
            }
            let v = match o.kind {
                OptionKind::Bool => OptionValue::Bool(m.get_flag(o.name)),
                OptionKind::StringList => OptionValue::List(
                    m.get_many::<String>(o.name)
                        .map(|v| v.cloned().collect())
                        .unwrap_or_default(),
                ),
                _ => OptionValue::Str(m.get_one::<String>(o.name).cloned().unwrap_or_default()),
            };
            opts.set(o.name, v);
        }
    }
    opts
}

pub fn parse() -> (Cli, DriverOptions) {
    let matches = command().get_matches();
    let driver_opts = match matches.subcommand() {
        Some(("create" | "provision", sub)) => driver_options(sub),
        _ => DriverOptions::default(),
    };
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (cli, driver_opts)
}
