//! A managed block in the user's shell profiles that sources the active host's env file, so
//! every new terminal talks to the host chosen in Berth. Installing is idempotent (the block is
//! replaced, never duplicated), removing takes out exactly the block, and `preview` shows the
//! user every file and the exact text before anything is written.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{IoContext, Result};
use crate::fsutil;

const BEGIN: &str = "# >>> berth >>>";
const END: &str = "# <<< berth <<<";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileState {
    /// The file does not exist yet.
    Missing,
    /// The file exists without Berth's block.
    Absent,
    Installed,
    /// Berth's block is there but differs (an older version, or the store moved).
    Outdated,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileFile {
    pub shell: &'static str,
    pub path: PathBuf,
    pub state: ProfileState,
    /// The exact block Berth writes.
    pub block: String,
    /// Whether Berth owns the whole file (fish's conf.d snippet).
    pub whole_file: bool,
}

fn quote_sh(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
            .replace('`', "\\`")
    )
}

fn quote_ps(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "''"))
}

fn block(body: &str) -> String {
    format!(
        "{BEGIN}\n# Added by Berth: new shells use the Docker host chosen in Berth. Remove it from Berth's settings.\n{body}\n{END}\n"
    )
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|d| d.join(program).is_file() || d.join(format!("{program}.exe")).is_file())
    })
}

/// The profiles of the shells this user has (bash always on Unix; zsh, fish and PowerShell
/// when installed or already configured).
pub fn targets(home: &Path, active_dir: &Path) -> Vec<(&'static str, PathBuf, String, bool)> {
    let mut t = vec![];
    let sh = active_dir.join("env.sh");
    let sh_line = format!("[ -f {0} ] && . {0}", quote_sh(&sh));
    if cfg!(unix) {
        t.push(("bash", home.join(".bashrc"), block(&sh_line), false));
    }
    if cfg!(unix) && (on_path("zsh") || home.join(".zshrc").exists()) {
        t.push(("zsh", home.join(".zshrc"), block(&sh_line), false));
    }
    let fish_dir = home.join(".config/fish");
    if on_path("fish") || fish_dir.exists() {
        let f = active_dir.join("env.fish");
        t.push((
            "fish",
            fish_dir.join("conf.d/berth.fish"),
            block(&format!("test -f {0}; and source {0}", quote_sh(&f))),
            true,
        ));
    }
    let ps_profile = if cfg!(windows) {
        home.join("Documents/PowerShell/Microsoft.PowerShell_profile.ps1")
    } else {
        home.join(".config/powershell/Microsoft.PowerShell_profile.ps1")
    };
    if on_path("pwsh") || on_path("powershell") || ps_profile.exists() {
        let p = active_dir.join("env.ps1");
        t.push((
            "powershell",
            ps_profile,
            block(&format!("if (Test-Path {0}) {{ . {0} }}", quote_ps(&p))),
            false,
        ));
    }
    t
}

/// Splits a profile into (before, existing block, after).
fn split_block(text: &str) -> Option<(&str, &str, &str)> {
    let start = text.find(BEGIN)?;
    let end_rel = text[start..].find(END)?;
    let mut end = start + end_rel + END.len();
    if text[end..].starts_with('\n') {
        end += 1;
    }
    Some((&text[..start], &text[start..end], &text[end..]))
}

fn state_of(path: &Path, block: &str) -> ProfileState {
    match std::fs::read_to_string(path) {
        Err(_) => ProfileState::Missing,
        Ok(text) => match split_block(&text) {
            None => ProfileState::Absent,
            Some((_, existing, _)) if existing == block => ProfileState::Installed,
            Some(_) => ProfileState::Outdated,
        },
    }
}

/// What `install` would do, without doing it.
pub fn preview(home: &Path, active_dir: &Path) -> Vec<ProfileFile> {
    targets(home, active_dir)
        .into_iter()
        .map(|(shell, path, block, whole_file)| {
            let state = state_of(&path, &block);
            ProfileFile {
                shell,
                path,
                state,
                block,
                whole_file,
            }
        })
        .collect()
}

fn write_keeping_mode(path: &Path, text: &str) -> Result<()> {
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(fsutil::PUBLIC_MODE)
    };
    #[cfg(not(unix))]
    let mode = fsutil::PUBLIC_MODE;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).at("create", dir)?;
    }
    fsutil::atomic_write(path, text.as_bytes(), mode)
}

/// Adds (or updates) the block in every profile. Running it twice changes nothing.
pub fn install(home: &Path, active_dir: &Path) -> Result<Vec<ProfileFile>> {
    for (_, path, block, _) in targets(home, active_dir) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let new = match split_block(&text) {
            Some((before, existing, after)) if existing != block => {
                format!("{before}{block}{after}")
            }
            Some(_) => continue,
            None if text.is_empty() => block.clone(),
            None if text.ends_with('\n') => format!("{text}\n{block}"),
            None => format!("{text}\n\n{block}"),
        };
        write_keeping_mode(&path, &new)?;
    }
    Ok(preview(home, active_dir))
}

/// Takes the block out of every profile (and deletes files that held only the block).
pub fn uninstall(home: &Path, active_dir: &Path) -> Result<Vec<ProfileFile>> {
    for (_, path, _, whole_file) in targets(home, active_dir) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Some((before, _, after)) = split_block(&text) else {
            continue;
        };
        let rest = format!(
            "{}{after}",
            before
                .strip_suffix("\n\n")
                .map(|b| format!("{b}\n"))
                .unwrap_or_else(|| before.to_string())
        );
        if whole_file && rest.trim().is_empty() {
            std::fs::remove_file(&path).at("remove", &path)?;
        } else {
            write_keeping_mode(&path, &rest)?;
        }
    }
    Ok(preview(home, active_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_is_idempotent_and_reversible() {
        let home = tempfile::tempdir().unwrap();
        let active = Path::new("/store dir/active");
        let rc = home.path().join(".bashrc");
        std::fs::write(&rc, "alias ll='ls -l'\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        std::fs::create_dir_all(home.path().join(".config/fish")).unwrap();
        let before = preview(home.path(), active);
        assert_eq!(
            before.iter().find(|p| p.shell == "bash").unwrap().state,
            ProfileState::Absent
        );
        assert_eq!(
            before.iter().find(|p| p.shell == "fish").unwrap().state,
            ProfileState::Missing
        );
        install(home.path(), active).unwrap();
        let once = std::fs::read_to_string(&rc).unwrap();
        install(home.path(), active).unwrap();
        assert_eq!(std::fs::read_to_string(&rc).unwrap(), once, "idempotent");
        assert!(
            once.starts_with("alias ll='ls -l'\n\n# >>> berth >>>\n"),
            "{once}"
        );
        assert!(
            once.contains(r#"[ -f "/store dir/active/env.sh" ] && . "/store dir/active/env.sh""#),
            "{once}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&rc).unwrap().permissions().mode() & 0o777,
                0o640,
                "mode kept"
            );
        }
        assert!(
            preview(home.path(), active)
                .iter()
                .all(|p| p.state == ProfileState::Installed)
        );
        // The store moved: the block is updated in place, not duplicated.
        install(home.path(), Path::new("/elsewhere/active")).unwrap();
        let moved = std::fs::read_to_string(&rc).unwrap();
        assert_eq!(moved.matches(BEGIN).count(), 1);
        assert!(moved.contains("/elsewhere/active/env.sh"));
        uninstall(home.path(), Path::new("/elsewhere/active")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&rc).unwrap(),
            "alias ll='ls -l'\n",
            "exactly what was there before"
        );
        assert!(
            !home.path().join(".config/fish/conf.d/berth.fish").exists(),
            "Berth's own file is deleted"
        );
    }

    #[test]
    fn sourced_block_works_in_a_real_shell() {
        let home = tempfile::tempdir().unwrap();
        let active = home.path().join("active");
        std::fs::create_dir(&active).unwrap();
        std::fs::write(
            active.join("env.sh"),
            "export DOCKER_HOST=\"tcp://9.9.9.9:2376\"\n",
        )
        .unwrap();
        install(home.path(), &active).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                ". {} && printf %s \"$DOCKER_HOST\"",
                quote_sh(&home.path().join(".bashrc"))
            ))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "tcp://9.9.9.9:2376");
    }
}
