//! Shell syntax for `env` (docker-machine's formats, with values escaped properly) and the
//! active-host files that `berth use` writes for new shells to source.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Sh,
    Fish,
    PowerShell,
    Cmd,
    Tcsh,
    Emacs,
    Nushell,
}

impl Shell {
    pub fn parse(name: &str) -> Result<Shell> {
        let base = name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(name)
            .trim_end_matches(".exe")
            .to_ascii_lowercase();
        Ok(match base.as_str() {
            "bash" => Shell::Bash,
            "zsh" => Shell::Zsh,
            "sh" | "dash" | "ash" | "ksh" | "mksh" | "busybox" => Shell::Sh,
            "fish" => Shell::Fish,
            "powershell" | "pwsh" => Shell::PowerShell,
            "cmd" => Shell::Cmd,
            "tcsh" | "csh" => Shell::Tcsh,
            "emacs" => Shell::Emacs,
            "nu" | "nushell" => Shell::Nushell,
            _ => {
                return Err(
                    Error::invalid(format!("unknown shell \"{name}\"")).with_hint(
                        "use one of bash, zsh, sh, fish, powershell, cmd, tcsh, emacs, nushell",
                    ),
                );
            }
        })
    }

    /// The user's shell: `$SHELL` on Unix (POSIX sh when unset, where docker-machine failed;
    /// bash syntax for shells we do not know), fish when run inside fish, PowerShell/cmd on
    /// Windows.
    pub fn detect() -> Shell {
        if std::env::var_os("__fish_bin_dir").is_some()
            || std::env::var_os("FISH_VERSION").is_some()
        {
            return Shell::Fish;
        }
        if let Some(sh) = std::env::var_os("SHELL").filter(|s| !s.is_empty()) {
            return Shell::parse(&sh.to_string_lossy()).unwrap_or(Shell::Bash);
        }
        if cfg!(windows) {
            if std::env::var_os("PSModulePath").is_some() && std::env::var_os("PROMPT").is_none() {
                return Shell::PowerShell;
            }
            return Shell::Cmd;
        }
        Shell::Sh
    }
}

fn escape_posix(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

fn escape_fish(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$")
}

fn escape_powershell(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        // PowerShell ends a "…" string at typographic double quotes too.
        if matches!(c, '`' | '"' | '$' | '\u{201C}' | '\u{201D}' | '\u{201E}') {
            s.push('`');
        }
        s.push(c);
    }
    s
}

fn escape_cmd(v: &str) -> String {
    let mut s = String::new();
    for c in v.chars() {
        if "^&|<>".contains(c) {
            s.push('^');
        }
        s.push(c);
    }
    s
}

fn escape_elisp(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

fn tcsh_word(v: &str) -> String {
    if v.contains(['"', '$', '!', '`']) {
        format!("'{}'", v.replace('\'', r"'\''"))
    } else {
        format!("\"{v}\"")
    }
}

fn json_string(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into())
}

pub fn set_line(shell: Shell, name: &str, value: &str) -> String {
    match shell {
        Shell::Bash | Shell::Zsh | Shell::Sh => {
            format!("export {name}=\"{}\"", escape_posix(value))
        }
        Shell::Fish => format!("set -gx {name} \"{}\";", escape_fish(value)),
        Shell::PowerShell => format!("$Env:{name} = \"{}\"", escape_powershell(value)),
        Shell::Cmd => format!("SET {name}={}", escape_cmd(value)),
        Shell::Tcsh => format!("setenv {name} {};", tcsh_word(value)),
        Shell::Emacs => format!("(setenv \"{name}\" \"{}\")", escape_elisp(value)),
        Shell::Nushell => format!("$env.{name} = {}", json_string(value)),
    }
}

pub fn unset_line(shell: Shell, name: &str) -> String {
    match shell {
        Shell::Bash | Shell::Zsh | Shell::Sh => format!("unset {name}"),
        Shell::Fish => format!("set -e {name};"),
        Shell::PowerShell => format!("Remove-Item Env:\\\\{name}"),
        Shell::Cmd => format!("SET {name}="),
        Shell::Tcsh => format!("unsetenv {name};"),
        Shell::Emacs => format!("(setenv \"{name}\" nil)"),
        Shell::Nushell => format!("hide-env -i {name}"),
    }
}

/// The one line that points a shell at machine `name` (what the app copies for the user). The
/// `env` output's own hint (`usage_hint`) keeps docker-machine's wording, which scripts grep.
pub fn eval_command(shell: Shell, name: &str) -> String {
    match shell {
        Shell::Fish => format!("berth env {name} | source"),
        Shell::PowerShell => format!("& berth env {name} | Invoke-Expression"),
        Shell::Cmd => format!("@FOR /f \"tokens=*\" %i IN ('berth env {name}') DO @%i"),
        Shell::Tcsh => format!("eval `berth env {name}`"),
        _ => format!("eval \"$(berth env {name})\""),
    }
}

/// The two usage lines docker-machine printed at the end (scripts grep for them).
pub fn usage_hint(shell: Shell, argv: &[String]) -> String {
    let mut words: Vec<String> = argv.to_vec();
    if let Some(first) = words.first_mut()
        && (first.contains(' ') || first.contains('\\'))
    {
        *first = format!("\"{first}\"");
    }
    let cmd = words.join(" ");
    let (comment, eval) = match shell {
        Shell::Bash | Shell::Zsh | Shell::Sh => ("#", format!("eval $({cmd})")),
        Shell::Fish => ("#", format!("eval ({cmd})")),
        Shell::PowerShell => ("#", format!("& {cmd} | Invoke-Expression")),
        Shell::Cmd => (
            "REM",
            format!("\t@FOR /f \"tokens=*\" %i IN ('{cmd}') DO @%i"),
        ),
        Shell::Tcsh => (":", format!("eval `{cmd}`")),
        Shell::Emacs => (
            ";;",
            format!("(with-temp-buffer (shell-command \"{cmd}\" (current-buffer)) (eval-buffer))"),
        ),
        Shell::Nushell => (
            "#",
            format!(
                "{cmd} | lines | where $it starts-with '$env.' | str join (char nl) | save -f ~/.berth-env.nu; source ~/.berth-env.nu"
            ),
        ),
    };
    format!("{comment} Run this command to configure your shell: \n{comment} {eval}\n")
}

/// Refuses values no shell line can carry safely: a control character (a newline would start
/// a second command in `cmd` and PowerShell output, an escape would drive the terminal).
pub fn check_values(vars: &[(String, String)]) -> Result<()> {
    for (k, v) in vars {
        if v.chars().any(char::is_control) {
            return Err(crate::Error::store(format!(
                "{k} would be \"{}\", which contains control characters",
                v.escape_default()
            ))
            .with_hint("the machine's record was changed by hand: fix its URL/address, or remove it and create it again"));
        }
    }
    Ok(())
}

/// `env` output: one line per variable, then the usage hint.
pub fn render_set(shell: Shell, vars: &[(String, String)], argv: &[String]) -> String {
    let mut out = String::new();
    for (k, v) in vars {
        out.push_str(&set_line(shell, k, v));
        out.push('\n');
    }
    out.push_str(&usage_hint(shell, argv));
    out
}

pub fn render_unset(shell: Shell, names: &[String], argv: &[String]) -> String {
    let mut out = String::new();
    for n in names {
        out.push_str(&unset_line(shell, n));
        out.push('\n');
    }
    out.push_str(&usage_hint(shell, argv));
    out
}

/// The variables `env` sets, in docker-machine's order.
pub fn docker_env(url: &str, cert_path: &Path, name: &str) -> Vec<(String, String)> {
    let mut v = vec![
        ("DOCKER_TLS_VERIFY".to_string(), "1".to_string()),
        ("DOCKER_HOST".to_string(), url.to_string()),
        (
            "DOCKER_CERT_PATH".to_string(),
            cert_path.display().to_string(),
        ),
        ("DOCKER_MACHINE_NAME".to_string(), name.to_string()),
    ];
    if cfg!(windows) {
        v.push((
            "COMPOSE_CONVERT_WINDOWS_PATHS".to_string(),
            "true".to_string(),
        ));
    }
    v
}

pub const DOCKER_VARS: [&str; 4] = [
    "DOCKER_TLS_VERIFY",
    "DOCKER_HOST",
    "DOCKER_CERT_PATH",
    "DOCKER_MACHINE_NAME",
];

/// `--no-proxy`: the machine's address appended to the no-proxy list in use (lower-case
/// `no_proxy` wins when set), unless it is already there.
pub fn no_proxy_var(address: &str) -> (String, String) {
    let (name, current) = match std::env::var("no_proxy") {
        Ok(v) => ("no_proxy".to_string(), v),
        Err(_) => (
            "NO_PROXY".to_string(),
            std::env::var("NO_PROXY").unwrap_or_default(),
        ),
    };
    let value = if current.split(',').any(|e| e.trim() == address) {
        current
    } else if current.is_empty() {
        address.to_string()
    } else {
        format!("{current},{address}")
    };
    (name, value)
}

/// Files that hold the active host's environment, one per shell family, for shell profiles
/// to source: `<store>/active/env.sh`, `env.fish`, `env.ps1`, `env.csh`, `env.nu`, and
/// `active.json` with the machine's name.
pub struct ActiveFiles {
    pub dir: PathBuf,
}

impl ActiveFiles {
    pub fn in_store(root: &Path) -> ActiveFiles {
        ActiveFiles {
            dir: root.join("active"),
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The active machine's name, if one is set.
    pub fn current(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.path("active.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("Name")
            .and_then(|n| n.as_str())
            .map(str::to_string)
            .filter(|n| !n.is_empty())
    }

    /// Writes every shell's file. `vars` empty = local Docker (the files unset the variables).
    pub fn write(&self, name: Option<&str>, vars: &[(String, String)]) -> Result<()> {
        check_values(vars)?;
        fsutil::ensure_private_dir(&self.dir)?;
        let files: [(&str, Shell); 5] = [
            ("env.sh", Shell::Sh),
            ("env.fish", Shell::Fish),
            ("env.ps1", Shell::PowerShell),
            ("env.csh", Shell::Tcsh),
            ("env.nu", Shell::Nushell),
        ];
        for (file, shell) in files {
            let mut text = format!(
                "# Written by Berth: the active Docker host ({}). Do not edit; use `berth use`.\n",
                name.unwrap_or("local Docker")
            );
            if vars.is_empty() {
                for v in DOCKER_VARS {
                    text.push_str(&unset_line(shell, v));
                    text.push('\n');
                }
            } else {
                for (k, v) in vars {
                    text.push_str(&set_line(shell, k, v));
                    text.push('\n');
                }
            }
            fsutil::atomic_write(&self.path(file), text.as_bytes(), fsutil::PUBLIC_MODE)?;
        }
        let json = serde_json::json!({ "Name": name.unwrap_or(""), "Env": vars.iter().cloned().collect::<std::collections::BTreeMap<_, _>>() });
        fsutil::write_json(&self.path("active.json"), &json, fsutil::PUBLIC_MODE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv() -> Vec<String> {
        vec!["berth".into(), "env".into(), "dev".into()]
    }

    #[test]
    fn docker_machine_formats() {
        let vars = vec![("DOCKER_HOST".to_string(), "tcp://1.2.3.4:2376".to_string())];
        assert_eq!(
            render_set(Shell::Bash, &vars, &argv()),
            "export DOCKER_HOST=\"tcp://1.2.3.4:2376\"\n# Run this command to configure your shell: \n# eval $(berth env dev)\n"
        );
        assert!(
            render_set(Shell::Fish, &vars, &argv())
                .starts_with("set -gx DOCKER_HOST \"tcp://1.2.3.4:2376\";\n")
        );
        assert!(
            render_set(Shell::PowerShell, &vars, &argv())
                .starts_with("$Env:DOCKER_HOST = \"tcp://1.2.3.4:2376\"\n")
        );
        assert!(
            render_set(Shell::PowerShell, &vars, &argv())
                .ends_with("\n# & berth env dev | Invoke-Expression\n")
        );
        assert!(
            render_set(Shell::Cmd, &vars, &argv())
                .contains("SET DOCKER_HOST=tcp://1.2.3.4:2376\nREM Run this command")
        );
        assert!(
            render_set(Shell::Tcsh, &vars, &argv())
                .contains("setenv DOCKER_HOST \"tcp://1.2.3.4:2376\";\n: Run")
        );
        assert!(
            render_set(Shell::Emacs, &vars, &argv())
                .contains("(setenv \"DOCKER_HOST\" \"tcp://1.2.3.4:2376\")")
        );
        assert_eq!(
            unset_line(Shell::PowerShell, "DOCKER_HOST"),
            "Remove-Item Env:\\\\DOCKER_HOST"
        );
        let hint = usage_hint(Shell::Bash, &["/opt/my tools/berth".into(), "env".into()]);
        assert!(
            hint.contains("eval $(\"/opt/my tools/berth\" env)"),
            "{hint}"
        );
    }

    #[test]
    fn values_cannot_break_out() {
        let evil = "/home/a\"$(touch /tmp/x)`id`/m";
        let line = set_line(Shell::Bash, "DOCKER_CERT_PATH", evil);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{line}; printf %s \"$DOCKER_CERT_PATH\""))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), evil);
    }

    #[test]
    fn powershell_values_cannot_break_out() {
        let v = "C:\\a\u{201D}; calc; \u{201C}$x`";
        let line = set_line(Shell::PowerShell, "DOCKER_CERT_PATH", v);
        assert_eq!(
            line,
            "$Env:DOCKER_CERT_PATH = \"C:\\a`\u{201D}; calc; `\u{201C}`$x``\""
        );
        let vars = vec![("DOCKER_HOST".to_string(), "tcp://h:1\r\ncalc".to_string())];
        assert!(check_values(&vars).is_err());
        assert!(
            ActiveFiles::in_store(Path::new("/nonexistent"))
                .write(Some("m"), &vars)
                .is_err()
        );
    }

    #[test]
    fn shells_parse() {
        assert_eq!(Shell::parse("/usr/bin/zsh").unwrap(), Shell::Zsh);
        assert_eq!(
            Shell::parse("C:\\Windows\\pwsh.exe").unwrap(),
            Shell::PowerShell
        );
        assert!(Shell::parse("python").is_err());
    }

    #[test]
    fn active_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let a = ActiveFiles::in_store(dir.path());
        assert_eq!(a.current(), None);
        a.write(
            Some("dev"),
            &docker_env("tcp://1.2.3.4:2376", Path::new("/s/machines/dev"), "dev"),
        )
        .unwrap();
        assert_eq!(a.current().as_deref(), Some("dev"));
        let sh = std::fs::read_to_string(a.path("env.sh")).unwrap();
        assert!(sh.contains("export DOCKER_HOST=\"tcp://1.2.3.4:2376\""));
        a.write(None, &[]).unwrap();
        assert_eq!(a.current(), None);
        assert!(
            std::fs::read_to_string(a.path("env.sh"))
                .unwrap()
                .contains("unset DOCKER_HOST")
        );
    }
}
