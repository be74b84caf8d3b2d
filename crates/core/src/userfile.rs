//! Editing files that belong to the user (shell profiles, the docker CLI's config.json) without
//! ever losing what is in them. Links are followed to the real file, so a dotfiles manager's
//! link stays a link; the text keeps its encoding and every byte Berth does not change; and a
//! file Berth cannot read, decode or safely replace is refused, never treated as empty.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;

/// How many links to follow before calling it a loop (Linux's own limit).
const MAX_LINKS: usize = 40;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16BE_BOM: &[u8] = b"\xFE\xFF";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 or any other byte-oriented text (Latin-1, …): kept byte for byte.
    Bytes {
        utf8_bom: bool,
    },
    /// UTF-16 with a byte-order mark (Windows PowerShell 5 writes UTF-16LE).
    Utf16Le,
    Utf16Be,
}

/// A user's file as found on disk.
#[derive(Debug)]
pub struct UserFile {
    /// The path as the user knows it (e.g. ~/.bashrc).
    pub path: PathBuf,
    /// The real file after following links; equal to `path` when it is not a link.
    pub target: PathBuf,
    /// The text without its byte-order mark (UTF-16 is decoded to UTF-8); `None` when the
    /// file does not exist yet.
    pub text: Option<Vec<u8>>,
    encoding: Encoding,
    meta: Option<Metadata>,
}

/// Follows `path` through a chain of links to the file that holds the data. A dangling link
/// resolves to the path it points at, so writing creates the file the link expects.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        let meta = match std::fs::symlink_metadata(&current) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(current),
            other => other.at("read", &current).map_err(unreadable_hint)?,
        };
        if !meta.file_type().is_symlink() {
            return Ok(current);
        }
        let next = std::fs::read_link(&current)
            .at("read the link", &current)
            .map_err(unreadable_hint)?;
        // A relative target is relative to the link's directory, not to ours.
        current = match current.parent() {
            Some(dir) if next.is_relative() => dir.join(next),
            _ => next,
        };
    }
    Err(Error::invalid(format!(
        "{} is a loop of links (more than {MAX_LINKS})",
        path.display()
    ))
    .with_hint("point the link at a real file"))
}

fn unreadable_hint(e: Error) -> Error {
    e.or_hint("Berth does not change a file it cannot read; check its owner and permissions")
}

/// Reads the file behind `path` (following links). Only a file that does not exist counts as
/// missing: any other read error, or text Berth cannot decode faithfully, is an error.
pub fn open(path: &Path) -> Result<UserFile> {
    let target = resolve(path)?;
    let (text, encoding, meta) = match std::fs::read(&target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (None, Encoding::Bytes { utf8_bom: false }, None)
        }
        Err(e) => return Err(e).at("read", &target).map_err(unreadable_hint),
        Ok(bytes) => {
            let (encoding, text) = decode(bytes).map_err(|why| {
                Error::invalid(format!("cannot edit {}: {why}", display(path, &target)))
                    .with_hint("Berth only edits text in UTF-8 (or another ASCII-compatible encoding) or in UTF-16 with a byte-order mark; save it in one of those or add the lines yourself")
            })?;
            let meta = std::fs::metadata(&target).at("read", &target)?;
            (Some(text), encoding, Some(meta))
        }
    };
    Ok(UserFile {
        path: path.to_path_buf(),
        target,
        text,
        encoding,
        meta,
    })
}

/// "PATH", or "PATH (a link to TARGET)" so errors name the file the user must fix.
fn display(path: &Path, target: &Path) -> String {
    if path == target {
        path.display().to_string()
    } else {
        format!("{} (a link to {})", path.display(), target.display())
    }
}

fn decode(bytes: Vec<u8>) -> std::result::Result<(Encoding, Vec<u8>), String> {
    if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        return Ok((Encoding::Bytes { utf8_bom: true }, rest.to_vec()));
    }
    if let Some(rest) = bytes.strip_prefix(UTF16LE_BOM) {
        return decode_utf16(rest, u16::from_le_bytes).map(|t| (Encoding::Utf16Le, t));
    }
    if let Some(rest) = bytes.strip_prefix(UTF16BE_BOM) {
        return decode_utf16(rest, u16::from_be_bytes).map(|t| (Encoding::Utf16Be, t));
    }
    if bytes.contains(&0) {
        return Err(
            "it contains NUL bytes (UTF-16 without a byte-order mark, or not a text file)".into(),
        );
    }
    Ok((Encoding::Bytes { utf8_bom: false }, bytes))
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> std::result::Result<Vec<u8>, String> {
    if !bytes.len().is_multiple_of(2) {
        return Err("it is not valid UTF-16 (an odd number of bytes)".into());
    }
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]])).collect();
    let text = String::from_utf16(&units).map_err(|_| "it is not valid UTF-16".to_string())?;
    // UTF-32 also starts with FF FE; its zero halves decode to NULs.
    if text.contains('\0') {
        return Err("it contains NUL characters (UTF-32, or not a text file)".into());
    }
    Ok(text.into_bytes())
}

fn encode(encoding: Encoding, text: &[u8]) -> Result<Vec<u8>> {
    let utf16 = |bom: &[u8], unit: fn(u16) -> [u8; 2]| -> Result<Vec<u8>> {
        let s = std::str::from_utf8(text)
            .map_err(|_| Error::invalid("cannot write non-UTF-8 text as UTF-16"))?;
        let mut out = bom.to_vec();
        out.extend(s.encode_utf16().flat_map(unit));
        Ok(out)
    };
    match encoding {
        Encoding::Bytes { utf8_bom } => {
            let bom = if utf8_bom { UTF8_BOM } else { b"" };
            Ok([bom, text].concat())
        }
        Encoding::Utf16Le => utf16(UTF16LE_BOM, u16::to_le_bytes),
        Encoding::Utf16Be => utf16(UTF16BE_BOM, u16::to_be_bytes),
    }
}

impl UserFile {
    /// How errors name the file: its path, and its target when it is a link.
    pub fn name(&self) -> String {
        display(&self.path, &self.target)
    }

    /// Refuses a file Berth should not replace: read-only (checked on the mode bits, so it
    /// holds for root too) or, on Unix, owned by another user (an atomic replace would make
    /// the new file ours).
    pub fn check_writable(&self) -> Result<()> {
        let Some(meta) = &self.meta else {
            return Ok(());
        };
        if is_read_only(meta) {
            return Err(Error::invalid(format!("{} is read-only", self.name())).with_hint(
                format!(
                    "Berth does not change read-only files; make it writable ({}) or make the change yourself",
                    if cfg!(unix) { "chmod u+w" } else { "clear its read-only attribute" }
                ),
            ));
        }
        check_owner(self, meta)
    }

    /// Replaces the file's text atomically in the target's directory, in the file's own
    /// encoding and mode. A new file gets `new_encoding` and `new_mode`.
    pub fn write(&self, text: &[u8], new_encoding: Encoding, new_mode: u32) -> Result<()> {
        self.check_writable()?;
        let encoding = if self.meta.is_some() {
            self.encoding
        } else {
            new_encoding
        };
        let bytes = encode(encoding, text)?;
        if let Some(dir) = self.target.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).at("create", dir)?;
        }
        let mode = self.meta.as_ref().map_or(new_mode, mode_of);
        fsutil::atomic_write(&self.target, &bytes, mode)
    }

    /// Deletes the file (the target: a link to it is left as it was before Berth created it).
    pub fn remove(&self) -> Result<()> {
        self.check_writable()?;
        std::fs::remove_file(&self.target).at("remove", &self.target)
    }
}

#[cfg(unix)]
fn is_read_only(meta: &Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o200 == 0
}

#[cfg(not(unix))]
fn is_read_only(meta: &Metadata) -> bool {
    meta.permissions().readonly()
}

#[cfg(unix)]
fn mode_of(meta: &Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(_: &Metadata) -> u32 {
    fsutil::PUBLIC_MODE
}

#[cfg(unix)]
fn check_owner(file: &UserFile, meta: &Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    if meta.uid() == me {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{} belongs to another user (uid {}, you are {me})",
        file.name(),
        meta.uid()
    ))
    .with_hint(format!(
        "replacing it would make it yours; give it back to your user (sudo chown {me} {}) or make the change yourself",
        file.target.display()
    )))
}

#[cfg(not(unix))]
fn check_owner(_: &UserFile, _: &Metadata) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: Encoding = Encoding::Bytes { utf8_bom: false };

    fn edit(path: &Path, f: impl Fn(&[u8]) -> Vec<u8>) -> Result<()> {
        let file = open(path)?;
        let new = f(file.text.as_deref().unwrap_or_default());
        file.write(&new, NEW, fsutil::PUBLIC_MODE)
    }

    fn append_x(t: &[u8]) -> Vec<u8> {
        [t, b"x"].concat()
    }

    #[test]
    fn keeps_bytes_that_are_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rc");
        std::fs::write(&p, b"# caf\xE9\n").unwrap();
        edit(&p, append_x).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"# caf\xE9\nx");
    }

    #[test]
    fn keeps_the_encoding_and_its_bom() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let utf16 = |bom: &[u8], s: &str, unit: fn(u16) -> [u8; 2]| -> Vec<u8> {
            [bom.to_vec(), s.encode_utf16().flat_map(unit).collect()].concat()
        };
        let cases = [
            (
                utf16(UTF16LE_BOM, "é\r\n", u16::to_le_bytes),
                utf16(UTF16LE_BOM, "é\r\nx", u16::to_le_bytes),
            ),
            (
                utf16(UTF16BE_BOM, "é\n", u16::to_be_bytes),
                utf16(UTF16BE_BOM, "é\nx", u16::to_be_bytes),
            ),
            (
                "\u{feff}é\n".as_bytes().to_vec(),
                "\u{feff}é\nx".as_bytes().to_vec(),
            ),
        ];
        for (before, after) in cases {
            std::fs::write(&p, &before).unwrap();
            edit(&p, append_x).unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), after);
        }
    }

    #[test]
    fn refuses_nul_bytes_without_a_bom() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("profile.ps1");
        // UTF-16LE without its BOM.
        let bytes = b"e\0c\0h\0o\0\n\0".to_vec();
        std::fs::write(&p, &bytes).unwrap();
        let err = edit(&p, append_x).unwrap_err();
        assert!(err.message().contains(&p.display().to_string()), "{err}");
        assert!(err.message().contains("NUL"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "untouched");
    }

    #[test]
    fn an_unreadable_file_is_an_error_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rc");
        // Root reads through permission bits; a directory fails to read for everyone.
        std::fs::create_dir(&p).unwrap();
        let err = open(&p).unwrap_err();
        assert!(err.message().contains(&p.display().to_string()), "{err}");
        assert!(err.hint().is_some());
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_a_chain_of_links_keeping_them_and_the_mode() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("dotfiles");
        std::fs::create_dir(&repo).unwrap();
        let real = repo.join("bashrc");
        std::fs::write(&real, "a\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        symlink("bashrc", repo.join("link2")).unwrap();
        let link = dir.path().join(".bashrc");
        symlink("dotfiles/link2", &link).unwrap();
        assert_eq!(resolve(&link).unwrap(), repo.join("bashrc"));
        edit(&link, append_x).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            std::fs::symlink_metadata(repo.join("link2"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "a\nx");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_link_creates_its_target_and_a_loop_is_refused() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join(".bashrc");
        symlink(dir.path().join("repo/sub/bashrc"), &link).unwrap();
        let file = open(&link).unwrap();
        assert!(file.text.is_none());
        file.write(b"x", NEW, 0o600).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("repo/sub/bashrc")).unwrap(),
            b"x"
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );

        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let err = open(&dir.path().join("a")).unwrap_err();
        assert!(err.message().contains("loop"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_read_only_files_even_as_root() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rc");
        std::fs::write(&p, "a\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
        let err = edit(&p, append_x).unwrap_err();
        assert!(err.message().contains("read-only"), "{err}");
        assert!(err.message().contains(&p.display().to_string()), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"a\n");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_files_of_another_user() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rc");
        std::fs::write(&p, "a\n").unwrap();
        // Only root can give a file away; elsewhere the check has nothing to find.
        if std::os::unix::fs::chown(&p, Some(4242), None).is_err() {
            return;
        }
        let err = edit(&p, append_x).unwrap_err();
        assert!(err.message().contains("another user"), "{err}");
        assert_eq!(std::fs::metadata(&p).unwrap().uid(), 4242);
        assert_eq!(std::fs::read(&p).unwrap(), b"a\n");
    }
}
