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

pub fn ensure_private_dir(path: &Path) -> Result<()> {
    if !path.is_dir() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(DIR_MODE);
        }
        builder.create(path).at("create directory", path)?;
    }
    set_mode(path, DIR_MODE)
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
}
