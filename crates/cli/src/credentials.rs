//! `berth credentials add|ls|rm`: cloud accounts, secrets in the OS keychain.

use std::io::{BufRead, IsTerminal, Write};

use berth_core::credentials::{self, Credentials, Provider, Secret};
use berth_core::template;
use berth_core::{Error, Result, Store};

use crate::cli::CredentialsCmd;

pub async fn run(store: &Store, action: CredentialsCmd) -> Result<()> {
    let creds = Credentials::os(store.root());
    match action {
        CredentialsCmd::Add {
            provider,
            name,
            access_key_id,
            no_verify,
        } => {
            let provider = Provider::parse(&provider)?;
            let secret = match provider {
                Provider::DigitalOcean => {
                    if access_key_id.is_some() {
                        return Err(Error::invalid("--access-key-id is for amazonec2 accounts"));
                    }
                    Secret::Token(read_secret("DigitalOcean personal access token: ")?)
                }
                Provider::Aws => {
                    let id = access_key_id.ok_or_else(|| {
                        Error::invalid("an AWS account needs --access-key-id")
                            .with_hint("the secret access key is then read from standard input")
                    })?;
                    Secret::AwsKeys {
                        access_key_id: id,
                        secret_access_key: read_secret("AWS secret access key: ")?,
                        session_token: None,
                    }
                }
            };
            let (account, reaches) =
                berth_core::cloud::add_account(&creds, provider, &name, &secret, !no_verify)
                    .await
                    .map_err(|e| {
                        if e.message().starts_with(berth_core::cloud::UNCHECKED) {
                            let hint = e.hint().map(|h| format!("{h}; ")).unwrap_or_default();
                            e.clone()
                                .with_hint(format!("{hint}or store it unchecked with --no-verify"))
                        } else {
                            e
                        }
                    })?;
            println!(
                "Added the {} account \"{}\" (secret in the OS keychain)",
                provider.label(),
                account.name
            );
            match reaches {
                Some(r) => println!("It reaches {r}."),
                None => println!("Not checked (--no-verify): `berth credentials test` checks it."),
            }
        }
        CredentialsCmd::Ls => {
            let mut rows: Vec<String> = creds
                .list()?
                .iter()
                .map(|a| format!("{}\t{}\tkeychain\t{}", a.provider, a.name, a.added))
                .collect();
            let env = |k: &str| std::env::var(k).ok();
            for p in Provider::ALL {
                // What a create would use from the environment, named, never shown.
                if let Ok(Some((_, source))) = credentials::from_environment(p, &env) {
                    rows.push(format!("{}\t-\t{source}\t-", p.id()));
                }
            }
            if rows.is_empty() {
                println!(
                    "No cloud accounts. Add one with `berth credentials add digitalocean` or `berth credentials add amazonec2 --access-key-id ID`."
                );
                return Ok(());
            }
            rows.insert(0, "PROVIDER\tNAME\tSOURCE\tADDED".into());
            print!("{}", template::tabwrite(&rows.join("\n")));
        }
        CredentialsCmd::Test { provider, name } => {
            let provider = Provider::parse(&provider)?;
            let env = |k: &str| std::env::var(k).ok();
            let (secret, source) = creds.resolve(provider, name.as_deref(), &env)?;
            let reaches = berth_core::cloud::verify(provider, &secret).await?;
            println!("OK: {source} works for {reaches}");
        }
        CredentialsCmd::Rm { provider, name } => {
            let provider = Provider::parse(&provider)?;
            creds.remove(provider, &name)?;
            println!("Removed the {} account \"{name}\"", provider.label());
        }
    }
    Ok(())
}

/// One line from stdin; on a terminal, asked for with echo off (never a command-line argument:
/// those show in `ps` and shell history).
fn read_secret(prompt: &str) -> Result<String> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    #[cfg(unix)]
    let _echo = tty.then(EchoOff::new);
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io(format!("cannot read the secret: {e}")))?;
    if tty {
        eprintln!();
    }
    let secret = line.trim().to_string();
    if secret.is_empty() {
        return Err(Error::invalid("no secret given").with_hint(
            "type or paste it when asked, or pipe it in: `printf %s \"$TOKEN\" | berth credentials add ...`",
        ));
    }
    Ok(secret)
}

/// Terminal echo off while alive. Ctrl-C (or a kill) at the prompt would end the process
/// before `drop` runs and leave the user's terminal without echo, so until then SIGINT,
/// SIGTERM, SIGHUP and SIGQUIT first restore the settings, then end the process as they would.
#[cfg(unix)]
struct EchoOff(Option<libc::termios>);

#[cfg(unix)]
mod restore_on_signal {
    use std::sync::atomic::{AtomicBool, Ordering};

    pub const SIGNALS: [libc::c_int; 4] =
        [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];
    static ARMED: AtomicBool = AtomicBool::new(false);
    static mut SAVED: std::mem::MaybeUninit<libc::termios> = std::mem::MaybeUninit::uninit();

    extern "C" fn handler(sig: libc::c_int) {
        // Only async-signal-safe calls: tcsetattr, signal, raise.
        if ARMED.load(Ordering::SeqCst) {
            // SAFETY: SAVED was written before ARMED was set.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, (&raw const SAVED).cast()) };
        }
        // SAFETY: back to the default action, then the same signal: the process ends as it
        // would have (exit status 128+N in the shell).
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    pub fn arm(saved: libc::termios) {
        // SAFETY: written while no handler is armed (single-threaded prompt).
        unsafe { (&raw mut SAVED).write(std::mem::MaybeUninit::new(saved)) };
        ARMED.store(true, Ordering::SeqCst);
        for sig in SIGNALS {
            let h: extern "C" fn(libc::c_int) = handler;
            // SAFETY: installs a handler that only makes async-signal-safe calls.
            unsafe { libc::signal(sig, h as libc::sighandler_t) };
        }
    }

    pub fn disarm() {
        ARMED.store(false, Ordering::SeqCst);
        for sig in SIGNALS {
            // SAFETY: back to the default action.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
}

#[cfg(unix)]
impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed, then filled, termios.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return EchoOff(None);
            }
            let saved = t;
            restore_on_signal::arm(saved);
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            EchoOff(Some(saved))
        }
    }
}

#[cfg(unix)]
impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restores the settings read in `new`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
            restore_on_signal::disarm();
        }
    }
}
