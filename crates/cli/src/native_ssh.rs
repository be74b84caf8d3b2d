//! The built-in SSH client for `berth ssh` / `berth scp` (with --native-ssh, or when no `ssh`
//! program is installed): interactive shells in a PTY, commands with their exit status, and
//! single-file copies.

use std::io::{IsTerminal, Read, Write};

use berth_core::ops::remote::split_remote;
use berth_core::ops::{Berth, ProgressRef};
use berth_core::ssh::{SshSession, sh_quote};
use berth_core::{Error, Result};

async fn connect(berth: &Berth, name: &str, p: &ProgressRef) -> Result<SshSession> {
    // A first connection pins the host key into the record: that write happens under the
    // machine's lock; this session then only checks against it.
    berth.pin_host_key(name, p).await?;
    let (mut m, d) = berth.load_ready(name)?;
    berth.connect_ssh(&mut m, d.as_ref(), p).await
}

/// After the ssh program failed to connect: connects with the built-in client, whose error
/// says what is wrong (refused key, changed host key, no route) and what to do.
pub async fn diagnose(berth: &Berth, name: &str, p: &ProgressRef) -> Result<()> {
    connect(berth, name, p).await?.close().await;
    Ok(())
}

fn join_command(words: &[String]) -> String {
    // Like OpenSSH: the words are joined with spaces and the remote shell parses them.
    words.join(" ")
}

pub async fn run(berth: &Berth, name: &str, remote: &[String], p: &ProgressRef) -> Result<i32> {
    let session = connect(berth, name, p).await?;
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let code = if interactive {
        let cmd = (!remote.is_empty()).then(|| join_command(remote));
        pty_session(&session, cmd.as_deref()).await?
    } else {
        // Not a terminal: pass stdin through (e.g. `tar c . | berth ssh dev tar x`).
        let mut input = Vec::new();
        if !std::io::stdin().is_terminal() {
            let _ = std::io::stdin().read_to_end(&mut input);
        }
        let cmd = if remote.is_empty() {
            "exec $SHELL -l".to_string()
        } else {
            join_command(remote)
        };
        let (status, signal) = session
            .run(&cmd, Some(&input), &mut |chunk, is_err| {
                if is_err {
                    let _ = std::io::stderr().write_all(chunk);
                } else {
                    let _ = std::io::stdout().write_all(chunk);
                    let _ = std::io::stdout().flush();
                }
            })
            .await?;
        match (status, signal) {
            (Some(c), _) => c as i32,
            (None, Some(_)) => 255,
            (None, None) => 255,
        }
    };
    session.close().await;
    Ok(code)
}

#[cfg(unix)]
mod term {
    pub struct Raw(libc::termios);

    impl Raw {
        pub fn enter() -> Option<Raw> {
            // SAFETY: tcgetattr/tcsetattr on fd 0 with a properly sized, initialised struct.
            unsafe {
                let mut t: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(0, &mut t) != 0 {
                    return None;
                }
                let saved = t;
                libc::cfmakeraw(&mut t);
                libc::tcsetattr(0, libc::TCSANOW, &t);
                Some(Raw(saved))
            }
        }
    }

    impl Drop for Raw {
        fn drop(&mut self) {
            // SAFETY: restores the attributes saved by `enter`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &self.0);
            }
        }
    }

    pub fn size() -> (u32, u32) {
        // SAFETY: TIOCGWINSZ fills a winsize struct.
        unsafe {
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
                return (u32::from(ws.ws_col), u32::from(ws.ws_row));
            }
        }
        (80, 24)
    }
}

#[cfg(unix)]
async fn pty_session(session: &SshSession, command: Option<&str>) -> Result<i32> {
    use russh::ChannelMsg;
    use tokio::io::AsyncReadExt;
    let (cols, rows) = term::size();
    let term_name = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
    let mut channel = session.open_pty(command, &term_name, cols, rows).await?;
    let _raw = term::Raw::enter();
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 8192];
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .map_err(|e| Error::io(format!("cannot watch the terminal size: {e}")))?;
    let mut code = 255;
    let mut stdin_open = true;
    loop {
        tokio::select! {
            n = stdin.read(&mut buf), if stdin_open => match n {
                Ok(0) | Err(_) => { stdin_open = false; let _ = channel.eof().await; }
                Ok(n) => { let _ = channel.data(&buf[..n]).await; }
            },
            msg = channel.wait() => match msg {
                Some(ChannelMsg::Data { data }) => { let mut o = std::io::stdout(); let _ = o.write_all(&data); let _ = o.flush(); }
                Some(ChannelMsg::ExtendedData { data, .. }) => { let _ = std::io::stderr().write_all(&data); }
                Some(ChannelMsg::ExitStatus { exit_status }) => code = exit_status as i32,
                Some(_) => {}
                None => break,
            },
            _ = winch.recv() => {
                let (c, r) = term::size();
                let _ = channel.window_change(c, r, 0, 0).await;
            }
        }
    }
    Ok(code)
}

#[cfg(not(unix))]
async fn pty_session(_: &SshSession, _: Option<&str>) -> Result<i32> {
    Err(
        Error::invalid("interactive sessions need the ssh program on this system")
            .with_hint("install OpenSSH, or pass a command"),
    )
}

/// Copies one file between this computer and a machine over the built-in client.
pub async fn copy(berth: &Berth, src: &str, dst: &str, recursive: bool) -> Result<i32> {
    if recursive {
        return Err(Error::invalid("recursive copies need the scp program")
            .with_hint("install OpenSSH's scp"));
    }
    let p: ProgressRef = std::sync::Arc::new(berth_core::progress::Silent);
    match (split_remote(src), split_remote(dst)) {
        (None, Some((name, path))) => {
            let bytes = std::fs::read(src)
                .map_err(|e| Error::invalid(format!("cannot read {src}: {e}")))?;
            let session = connect(berth, name, &p).await?;
            let target = if path.is_empty() || path.ends_with('/') {
                let file = std::path::Path::new(src)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!("{path}{file}")
            } else {
                path.to_string()
            };
            let r = session.upload(&target, &bytes, 0o644).await;
            session.close().await;
            r?;
            Ok(0)
        }
        (Some((name, path)), None) => {
            let session = connect(berth, name, &p).await?;
            let out = session.exec(&format!("cat {}", sh_quote(path)), None).await;
            session.close().await;
            let out = out?;
            if !out.success() {
                return Err(Error::ssh(format!(
                    "cannot read {path} on {name}: {}",
                    out.stderr_text().trim()
                )));
            }
            let local = if std::path::Path::new(dst).is_dir() {
                std::path::Path::new(dst)
                    .join(std::path::Path::new(path).file_name().unwrap_or_default())
            } else {
                std::path::PathBuf::from(dst)
            };
            std::fs::write(&local, &out.stdout)
                .map_err(|e| Error::io(format!("cannot write {}: {e}", local.display())))?;
            Ok(0)
        }
        _ => Err(Error::invalid(
            "the built-in client copies between this computer and one machine",
        )
        .with_hint("install OpenSSH's scp for machine-to-machine copies")),
    }
}
