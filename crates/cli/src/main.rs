//! `berth`: the docker-machine compatible command line. Thin: parsing, prompts and printing;
//! every operation is `berth_core::ops`.

mod cli;
mod credentials;
mod native_ssh;
mod render;

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use berth_core::drivers::DriverOptions;
use berth_core::machine::{EngineOptions, Phase};
use berth_core::ops::list::{Filters, ListOptions};
use berth_core::ops::{Berth, CreateSpec, ProgressRef};
use berth_core::shellenv::{self, Shell};
use berth_core::template::{self, Template};
use berth_core::text::printable;
use berth_core::{Error, ErrorKind, Result, Store};

use cli::{Cli, Cmd};
use render::Renderer;

const DEFAULT_LS_FORMAT: &str = "table {{ .Name }}\t{{ .Active }}\t{{ .DriverName}}\t{{ .State }}\t{{ .URL }}\t{{ .Swarm }}\t{{ .DockerVersion }}\t{{ .Error}}";

fn main() {
    // Started by `create`/`start` as a machine's port agent (detached, hidden argument).
    if let Some(code) = berth_core::agent::main_if_agent() {
        std::process::exit(code);
    }
    let (cli, driver_opts) = cli::parse();
    let code = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run(cli, driver_opts)),
        Err(e) => Err(Error::io(format!("cannot start the async runtime: {e}"))),
    };
    match code {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            print_error(&e);
            std::process::exit(exit_code(&e));
        }
    }
}

fn exit_code(e: &Error) -> i32 {
    match e.kind() {
        ErrorKind::PreCreate => 3,
        _ => 1,
    }
}

fn print_error(e: &Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "Error: {}", printable(&e.to_string()));
    // --debug (or MACHINE_DEBUG) also shows what the error came from.
    let debug = std::env::args().any(|a| a == "--debug" || a == "-D")
        || std::env::var("MACHINE_DEBUG")
            .is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes" | "on"));
    if debug {
        for cause in e.causes() {
            let _ = writeln!(err, "Caused by: {}", printable(&cause));
        }
    }
    if let Some(h) = e.hint() {
        let _ = writeln!(err, "Hint: {}", printable(h));
    }
}

/// `berth mount NAME:PATH DIR` through the host's sshfs, `berth mount -u DIR` through
/// fusermount (umount on macOS).
async fn mount(
    berth: &Berth,
    unmount: bool,
    remote: &str,
    local: Option<&str>,
    p: &ProgressRef,
) -> Result<i32> {
    let missing = |program: &str, package: &str| {
        Error::invalid(format!("{program} was not found"))
            .with_hint(format!("install it: {package}"))
    };
    if unmount {
        let dir = local.unwrap_or(remote);
        let argv: Vec<String> = if cfg!(target_os = "macos") {
            vec!["umount".into(), dir.into()]
        } else if which("fusermount3") {
            vec!["fusermount3".into(), "-u".into(), dir.into()]
        } else if which("fusermount") {
            vec!["fusermount".into(), "-u".into(), dir.into()]
        } else {
            return Err(missing(
                "fusermount",
                "sudo apt install fuse3 (Debian/Ubuntu)",
            ));
        };
        return run_external(&argv);
    }
    let Some(local) = local else {
        return Err(
            Error::invalid("berth mount needs NAME:PATH and a local folder")
                .with_hint("berth mount NAME:/path/in/the/machine LOCAL_DIR"),
        );
    };
    if !which("sshfs") {
        return Err(missing(
            "sshfs",
            "sudo apt install sshfs (Debian/Ubuntu), sudo dnf install fuse-sshfs (Fedora), macFUSE and sshfs from osxfuse.github.io (macOS)",
        ));
    }
    if let Some((name, _)) = berth_core::ops::remote::split_remote(remote) {
        berth.pin_host_key(name, p).await?;
    }
    let argv = berth.mount_argv(remote, local)?;
    run_external(&argv)
}

/// `[LOCAL:]REMOTE` of `berth port-forward`.
fn parse_forward(spec: &str) -> Result<(Option<u16>, u16)> {
    let port = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                Error::invalid(format!("\"{s}\" is not a port (1-65535)"))
                    .with_hint("berth port-forward NAME [LOCAL:]REMOTE, e.g. 8080 or 18080:80")
            })
    };
    match spec.split_once(':') {
        Some((l, r)) => Ok((Some(port(l)?), port(r)?)),
        None => Ok((None, port(spec)?)),
    }
}

async fn port_forward(berth: &Berth, name: &str, spec: &str, p: &ProgressRef) -> Result<()> {
    let (local, remote) = parse_forward(spec)?;
    let forward = berth.port_forward(name, local, remote, p, |port| {
        eprintln!(
            "Forwarding 127.0.0.1:{port} to port {remote} of \"{}\" (Ctrl-C stops)",
            printable(name)
        );
    });
    tokio::select! {
        r = forward => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// `berth share`: serves the folder until Ctrl-C, then unmounts it in the machine.
async fn share(berth: &Berth, name: &str, folder: &str, p: &ProgressRef) -> Result<()> {
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    berth
        .share_folder(name, folder, p, stop, |s| {
            eprintln!(
                "{} is mounted at {} in \"{}\" (Ctrl-C unmounts it)",
                s.host,
                s.guest,
                printable(name)
            );
        })
        .await
}

/// `berth ports`: the folders mounted in a local VM and the container ports answering here.
async fn ports(berth: &Berth, name: &str, json: bool) -> Result<()> {
    let w = berth.workspace(name).await?;
    if json {
        let text = serde_json::to_string_pretty(&w)
            .map_err(|e| Error::io(format!("cannot print JSON: {e}")))?;
        say(&text);
        return Ok(());
    }
    if w.shares.is_empty() {
        say("Shared folders: none");
    } else {
        say("Shared folders:");
        for s in &w.shares {
            match s.problem.as_str() {
                "" => say(&format!("  {} -> {}", s.host, s.guest)),
                why => say(&format!("  {} -> {} (not mounted: {why})", s.host, s.guest)),
            }
        }
    }
    if !w.agent && w.ports.is_empty() {
        say("Published ports: none (the port agent is not running: start the machine)");
        return Ok(());
    }
    if w.ports.is_empty() {
        say("Published ports: none yet (they appear as containers publish them)");
    } else {
        say("Published ports:");
        for p in &w.ports {
            let at = format!("{}:{}/{}", p.host_ip, p.port, p.proto.as_str());
            let who = p.containers.join(", ");
            match p.problem.as_str() {
                "" => say(&format!("  {at} <- {who}")),
                why => say(&format!("  {at} <- {who} (NOT forwarded: {why})")),
            }
        }
    }
    Ok(())
}

/// Prints a line of output that carries text from a record or a host (escaped, see
/// `berth_core::text`).
fn say(line: &str) {
    println!("{}", printable(line));
}

/// The machine to act on: the one named, else `default` if it exists (docker-machine's rule).
fn target(store: &Store, name: Option<String>) -> Result<String> {
    match name {
        Some(n) => Ok(n),
        None if store.exists("default") => Ok("default".into()),
        None => Err(Error::invalid(
            "No machine name(s) specified and no \"default\" machine exists",
        )),
    }
}

fn targets(store: &Store, names: Vec<String>) -> Result<Vec<String>> {
    if names.is_empty() {
        Ok(vec![target(store, None)?])
    } else {
        Ok(names)
    }
}

fn confirm(question: &str) -> bool {
    print!("{question} (y/n): ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    line.trim_start().starts_with(['y', 'Y'])
}

fn progress(debug: bool) -> (Arc<Renderer>, ProgressRef) {
    let r = Arc::new(Renderer::new(debug));
    let p: ProgressRef = r.clone();
    (r, p)
}

fn version_string() -> String {
    format!(
        "berth version {}, build {}",
        berth_core::VERSION,
        option_env!("BERTH_BUILD").unwrap_or("dev")
    )
}

async fn run(cli: Cli, driver_opts: DriverOptions) -> Result<i32> {
    if cli.version_flag {
        println!("{}", version_string());
        return Ok(0);
    }
    let Some(command) = cli.command else {
        let _ = cli::command().print_help();
        return Ok(0);
    };
    let store = Store::locate(cli.storage_path.clone())?;
    let mut berth = Berth::new(store.clone());
    berth.debug = cli.debug;
    let (renderer, p) = progress(cli.debug);

    match command {
        Cmd::Active { extra, .. } => {
            if !extra.is_empty() {
                return Err(Error::invalid("Too many arguments given"));
            }
            say(&berth.active()?);
        }
        Cmd::Config { swarm, name } => {
            no_swarm(swarm)?;
            let name = target(&store, name)?;
            print!("{}", printable(&berth.config_flags(&name, &p).await?));
        }
        Cmd::Create(args) => return create(&berth, args, driver_opts, &renderer, &p).await,
        Cmd::Credentials { action } => credentials::run(&store, action).await?,
        Cmd::Env(args) => env(&berth, args, &p).await?,
        Cmd::Inspect { format, name } => {
            let name = target(&store, name)?;
            let m = berth.load(&name)?;
            let v = serde_json::to_value(&m).map_err(|e| Error::store(e.to_string()))?;
            match format {
                None => say(&template::pretty4(&v)),
                Some(f) => say(&Template::parse(&f)?.render(&v)?),
            }
        }
        Cmd::Ip { names } => {
            for n in targets(&store, names)? {
                say(&berth.ip(&n)?);
            }
        }
        Cmd::Start { names } => {
            return lifecycle(&berth, &store, names, Life::Start, &renderer, &p).await;
        }
        Cmd::Stop { names } => {
            return lifecycle(&berth, &store, names, Life::Stop, &renderer, &p).await;
        }
        Cmd::Kill { names } => {
            return lifecycle(&berth, &store, names, Life::Kill, &renderer, &p).await;
        }
        Cmd::Restart { names } => {
            return lifecycle(&berth, &store, names, Life::Restart, &renderer, &p).await;
        }
        Cmd::Ls(args) => ls(&berth, args).await?,
        Cmd::Ports { json, name } => ports(&berth, &target(&store, name)?, json).await?,
        Cmd::PortForward { name, ports } => port_forward(&berth, &name, &ports, &p).await?,
        Cmd::Share { name, folder } => share(&berth, &name, &folder, &p).await?,
        Cmd::Mount {
            unmount,
            remote,
            local,
        } => return mount(&berth, unmount, &remote, local.as_deref(), &p).await,
        Cmd::Provision(args) => {
            let names = targets(&store, args.names)?;
            if !driver_opts.0.is_empty() && names.len() != 1 {
                return Err(Error::invalid("driver flags change one machine at a time"));
            }
            for n in names {
                let r = berth.provision(&n, Some(&driver_opts), &p).await;
                renderer.finish(r.is_ok());
                r?;
                println!("Machine \"{n}\" was provisioned.");
            }
        }
        Cmd::RegenerateCerts {
            force,
            client_certs,
            names,
        } => {
            let names = targets(&store, names)?;
            if !force && !confirm("Regenerate TLS machine certs?  Warning: this is irreversible.") {
                return Ok(0);
            }
            println!("Regenerating TLS certificates");
            if client_certs {
                println!("Regenerating local certificates");
            }
            for (i, n) in names.iter().enumerate() {
                let r = berth.regenerate_certs(n, client_certs && i == 0, &p).await;
                renderer.finish(r.is_ok());
                r?;
            }
        }
        Cmd::Rm { force, yes, names } => return rm(&berth, force, yes, names, &renderer, &p).await,
        Cmd::Scp {
            recursive,
            quiet,
            delta,
            src,
            dst,
        } => return scp(&berth, cli.native_ssh, recursive, quiet, delta, &src, &dst).await,
        Cmd::Ssh { args } => return ssh(&berth, &store, cli.native_ssh, args, &p).await,
        Cmd::Status { name } => {
            let name = target(&store, name)?;
            say(&berth
                .state(&name, Duration::from_secs(10))
                .await?
                .to_string());
        }
        Cmd::Url { name } => {
            let name = target(&store, name)?;
            say(&berth.url(&name)?);
        }
        Cmd::Use { unset, name } => {
            let name = if unset || name.as_deref() == Some("local") {
                None
            } else {
                Some(target(&store, name)?)
            };
            berth.use_machine(name.as_deref(), &p).await?;
            let context_mode = berth_core::settings::Settings::load(&store).switch_mode
                == berth_core::settings::SwitchMode::Context;
            match name {
                Some(n) if context_mode => println!(
                    "\"{n}\" is now the active Docker host in every terminal (docker context {}).",
                    berth_core::contexts::context_name(&n)
                ),
                None if context_mode => {
                    println!("Every terminal now uses the local Docker (docker context default).")
                }
                Some(n) => println!(
                    "\"{n}\" is now the active Docker host for new shells. In this shell: eval $(berth env {n})"
                ),
                None => println!(
                    "New shells now use the local Docker. In this shell: eval $(berth env -u)"
                ),
            }
        }
        Cmd::ResetHostKey { name } => match berth.reset_host_key(&name).await? {
            Some(fp) => println!(
                "Forgot the host key {fp} of \"{name}\"; the next connection pins the key the server presents."
            ),
            None => println!("No host key was pinned for \"{name}\"."),
        },
        Cmd::Drivers { json } => {
            let catalog = berth_core::drivers::catalog();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&catalog).unwrap_or_default()
                );
            } else {
                for d in catalog {
                    println!("{:<10} {}", d.name, d.description);
                    for o in d.options {
                        let mut extra = vec![];
                        if let Some(v) = o.default {
                            extra.push(format!("default {v}"));
                        }
                        if let Some(e) = o.env {
                            extra.push(format!("${e}"));
                        }
                        let extra = if extra.is_empty() {
                            String::new()
                        } else {
                            format!(" [{}]", extra.join(", "))
                        };
                        println!("    --{:<24} {}{}{extra}", o.name, o.help, o.help_suffix());
                    }
                }
            }
        }
        Cmd::Version { names } => match names.as_slice() {
            [] => println!("{}", version_string()),
            [n] => say(&berth
                .docker_version(n, Duration::from_secs(20))
                .await?
                .version),
            _ => return Err(Error::invalid("Expected one machine name as an argument")),
        },
    }
    Ok(0)
}

fn no_swarm(swarm: bool) -> Result<()> {
    if swarm {
        return Err(Error::invalid("Swarm classic is not supported")
            .with_hint("use Docker's own swarm mode: docker swarm init"));
    }
    Ok(())
}

async fn create(
    berth: &Berth,
    args: cli::CreateArgs,
    driver_opts: DriverOptions,
    renderer: &Renderer,
    p: &ProgressRef,
) -> Result<i32> {
    let Some(name) = args.name else {
        return Err(Error::invalid("No machine name specified")
            .with_hint("berth create -d DRIVER [OPTIONS] NAME"));
    };
    if !args.extra.is_empty() {
        return Err(Error::invalid(format!(
            "Invalid command line. Found extra arguments {:?}",
            args.extra
        ))
        .with_hint("options go before the machine name"));
    }
    no_swarm(args.swarm || args.swarm_master)?;
    let spec = CreateSpec {
        name: name.clone(),
        driver: args.driver,
        driver_options: driver_opts,
        engine: EngineOptions {
            arbitrary_flags: args.engine_opt,
            env: args.engine_env,
            insecure_registry: args.engine_insecure_registry,
            labels: args.engine_label,
            registry_mirror: args.engine_registry_mirror,
            storage_driver: args.engine_storage_driver,
            install_url: args.engine_install_url,
            tls_verify: true,
            live_restore: !args.engine_no_live_restore,
        },
        tls_sans: args.tls_san,
        keep_on_failure: args.keep_on_failure,
    };
    match berth.create(&spec, p).await {
        Ok(_) => {
            renderer.finish(true);
            println!("Docker is up and running!");
            println!(
                "To see how to connect your Docker Client to the Docker Engine running on this machine, run: berth env {name}"
            );
            Ok(0)
        }
        Err(e) => {
            renderer.finish(false);
            let prefix = if e.kind() == ErrorKind::PreCreate {
                "Error with pre-create check"
            } else {
                "Error creating machine"
            };
            eprintln!("{prefix}: {}", printable(&e.to_string()));
            if let Some(h) = e.hint() {
                eprintln!("Hint: {}", printable(h));
            }
            if berth
                .load(&name)
                .is_ok_and(|m| m.status.phase == Phase::Error)
            {
                eprintln!(
                    "The machine \"{name}\" is kept, marked Error: `berth provision {name}` tries again, `berth rm {name}` removes it."
                );
            }
            Ok(exit_code(&e))
        }
    }
}

async fn env(berth: &Berth, args: cli::EnvArgs, p: &ProgressRef) -> Result<()> {
    no_swarm(args.swarm)?;
    if !args.extra.is_empty() {
        return Err(Error::invalid("Expected one machine name as an argument"));
    }
    let shell = match &args.shell {
        Some(s) => Shell::parse(s)?,
        None => Shell::detect(),
    };
    let argv: Vec<String> = std::env::args().collect();
    if args.unset {
        if args.name.is_some() {
            return Err(Error::invalid(
                "Expected no machine name when the -u flag is present",
            ));
        }
        let mut names: Vec<String> = shellenv::DOCKER_VARS
            .iter()
            .map(|s| s.to_string())
            .collect();
        if args.no_proxy {
            names.push(if std::env::var_os("no_proxy").is_some() {
                "no_proxy".into()
            } else {
                "NO_PROXY".into()
            });
        }
        print!("{}", shellenv::render_unset(shell, &names, &argv));
        return Ok(());
    }
    let name = target(&berth.store, args.name)?;
    let vars = berth.env_vars(&name, args.no_proxy, p).await?;
    print!("{}", shellenv::render_set(shell, &vars, &argv));
    Ok(())
}

async fn ls(berth: &Berth, args: cli::LsArgs) -> Result<()> {
    if !(args.timeout > 0.0 && args.timeout < 3600.0) {
        return Err(Error::invalid(
            "--timeout must be a number of seconds above 0",
        ));
    }
    let filters = Filters::parse(&args.filter)?;
    let opts = ListOptions {
        timeout: Duration::from_secs_f64(args.timeout),
        probe: !args.quiet || filters.needs_state(),
        filters,
    };
    let rows = berth.list(&opts).await?;
    if args.quiet {
        for r in rows.iter().filter(|r| r.driver_name != "?") {
            println!("{}", r.name);
        }
        return Ok(());
    }
    let format = args
        .format
        .unwrap_or_else(|| DEFAULT_LS_FORMAT.to_string())
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    let (table, body) = match format.trim().strip_prefix("table") {
        Some(rest) => (true, rest.trim().to_string()),
        None => (false, format.trim().to_string()),
    };
    let tpl = Template::parse(&body)?;
    let mut out = String::new();
    if table {
        let headers = serde_json::json!({
            "Name": "NAME", "Active": "ACTIVE", "ActiveHost": "ACTIVE_HOST", "ActiveSwarm": "ACTIVE_SWARM",
            "DriverName": "DRIVER", "State": "STATE", "URL": "URL", "SwarmOptions": "SWARM_OPTIONS", "Swarm": "SWARM",
            "EngineOptions": "ENGINE_OPTIONS", "Error": "ERRORS", "DockerVersion": "DOCKER", "ResponseTime": "RESPONSE"
        });
        out.push_str(&tpl.render(&headers)?);
        out.push('\n');
    }
    for r in &rows {
        let v = serde_json::to_value(r).map_err(|e| Error::store(e.to_string()))?;
        out.push_str(&tpl.render(&v)?);
        out.push('\n');
    }
    print!(
        "{}",
        printable(&if table { template::tabwrite(&out) } else { out })
    );
    Ok(())
}

#[derive(Clone, Copy)]
enum Life {
    Start,
    Stop,
    Kill,
    Restart,
}

async fn lifecycle(
    berth: &Berth,
    store: &Store,
    names: Vec<String>,
    what: Life,
    renderer: &Renderer,
    p: &ProgressRef,
) -> Result<i32> {
    let names = targets(store, names)?;
    let results = futures_util::future::join_all(names.iter().map(|n| async move {
        match what {
            Life::Start => berth.start(n, p).await,
            Life::Stop => berth.stop(n, p).await,
            Life::Kill => berth.kill(n, p).await,
            Life::Restart => berth.restart(n, p).await,
        }
    }))
    .await;
    renderer.finish(results.iter().all(|r| r.is_ok()));
    let mut failed = false;
    for (n, r) in names.iter().zip(results) {
        match r {
            Ok(()) => println!(
                "Machine \"{n}\" was {}.",
                match what {
                    Life::Start => "started",
                    Life::Stop => "stopped",
                    Life::Kill => "killed",
                    Life::Restart => "restarted",
                }
            ),
            Err(e) => {
                failed = true;
                print_error(&e.context(format!("\"{n}\"")));
            }
        }
    }
    if !failed && matches!(what, Life::Start | Life::Restart) {
        println!(
            "Started machines may have new IP addresses; Berth re-issues their certificates when needed."
        );
    }
    Ok(if failed { 1 } else { 0 })
}

async fn rm(
    berth: &Berth,
    force: bool,
    yes: bool,
    names: Vec<String>,
    renderer: &Renderer,
    p: &ProgressRef,
) -> Result<i32> {
    if names.is_empty() {
        return Err(
            Error::invalid("Expected to get one or more machine names as arguments")
                .with_hint("berth rm NAME..."),
        );
    }
    println!("About to remove {}", names.join(", "));
    println!(
        "WARNING: This action will delete both local reference and remote instance (for existing servers: Berth's Docker configuration on them)."
    );
    if !(yes || force || confirm("Are you sure?")) {
        return Ok(0);
    }
    let mut failed = false;
    for n in &names {
        let r = berth.remove(n, force, p).await;
        renderer.finish(r.is_ok());
        match r {
            Ok(()) => println!("Successfully removed {n}"),
            Err(e) => {
                failed = true;
                eprintln!("Error removing host \"{n}\": {}", printable(&e.to_string()));
                if let Some(h) = e.hint() {
                    eprintln!("Hint: {}", printable(h));
                }
            }
        }
    }
    Ok(if failed && !force { 1 } else { 0 })
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Runs an external program with this process's stdio and returns its exit status.
fn run_external(argv: &[String]) -> Result<i32> {
    let status = berth_core::child::command(&argv[0])
        .args(&argv[1..])
        .status()
        .map_err(|e| Error::io(format!("cannot run {}: {e}", argv[0])))?;
    Ok(status.code().unwrap_or(255))
}

async fn ssh(
    berth: &Berth,
    store: &Store,
    native: bool,
    args: Vec<String>,
    p: &ProgressRef,
) -> Result<i32> {
    if matches!(
        args.first().map(String::as_str),
        Some("-h" | "-help" | "--help")
    ) {
        println!(
            "Usage: berth ssh [NAME] [COMMAND...]\n\nLog in to a machine, or run COMMAND on it; exits with COMMAND's status."
        );
        return Ok(0);
    }
    let mut args = args.into_iter();
    let name = target(store, args.next())?;
    let remote: Vec<String> = args.collect();
    berth.ssh_endpoint(&name)?;
    // Pin the key now so the external client can verify it.
    berth.pin_host_key(&name, p).await?;
    if !native && which("ssh") {
        let argv = berth.ssh_argv(&name, &remote, false)?;
        let code = run_external(&argv)?;
        if code == 255 {
            // ssh's own failure (it says nothing with LogLevel=quiet): find out why.
            native_ssh::diagnose(berth, &name, p).await?;
        }
        return Ok(code);
    }
    native_ssh::run(berth, &name, &remote, p).await
}

async fn scp(
    berth: &Berth,
    native: bool,
    recursive: bool,
    quiet: bool,
    delta: bool,
    src: &str,
    dst: &str,
) -> Result<i32> {
    let argv = berth.scp_argv(src, dst, recursive, quiet)?;
    if delta {
        if !which("rsync") {
            return Err(Error::invalid("--delta needs rsync")
                .with_hint("install rsync, or copy without --delta"));
        }
        let r = berth.rsync_argv(src, dst, recursive, quiet)?;
        return run_external(&r);
    }
    if !native && which("scp") {
        return run_external(&argv);
    }
    native_ssh::copy(berth, src, dst, recursive).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_specs_are_local_and_remote_ports() {
        assert_eq!(parse_forward("8080").unwrap(), (None, 8080));
        assert_eq!(parse_forward("18080:80").unwrap(), (Some(18080), 80));
        for bad in ["", "0", "x", "80:", "70000", "1:2:3"] {
            assert!(parse_forward(bad).is_err(), "{bad:?}");
        }
    }
}
