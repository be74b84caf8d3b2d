//! Opens the user's terminal with a machine's Docker environment injected (no script to
//! source), or running `berth ssh NAME`.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// A program to start, with its arguments and extra environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

fn on_path(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// How each Linux terminal takes a command to run.
fn linux_terminal(command: &[String]) -> Option<(String, Vec<String>)> {
    let candidates: Vec<String> = std::env::var("TERMINAL")
        .ok()
        .filter(|t| !t.is_empty())
        .into_iter()
        .chain(
            [
                "x-terminal-emulator",
                "gnome-terminal",
                "konsole",
                "xfce4-terminal",
                "kitty",
                "alacritty",
                "wezterm",
                "foot",
                "xterm",
            ]
            .iter()
            .map(|s| s.to_string()),
        )
        .collect();
    for t in candidates {
        let Some(path) = on_path(&t)
            .or_else(|| Some(PathBuf::from(&t)).filter(|p| p.is_absolute() && p.is_file()))
        else {
            continue;
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut args: Vec<String> = vec![];
        if !command.is_empty() {
            match name.as_str() {
                "gnome-terminal" => args.push("--".into()),
                "kitty" | "foot" => {}
                "wezterm" => args.extend(["start".into(), "--".into()]),
                "xfce4-terminal" => args.push("-x".into()),
                _ => args.push("-e".into()),
            }
            args.extend(command.iter().cloned());
        }
        return Some((path.display().to_string(), args));
    }
    None
}

/// A terminal with `env` set, running the user's shell (or `command`).
pub fn launch_for(env: Vec<(String, String)>, command: Vec<String>) -> Result<Launch> {
    if cfg!(target_os = "macos") {
        // Terminal.app does not inherit our environment: export it in the new window.
        let exports: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("export {k}={}", crate::ssh::sh_quote(v)))
            .collect();
        let mut script = exports.join("; ");
        if !command.is_empty() {
            script.push_str("; exec ");
            script.push_str(
                &command
                    .iter()
                    .map(|w| crate::ssh::sh_quote(w))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        let apple = format!(
            "tell application \"Terminal\" to do script \"{}\"",
            script.replace('\\', "\\\\").replace('"', "\\\"")
        );
        return Ok(Launch {
            program: "osascript".into(),
            args: vec![
                "-e".into(),
                apple,
                "-e".into(),
                "tell application \"Terminal\" to activate".into(),
            ],
            env: vec![],
        });
    }
    if cfg!(windows) {
        let mut args = vec![
            "/c".into(),
            "start".into(),
            "".into(),
            "powershell".into(),
            "-NoExit".into(),
        ];
        if !command.is_empty() {
            args.push("-Command".into());
            args.push(format!(
                "& {}",
                command
                    .iter()
                    .map(|w| format!("'{}'", w.replace('\'', "''")))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        return Ok(Launch {
            program: "cmd".into(),
            args,
            env,
        });
    }
    let (program, args) = linux_terminal(&command).ok_or_else(|| {
        Error::invalid("no terminal emulator found")
            .with_hint("install one (for example xterm or gnome-terminal), or set $TERMINAL")
    })?;
    Ok(Launch { program, args, env })
}

/// Starts the terminal, detached from Berth.
/// How to open `http://localhost:PORT/` in the user's browser (a published container port:
/// the URL is built from a number, nothing else reaches the opener).
pub fn browser_launch(port: u16) -> Launch {
    let url = format!("http://localhost:{port}/");
    let (program, args) = if cfg!(target_os = "macos") {
        ("open", vec![url])
    } else if cfg!(windows) {
        // `start` treats its first quoted argument as a window title.
        ("cmd", vec!["/C".into(), "start".into(), String::new(), url])
    } else {
        ("xdg-open", vec![url])
    };
    Launch {
        program: program.into(),
        args,
        env: vec![],
    }
}

pub fn spawn(l: &Launch) -> Result<()> {
    let mut c = crate::child::command(&l.program);
    c.args(&l.args).envs(l.env.iter().map(|(k, v)| (k, v)));
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c.spawn()
        .map(|_| ())
        .map_err(|e| Error::io(format!("cannot start {}: {e}", l.program)))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn picks_terminal_from_env_and_passes_command() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("my-term");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        // SAFETY: tests in this module only read TERMINAL; set it before reading.
        unsafe { std::env::set_var("TERMINAL", &fake) };
        let l = launch_for(
            vec![("DOCKER_HOST".into(), "tcp://1.2.3.4:2376".into())],
            vec!["berth".into(), "ssh".into(), "dev".into()],
        )
        .unwrap();
        assert_eq!(l.program, fake.display().to_string());
        assert_eq!(l.args, ["-e", "berth", "ssh", "dev"]);
        assert_eq!(l.env[0].0, "DOCKER_HOST");
        let plain = launch_for(vec![], vec![]).unwrap();
        assert!(plain.args.is_empty());
    }
}
