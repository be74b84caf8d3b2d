//! A managed block in the user's shell profiles that sources the active host's env file, so
//! every new terminal talks to the host chosen in Berth. Installing is idempotent (the block is
//! replaced, never duplicated), removing takes out exactly the block, and `preview` shows the
//! user every file and the exact text before anything is written. Removing gives every file
//! back byte for byte. Files are edited through `userfile` (links followed, encoding kept);
//! one Berth cannot read, decode or safely replace, or whose block is damaged, stops install
//! and uninstall before any file is written.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::userfile::{self, Encoding, UserFile};

const BEGIN: &str = "# >>> berth >>>";
const END: &str = "# <<< berth <<<";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ProfileState {
    /// The file does not exist yet.
    Missing,
    /// The file exists without Berth's block.
    Absent,
    Installed,
    /// Berth's block is there but differs (an older version, or the store moved).
    Outdated,
    /// The file exists but cannot be read or decoded (permissions, not a file, UTF-16 without
    /// a byte-order mark, a link loop): Berth will not touch it. `reason` says why.
    Unreadable,
    /// Berth's markers are there but do not form one block (a lone, repeated or reversed
    /// marker line): the user must fix it. `reason` says where.
    Damaged,
    /// The block needs adding or updating, but Berth will not replace the file: read-only,
    /// or owned by another user. `reason` says which.
    Protected,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProfileFile {
    pub shell: &'static str,
    pub path: PathBuf,
    pub state: ProfileState,
    /// Why Berth refuses the file (for the refused states), naming it.
    pub reason: Option<String>,
    /// What the user can do about it.
    pub hint: Option<String>,
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

/// Where Berth's block sits in a profile: from the start of its BEGIN line to the end of its
/// END line. Markers count only as whole lines, so a mention inside a command is not one. A
/// lone, repeated or reversed marker is damage the user must look at (the reason, in words).
fn find_block(text: &[u8]) -> std::result::Result<Option<Range<usize>>, String> {
    let (mut begins, mut ends) = (vec![], vec![]);
    let mut start = 0;
    for (n, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        match line.trim_ascii() {
            l if l == BEGIN.as_bytes() => begins.push((n + 1, start)),
            l if l == END.as_bytes() => ends.push((n + 1, start + line.len())),
            _ => {}
        }
        start += line.len();
    }
    match (begins.as_slice(), ends.as_slice()) {
        ([], []) => Ok(None),
        ([(b, from)], [(e, to)]) if b < e => Ok(Some(*from..*to)),
        ([(b, _)], [(e, _)]) => Err(format!("line {e} ends it before line {b} starts it")),
        ([(b, _)], []) => Err(format!("line {b} starts it but no line ends it")),
        ([], [(e, _)]) => Err(format!("line {e} ends it but no line starts it")),
        (b, e) => Err(format!(
            "it has {} start and {} end lines (lines {})",
            b.len(),
            e.len(),
            lines(b, e)
        )),
    }
}

fn lines(begins: &[(usize, usize)], ends: &[(usize, usize)]) -> String {
    let mut all: Vec<usize> = begins.iter().chain(ends).map(|(n, _)| *n).collect();
    all.sort_unstable();
    all.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn damaged(file: &UserFile, why: String) -> Error {
    Error::invalid(format!(
        "Berth's block in {} is damaged: {why}",
        file.name()
    ))
    .with_hint(format!(
        "fix or remove the lines between \"{BEGIN}\" and \"{END}\" in {} yourself, then try again",
        file.target.display()
    ))
}

/// The text with the block added: always after one "\n", which ends an unfinished last line
/// or makes a blank line before the block. `without_block` takes exactly that "\n" out again.
fn with_block(text: &[u8], at: Option<Range<usize>>, block: &str) -> Vec<u8> {
    match at {
        Some(r) => [&text[..r.start], block.as_bytes(), &text[r.end..]].concat(),
        None => [text, b"\n", block.as_bytes()].concat(),
    }
}

/// The text without the block and the "\n" `with_block` put before it, so removing restores
/// the file byte for byte. The "\n" stays when taking it would join the lines around the block
/// (the user moved it or wrote after it).
fn without_block(text: &[u8], at: Range<usize>) -> Vec<u8> {
    let (before, after) = (&text[..at.start], &text[at.end..]);
    let before = match before.strip_suffix(b"\n") {
        Some(b) if after.is_empty() || b.is_empty() || b.ends_with(b"\n") => b,
        _ => before,
    };
    [before, after].concat()
}

/// What a profile would need, and why Berth will not do it.
struct Checked {
    state: ProfileState,
    problem: Option<Error>,
}

fn check(path: &Path, block: &str) -> Checked {
    let refused = |state, e| Checked {
        state,
        problem: Some(e),
    };
    let file = match userfile::open(path) {
        Ok(f) => f,
        Err(e) => return refused(ProfileState::Unreadable, e),
    };
    let Some(text) = &file.text else {
        return Checked {
            state: ProfileState::Missing,
            problem: None,
        };
    };
    let state = match find_block(text) {
        Err(why) => return refused(ProfileState::Damaged, damaged(&file, why)),
        Ok(None) => ProfileState::Absent,
        Ok(Some(r)) if &text[r.clone()] == block.as_bytes() => ProfileState::Installed,
        Ok(Some(_)) => ProfileState::Outdated,
    };
    // Like `install`, refuse only a file that needs changing (installed is left alone).
    let needs_write = matches!(state, ProfileState::Absent | ProfileState::Outdated);
    match file.check_writable() {
        Err(e) if needs_write => refused(ProfileState::Protected, e),
        _ => Checked {
            state,
            problem: None,
        },
    }
}

/// What `install` would do, without doing it.
pub fn preview(home: &Path, active_dir: &Path) -> Vec<ProfileFile> {
    targets(home, active_dir)
        .into_iter()
        .map(|(shell, path, block, whole_file)| {
            let Checked { state, problem } = check(&path, &block);
            ProfileFile {
                shell,
                path,
                state,
                reason: problem.as_ref().map(|e| e.message().to_string()),
                hint: problem.as_ref().and_then(|e| e.hint()).map(str::to_string),
                block,
                whole_file,
            }
        })
        .collect()
}

enum Change {
    Keep,
    Write(Vec<u8>),
    Remove,
}

/// Decides the change for every profile before touching any, so a file Berth refuses stops
/// the whole operation with nothing half done.
fn plan(
    home: &Path,
    active_dir: &Path,
    change: impl Fn(Option<&[u8]>, Option<Range<usize>>, &str, bool) -> Change,
) -> Result<Vec<(UserFile, Change)>> {
    let mut plan = vec![];
    for (_, path, block, whole_file) in targets(home, active_dir) {
        let file = userfile::open(&path)?;
        let at = match &file.text {
            Some(text) => find_block(text).map_err(|why| damaged(&file, why))?,
            None => None,
        };
        let change = change(file.text.as_deref(), at, &block, whole_file);
        if !matches!(change, Change::Keep) {
            file.check_writable()?;
        }
        plan.push((file, change));
    }
    Ok(plan)
}

/// A new profile: UTF-8, with a byte-order mark for PowerShell, which Windows PowerShell 5
/// otherwise reads as the ANSI code page (paths with accents would break).
fn new_encoding(path: &Path) -> Encoding {
    Encoding::Bytes {
        utf8_bom: path.extension().is_some_and(|e| e == "ps1"),
    }
}

fn apply(plan: Vec<(UserFile, Change)>) -> Result<()> {
    for (file, change) in plan {
        match change {
            Change::Keep => {}
            Change::Write(text) => {
                file.write(&text, new_encoding(&file.path), fsutil::PUBLIC_MODE)?
            }
            Change::Remove => file.remove()?,
        }
    }
    Ok(())
}

/// Adds (or updates) the block in every profile. Running it twice changes nothing.
pub fn install(home: &Path, active_dir: &Path) -> Result<Vec<ProfileFile>> {
    let plan = plan(home, active_dir, |text, at, block, _| match (text, at) {
        (None, _) => Change::Write(block.as_bytes().to_vec()),
        (Some(t), Some(r)) if &t[r.clone()] == block.as_bytes() => Change::Keep,
        (Some(t), at) => Change::Write(with_block(t, at, block)),
    })?;
    apply(plan)?;
    Ok(preview(home, active_dir))
}

/// Takes the block out of every profile, restoring each file as it was before `install`:
/// a file Berth created (the block at its very start and nothing after) is deleted again.
pub fn uninstall(home: &Path, active_dir: &Path) -> Result<Vec<ProfileFile>> {
    let plan = plan(home, active_dir, |text, at, _, whole_file| {
        let (Some(t), Some(r)) = (text, at) else {
            return Change::Keep;
        };
        let created = r.start == 0 && r.end == t.len();
        let rest = without_block(t, r);
        if created || (whole_file && rest.trim_ascii().is_empty()) {
            Change::Remove
        } else {
            Change::Write(rest)
        }
    })?;
    apply(plan)?;
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

    const ACTIVE: &str = "/store/active";

    fn bashrc_block() -> String {
        targets(Path::new("/h"), Path::new(ACTIVE))
            .into_iter()
            .find(|t| t.0 == "bash")
            .unwrap()
            .2
    }

    fn state(home: &Path, shell: &str) -> ProfileFile {
        preview(home, Path::new(ACTIVE))
            .into_iter()
            .find(|p| p.shell == shell)
            .unwrap()
    }

    /// Every short text made of pieces that matter at the block's edges: no final newline,
    /// blank lines, CRLF, a Latin-1 byte, spaces.
    fn samples(max_len: u32) -> Vec<Vec<u8>> {
        let pieces: [&[u8]; 8] = [b"a", b"\n", b"\r\n", b"b\n", b" ", b"\xE9", b"\n\n", b"#x"];
        let mut out = vec![vec![]];
        for len in 1..=max_len {
            for mut n in 0..pieces.len().pow(len) {
                let mut s = vec![];
                for _ in 0..len {
                    s.extend_from_slice(pieces[n % pieces.len()]);
                    n /= pieces.len();
                }
                out.push(s);
            }
        }
        out
    }

    #[test]
    fn removing_restores_any_text_byte_for_byte() {
        let block = bashrc_block();
        for x in samples(3) {
            let installed = with_block(&x, find_block(&x).unwrap(), &block);
            let at = find_block(&installed).unwrap().expect("one block");
            assert_eq!(
                without_block(&installed, at),
                x,
                "{:?}",
                String::from_utf8_lossy(&x)
            );
            // The user wrote after the block: it comes out without joining any lines.
            for y in [&b"c\n"[..], b"\n", b"d"] {
                let middle = [installed.as_slice(), y].concat();
                let at = find_block(&middle).unwrap().expect("one block");
                let kept_newline: &[u8] = if x.is_empty() || x.ends_with(b"\n") {
                    b""
                } else {
                    b"\n"
                };
                assert_eq!(without_block(&middle, at), [&x, kept_newline, y].concat());
                // Updating a block in the middle keeps everything around it.
                let updated = with_block(
                    &middle,
                    find_block(&middle).unwrap(),
                    "# >>> berth >>>\nnew\n# <<< berth <<<\n",
                );
                assert!(updated.starts_with(&x) && updated.ends_with(y));
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn uninstall_after_install_gives_back_the_same_file() {
        let home = tempfile::tempdir().unwrap();
        let rc = home.path().join(".bashrc");
        let active = Path::new(ACTIVE);
        for x in samples(2) {
            std::fs::write(&rc, &x).unwrap();
            install(home.path(), active).unwrap();
            assert_eq!(state(home.path(), "bash").state, ProfileState::Installed);
            uninstall(home.path(), active).unwrap();
            assert_eq!(
                std::fs::read(&rc).unwrap(),
                x,
                "{:?}",
                String::from_utf8_lossy(&x)
            );
        }
        // A profile Berth created is deleted again; an empty one the user had stays.
        std::fs::remove_file(&rc).unwrap();
        install(home.path(), active).unwrap();
        uninstall(home.path(), active).unwrap();
        assert!(!rc.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_latin1_profile_is_edited_faithfully() {
        let home = tempfile::tempdir().unwrap();
        let rc = home.path().join(".bashrc");
        let original = b"# caf\xE9 au lait\nalias x=y\n".to_vec();
        std::fs::write(&rc, &original).unwrap();
        assert_eq!(state(home.path(), "bash").state, ProfileState::Absent);
        install(home.path(), Path::new(ACTIVE)).unwrap();
        let installed = std::fs::read(&rc).unwrap();
        assert!(installed.starts_with(&original), "{installed:?}");
        assert!(installed.ends_with(bashrc_block().as_bytes()));
        uninstall(home.path(), Path::new(ACTIVE)).unwrap();
        assert_eq!(std::fs::read(&rc).unwrap(), original);
    }

    fn utf16le(s: &str) -> Vec<u8> {
        [
            &b"\xFF\xFE"[..],
            &s.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<_>>(),
        ]
        .concat()
    }

    fn ps_profile(home: &Path) -> PathBuf {
        let p = targets(home, Path::new(ACTIVE))
            .into_iter()
            .find(|t| t.0 == "powershell")
            .map(|t| t.1);
        p.unwrap_or_else(|| home.join(".config/powershell/Microsoft.PowerShell_profile.ps1"))
    }

    #[test]
    fn a_utf16_powershell_profile_stays_utf16() {
        let home = tempfile::tempdir().unwrap();
        let ps = ps_profile(home.path());
        std::fs::create_dir_all(ps.parent().unwrap()).unwrap();
        let original = utf16le("Set-Alias g git # café\r\n");
        std::fs::write(&ps, &original).unwrap();
        install(home.path(), Path::new(ACTIVE)).unwrap();
        let installed = std::fs::read(&ps).unwrap();
        let block = targets(home.path(), Path::new(ACTIVE))
            .into_iter()
            .find(|t| t.0 == "powershell")
            .unwrap()
            .2;
        assert_eq!(
            installed,
            utf16le(&format!("Set-Alias g git # café\r\n\n{block}"))
        );
        assert_eq!(
            state(home.path(), "powershell").state,
            ProfileState::Installed
        );
        uninstall(home.path(), Path::new(ACTIVE)).unwrap();
        assert_eq!(std::fs::read(&ps).unwrap(), original);
    }

    #[cfg(unix)]
    #[test]
    fn utf16_without_bom_is_refused_and_nothing_is_written() {
        let home = tempfile::tempdir().unwrap();
        let rc = home.path().join(".bashrc");
        std::fs::write(&rc, "a\n").unwrap();
        let ps = ps_profile(home.path());
        std::fs::create_dir_all(ps.parent().unwrap()).unwrap();
        let no_bom = utf16le("Set-Alias g git\r\n")[2..].to_vec();
        std::fs::write(&ps, &no_bom).unwrap();
        let p = state(home.path(), "powershell");
        assert_eq!(p.state, ProfileState::Unreadable);
        assert!(p.reason.unwrap().contains(&ps.display().to_string()));
        let err = install(home.path(), Path::new(ACTIVE)).unwrap_err();
        assert!(err.message().contains(&ps.display().to_string()), "{err}");
        assert_eq!(std::fs::read(&ps).unwrap(), no_bom);
        assert_eq!(std::fs::read(&rc).unwrap(), b"a\n", "all or nothing");
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_profile_is_refused_not_emptied() {
        let home = tempfile::tempdir().unwrap();
        let rc = home.path().join(".bashrc");
        // Root reads through permission bits; a directory fails to read for everyone.
        std::fs::create_dir(&rc).unwrap();
        std::fs::write(rc.join("keep"), "x").unwrap();
        let p = state(home.path(), "bash");
        assert_eq!(p.state, ProfileState::Unreadable, "not Missing");
        assert!(p.reason.unwrap().contains(".bashrc"));
        assert!(p.hint.is_some());
        let err = install(home.path(), Path::new(ACTIVE)).unwrap_err();
        assert!(err.message().contains(&rc.display().to_string()), "{err}");
        assert!(uninstall(home.path(), Path::new(ACTIVE)).is_err());
        assert_eq!(std::fs::read(rc.join("keep")).unwrap(), b"x");
    }

    /// A real "permission denied", even as root: the reading thread drops its filesystem
    /// identity (setfsuid is per thread and takes root's override away). Not root, the mode
    /// 000 refuses the owner anyway.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_permission_denied_profile_is_refused_not_emptied() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let rc = home.path().join(".bashrc");
        std::fs::write(&rc, "secret\n").unwrap();
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o000)).unwrap();
        let h = home.path().to_path_buf();
        let (p, err) = std::thread::spawn(move || {
            const NOBODY: libc::uid_t = 65534;
            // SAFETY: setfsuid only changes this thread's credentials for file access.
            let before = unsafe { libc::setfsuid(NOBODY) };
            let out = (state(&h, "bash"), install(&h, Path::new(ACTIVE)).err());
            unsafe { libc::setfsuid(before as libc::uid_t) };
            out
        })
        .join()
        .unwrap();
        assert_eq!(p.state, ProfileState::Unreadable, "{:?}", p.reason);
        assert!(p.reason.unwrap().contains("ermission denied"));
        let err = err.expect("install refuses");
        assert!(err.message().contains(&rc.display().to_string()), "{err}");
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(std::fs::read(&rc).unwrap(), b"secret\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_profile_is_edited_in_its_target() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let home = tempfile::tempdir().unwrap();
        let repo = home.path().join("dotfiles");
        std::fs::create_dir(&repo).unwrap();
        let real = repo.join("bashrc");
        std::fs::write(&real, "alias a=b").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        let rc = home.path().join(".bashrc");
        symlink("dotfiles/bashrc", &rc).unwrap();
        install(home.path(), Path::new(ACTIVE)).unwrap();
        assert!(
            std::fs::symlink_metadata(&rc)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(std::fs::read_to_string(&real).unwrap().contains(BEGIN));
        assert_eq!(
            std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o600
        );
        uninstall(home.path(), Path::new(ACTIVE)).unwrap();
        assert!(
            std::fs::symlink_metadata(&rc)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"alias a=b");

        // A dangling link: the file it points at is created, and deleted again.
        std::fs::remove_file(&real).unwrap();
        assert_eq!(state(home.path(), "bash").state, ProfileState::Missing);
        install(home.path(), Path::new(ACTIVE)).unwrap();
        assert!(std::fs::read_to_string(&real).unwrap().contains(BEGIN));
        assert!(
            std::fs::symlink_metadata(&rc)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        uninstall(home.path(), Path::new(ACTIVE)).unwrap();
        assert!(!real.exists());
        assert!(
            std::fs::symlink_metadata(&rc)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[cfg(unix)]
    #[test]
    fn read_only_and_foreign_profiles_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let rc = home.path().join(".bashrc");
        std::fs::write(&rc, "a\n").unwrap();
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o444)).unwrap();
        let p = state(home.path(), "bash");
        assert_eq!(p.state, ProfileState::Protected);
        assert!(p.reason.unwrap().contains("read-only"));
        let err = install(home.path(), Path::new(ACTIVE)).unwrap_err();
        assert!(err.message().contains(&rc.display().to_string()), "{err}");
        assert_eq!(std::fs::read(&rc).unwrap(), b"a\n");

        // Already installed: nothing to add, but removing it is refused.
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o644)).unwrap();
        install(home.path(), Path::new(ACTIVE)).unwrap();
        let installed = std::fs::read(&rc).unwrap();
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o444)).unwrap();
        assert_eq!(state(home.path(), "bash").state, ProfileState::Installed);
        install(home.path(), Path::new(ACTIVE)).unwrap();
        assert!(uninstall(home.path(), Path::new(ACTIVE)).is_err());
        assert_eq!(std::fs::read(&rc).unwrap(), installed);
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&rc, "a\n").unwrap();
        // Only root can give a file away.
        if std::os::unix::fs::chown(&rc, Some(4242), None).is_ok() {
            let p = state(home.path(), "bash");
            assert_eq!(p.state, ProfileState::Protected);
            assert!(p.reason.unwrap().contains("another user"));
            assert!(install(home.path(), Path::new(ACTIVE)).is_err());
            assert_eq!(std::fs::read(&rc).unwrap(), b"a\n");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_damaged_block_is_reported_never_duplicated() {
        let home = tempfile::tempdir().unwrap();
        let rc = home.path().join(".bashrc");
        let cases = [
            format!("a\n{BEGIN}\nx\n"),
            format!("{END}\nx\n{BEGIN}\n"),
            format!("{BEGIN}\n{BEGIN}\nx\n{END}\n"),
            format!("x\n{END}\n"),
        ];
        for text in cases {
            std::fs::write(&rc, &text).unwrap();
            let p = state(home.path(), "bash");
            assert_eq!(p.state, ProfileState::Damaged, "{text}");
            assert!(p.reason.unwrap().contains("damaged"));
            for result in [
                install(home.path(), Path::new(ACTIVE)),
                uninstall(home.path(), Path::new(ACTIVE)),
            ] {
                let err = result.unwrap_err();
                assert!(err.message().contains(&rc.display().to_string()), "{err}");
                assert!(
                    err.hint()
                        .unwrap()
                        .contains("fix or remove the lines between")
                );
            }
            assert_eq!(std::fs::read_to_string(&rc).unwrap(), text);
        }
    }

    #[test]
    fn markers_count_only_as_whole_lines() {
        let text = format!("echo '{BEGIN}'\n  {BEGIN}\r\nx\n{END}");
        let at = find_block(text.as_bytes()).unwrap().unwrap();
        assert_eq!(&text[at], format!("  {BEGIN}\r\nx\n{END}"));
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
