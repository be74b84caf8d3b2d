//! Small file helpers with the guarantees the store relies on: writes are atomic (temp file in
//! the same directory, fsync, rename, fsync of the directory) and secrets are created with their
//! final mode, never briefly world-readable.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Directory and secret-file modes. On Windows the profile directory's ACL protects the store.
pub const DIR_MODE: u32 = 0o700;
pub const SECRET_MODE: u32 = 0o600;
pub const PUBLIC_MODE: u32 = 0o644;

/// Creates `path` (and missing parents) 0700. A directory that already exists keeps its mode:
/// it may be one the user chose (a shared store, `~/.docker`), and changing its mode behind
/// their back could break other programs; `too_open` tells when to warn instead.
pub fn ensure_private_dir(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(path).at("create directory", path)?;
    // The umask may have taken bits away; never more than 0700.
    set_mode(path, DIR_MODE)
}

/// Opens (creating if needed) a lock file; the caller locks it. Never truncated: it may be
/// held by another process.
pub fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .at("open lock", path)
}

/// Why a directory that holds keys is too open (readable or writable by other users), if it is.
pub fn too_open(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).ok()?.permissions().mode() & 0o7777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "{} is open to other users (mode {mode:o}); Berth keeps private keys there: `chmod 700` it",
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = fs::metadata(path).at("read", path)?.permissions().mode() & 0o7777;
        if current != mode {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .at("set permissions of", path)?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

fn open_new(path: &Path, mode: u32) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Replaces `path` with `bytes` atomically: readers see the old or the new content, never a mix,
/// and a crash leaves at most a stray `.tmp-*` file (ignored by the store).
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut f = open_new(&tmp, mode).at("create", &tmp)?;
        f.write_all(bytes).at("write", &tmp)?;
        f.sync_all().at("flush", &tmp)?;
        drop(f);
        // create_new honours the umask; make the mode exact.
        set_mode(&tmp, mode)?;
        fs::rename(&tmp, path).at("replace", path)?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes `.NAME.tmp-PID-N` files (see `atomic_write`) in `dir` whose writer is no longer
/// running: a crash between create and rename leaves them, and they may hold a key.
pub fn sweep_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_writer_pid(&name) else {
            continue;
        };
        if pid != std::process::id() && writer_gone(pid, &e.path()) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The PID in a temp file name written by `atomic_write`.
fn temp_writer_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

#[cfg(unix)]
fn writer_gone(pid: u32, _: &Path) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM)
}

/// No cheap liveness check here: a temp file a day old has no writer left.
#[cfg(not(unix))]
fn writer_gone(_: u32, path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > std::time::Duration::from_secs(86_400))
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

pub fn read_to_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).at("read", path)
}

/// A JSON file Berth's own processes write for each other (the port agent's ports.json):
/// missing or unreadable counts as nothing written yet.
pub fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes `value` as pretty JSON with a final newline, atomically (see `atomic_write`).
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T, mode: u32) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| {
        crate::error::Error::store(format!("cannot encode {}: {e}", path.display()))
    })?;
    text.push('\n');
    atomic_write(path, text.as_bytes(), mode)
}

/// Copies a file, giving the copy `mode` (keys copied into the store become 0600 whatever the
/// source's mode was).
pub fn copy_with_mode(from: &Path, to: &Path, mode: u32) -> Result<()> {
    let bytes = fs::read(from).at("read", from)?;
    atomic_write(to, &bytes, mode)
}

/// The user's home directory (`$HOME`, or the profile folder on Windows, where `$HOME` is
/// usually unset).
pub fn home_dir() -> crate::Result<std::path::PathBuf> {
    dirs::home_dir().ok_or_else(|| {
        crate::Error::invalid("cannot find your home directory")
            .with_hint("set HOME (USERPROFILE on Windows)")
    })
}

/// The last `lines` lines of a log file; None when it cannot be read. Only its last 64 KiB are
/// read (a VM's console log grows for as long as the VM runs), and a line cut there is dropped
/// rather than shown half.
pub fn tail_lines(path: &Path, lines: usize) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    const MAX: u64 = 64 * 1024;
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(MAX))).ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = match (len > MAX, text.split_once('\n')) {
        (true, Some((_, rest))) => rest,
        _ => &text,
    };
    let all: Vec<&str> = text.lines().collect();
    Some(all[all.len().saturating_sub(lines)..].join("\n"))
}

/// Where the user keeps downloads (their home without such a folder).
pub fn downloads_dir() -> crate::Result<std::path::PathBuf> {
    dirs::download_dir().map_or_else(home_dir, Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.json");
        atomic_write(&p, b"one", SECRET_MODE).unwrap();
        atomic_write(&p, b"two", SECRET_MODE).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // No temp files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn existing_dirs_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shared");
        fs::create_dir(&p).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o1777)).unwrap();
            ensure_private_dir(&p).unwrap();
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
                0o1777
            );
            assert!(too_open(&p).unwrap().contains("1777"));
            ensure_private_dir(&p.join("mine")).unwrap();
            assert_eq!(too_open(&p.join("mine")), None);
        }
    }

    #[test]
    fn private_dir_is_0700() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b");
        ensure_private_dir(&p).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }

    #[test]
    fn a_log_tail_is_its_last_lines_read_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("serial.log");
        fs::write(&p, "a\nb\nc\n").unwrap();
        assert_eq!(tail_lines(&p, 2).as_deref(), Some("b\nc"));
        assert_eq!(tail_lines(&p, 5).as_deref(), Some("a\nb\nc"));
        // 100 000 lines of 8 bytes: only the end is read, with no half line.
        let long: String = (0..100_000).map(|i| format!("{i:07}\n")).collect();
        fs::write(&p, long).unwrap();
        let t = tail_lines(&p, 100_000).unwrap();
        assert!(t.ends_with("0099999") && t.len() < 64 * 1024, "{}", t.len());
        assert!(t.lines().all(|l| l.len() == 7));
        assert_eq!(tail_lines(&dir.path().join("missing.log"), 3), None);
    }
}
