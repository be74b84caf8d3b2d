//! One folder of this computer served over SFTP (v3, what sshfs speaks) to the guest's sshfs.
//! The guest asks by its own path (the share's VM path); every request is mapped into the host
//! folder and must stay there: `..` cannot climb out, and a symlink inside the folder that
//! points outside is not followed by the server (the guest's kernel resolves links itself, in
//! the guest). Files are made by this process, so they belong to the user running Berth.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use russh_sftp::protocol::{
    Attrs, Data, File as Entry, FileAttributes, Handle, Name, OpenFlags, Packet, Status,
    StatusCode, Version,
};
use russh_sftp::server::{Handler, StatusReply};

/// Entries per READDIR answer (OpenSSH's sftp-server sends 100).
const DIR_BATCH: usize = 100;
/// The largest READ answered (sshfs asks 32 KiB at a time; OpenSSH allows 256 KiB).
const MAX_READ: u32 = 256 * 1024;

enum Open {
    File(File),
    Dir(Vec<Entry>),
}

/// The SFTP side of one share.
pub struct Folder {
    /// The share's path in the guest, without a trailing `/` (what requests name).
    guest_root: String,
    host_root: PathBuf,
    /// `host_root` with its links resolved: where a resolved path must stay.
    real_root: PathBuf,
    open: HashMap<String, Open>,
    next_handle: u64,
}

pub struct Failure(StatusReply);

impl From<Failure> for StatusReply {
    fn from(f: Failure) -> StatusReply {
        f.0
    }
}

fn fail(code: StatusCode, msg: impl Into<String>) -> Failure {
    Failure(code.with_message(msg))
}

fn io_fail(e: std::io::Error) -> Failure {
    let code = match e.kind() {
        ErrorKind::NotFound => StatusCode::NoSuchFile,
        ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    };
    fail(code, e.to_string())
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

impl Folder {
    pub fn new(host_root: &Path, guest_root: &str) -> std::io::Result<Folder> {
        let real_root = fs::canonicalize(host_root)?;
        Ok(Folder {
            guest_root: guest_root.trim_end_matches('/').to_string(),
            host_root: host_root.to_path_buf(),
            real_root,
            open: HashMap::new(),
            next_handle: 0,
        })
    }

    /// The guest path `p` (absolute, or relative to the share) normalised: no `.`, no `..`, no
    /// double slashes. None when it leaves the share.
    fn guest_path(&self, p: &str) -> Option<String> {
        let joined = if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{}/{p}", self.guest_root)
        };
        let mut parts: Vec<&str> = Vec::new();
        for c in joined.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        let norm = format!("/{}", parts.join("/"));
        let inside = norm == self.guest_root
            || (norm.starts_with(&self.guest_root)
                && norm.as_bytes().get(self.guest_root.len()) == Some(&b'/'));
        inside.then_some(norm)
    }

    /// Where guest path `p` is on this computer, refused when outside the share. With
    /// `follow`, the path's own link (if any) must also resolve inside.
    fn host_path(&self, p: &str, follow: bool) -> Result<PathBuf, Failure> {
        let outside = || {
            fail(
                StatusCode::PermissionDenied,
                format!("{p} is outside the shared folder"),
            )
        };
        let norm = self.guest_path(p).ok_or_else(outside)?;
        let rest = &norm[self.guest_root.len()..];
        let mut host = self.host_root.clone();
        for c in rest.split('/').filter(|c| !c.is_empty()) {
            // A component a Windows path would read as a drive or a separator.
            if (cfg!(windows) && c.contains(['\\', ':'])) || c.contains('\0') {
                return Err(fail(
                    StatusCode::NoSuchFile,
                    format!("{c}: not a valid name here"),
                ));
            }
            host.push(c);
        }
        // Links on the way (not the last component) are resolved, and must stay inside.
        if let Some(parent) = host.parent().filter(|_| host != self.host_root) {
            match fs::canonicalize(parent) {
                Ok(real) if real.starts_with(&self.real_root) => {}
                Ok(_) => return Err(outside()),
                Err(e) => return Err(io_fail(e)),
            }
        }
        if follow
            && let Ok(real) = fs::canonicalize(&host)
            && !real.starts_with(&self.real_root)
        {
            return Err(outside());
        }
        Ok(host)
    }

    /// STAT (`follow`: through a last link) or LSTAT.
    fn attrs_of(&self, id: u32, path: &str, follow: bool) -> Result<Attrs, Failure> {
        let p = self.host_path(path, follow)?;
        let m = if follow {
            fs::metadata(p)
        } else {
            fs::symlink_metadata(p)
        }
        .map_err(io_fail)?;
        Ok(Attrs {
            id,
            attrs: attrs(&m),
        })
    }

    fn add(&mut self, open: Open) -> String {
        self.next_handle += 1;
        let h = self.next_handle.to_string();
        self.open.insert(h.clone(), open);
        h
    }

    fn file(&self, handle: &str) -> Result<&File, Failure> {
        match self.open.get(handle) {
            Some(Open::File(f)) => Ok(f),
            _ => Err(fail(StatusCode::Failure, "no such file handle")),
        }
    }
}

/// The SFTP attributes of `m`: the Unix mode as it is (type bits included), or on Windows a
/// mode made from the file type and the read-only flag.
fn attrs(m: &Metadata) -> FileAttributes {
    let secs = |t: std::io::Result<std::time::SystemTime>| {
        t.ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as u32)
    };
    #[cfg(unix)]
    let (uid, gid, mode) = {
        use std::os::unix::fs::MetadataExt;
        (Some(m.uid()), Some(m.gid()), m.mode())
    };
    #[cfg(not(unix))]
    let (uid, gid, mode) = {
        let kind = if m.is_dir() {
            0o040000
        } else if m.file_type().is_symlink() {
            0o120000
        } else {
            0o100000
        };
        let perm = match (m.is_dir(), m.permissions().readonly()) {
            (true, _) => 0o755,
            (false, true) => 0o444,
            (false, false) => 0o644,
        };
        (Some(0), Some(0), kind | perm)
    };
    FileAttributes {
        size: Some(m.len()),
        uid,
        gid,
        permissions: Some(mode),
        atime: secs(m.accessed()),
        mtime: secs(m.modified()),
        ..Default::default()
    }
}

/// Changes what `attrs` asks of `path` (or the open `file`): size, permissions, times.
/// Owners are left alone: this computer's user owns what the share holds.
fn set_attrs(path: Option<&Path>, file: Option<&File>, a: &FileAttributes) -> std::io::Result<()> {
    if let Some(size) = a.size {
        match file {
            Some(f) => f.set_len(size)?,
            None => {
                if let Some(p) = path {
                    fs::OpenOptions::new().write(true).open(p)?.set_len(size)?
                }
            }
        }
    }
    if let Some(mode) = a.permissions {
        let perms = permissions_from(mode, path, file)?;
        match (file, path) {
            (Some(f), _) => f.set_permissions(perms)?,
            (None, Some(p)) => fs::set_permissions(p, perms)?,
            _ => {}
        }
    }
    if let (Some(at), Some(mt)) = (a.atime, a.mtime) {
        let times = fs::FileTimes::new()
            .set_accessed(UNIX_EPOCH + Duration::from_secs(at.into()))
            .set_modified(UNIX_EPOCH + Duration::from_secs(mt.into()));
        match (file, path) {
            (Some(f), _) => f.set_times(times)?,
            (None, Some(p)) => {
                // Directories too: opened for reading only, which is enough to set times.
                let f = if p.is_dir() {
                    File::open(p)?
                } else {
                    fs::OpenOptions::new().write(true).open(p)?
                };
                f.set_times(times)?
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(unix)]
fn permissions_from(
    mode: u32,
    _: Option<&Path>,
    _: Option<&File>,
) -> std::io::Result<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::Permissions::from_mode(mode & 0o7777))
}

#[cfg(not(unix))]
fn permissions_from(
    mode: u32,
    path: Option<&Path>,
    file: Option<&File>,
) -> std::io::Result<fs::Permissions> {
    let mut p = match (file, path) {
        (Some(f), _) => f.metadata()?.permissions(),
        (None, Some(p)) => fs::metadata(p)?.permissions(),
        _ => return Err(std::io::Error::other("nothing to change")),
    };
    p.set_readonly(mode & 0o200 == 0);
    Ok(p)
}

/// New files and folders get the mode the guest asked for (Unix; elsewhere the defaults).
#[cfg(unix)]
fn with_mode(mut o: fs::OpenOptions, a: &FileAttributes) -> fs::OpenOptions {
    if let Some(mode) = a.permissions {
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, mode & 0o7777);
    }
    o
}
#[cfg(not(unix))]
fn with_mode(o: fs::OpenOptions, _: &FileAttributes) -> fs::OpenOptions {
    o
}
#[cfg(unix)]
fn dir_builder(a: &FileAttributes) -> fs::DirBuilder {
    let mut b = fs::DirBuilder::new();
    if let Some(mode) = a.permissions {
        std::os::unix::fs::DirBuilderExt::mode(&mut b, mode & 0o7777);
    }
    b
}
#[cfg(not(unix))]
fn dir_builder(_: &FileAttributes) -> fs::DirBuilder {
    fs::DirBuilder::new()
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, offset)
}
#[cfg(windows)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, offset)
}
#[cfg(unix)]
fn write_all_at(f: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
}
#[cfg(windows)]
fn write_all_at(f: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(f, buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// The two strings of an OpenSSH extension's request (`posix-rename`, `hardlink`).
fn two_strings(data: &[u8]) -> Option<(String, String)> {
    let one = |d: &[u8]| -> Option<(String, usize)> {
        let len = u32::from_be_bytes(d.get(..4)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(d.get(4..4 + len)?).ok()?;
        Some((s.to_string(), 4 + len))
    };
    let (a, n) = one(data)?;
    let (b, _) = one(data.get(n..)?)?;
    Some((a, b))
}

impl Handler for Folder {
    type Error = Failure;

    fn unimplemented(&self) -> Failure {
        fail(
            StatusCode::OpUnsupported,
            "not supported by Berth's SFTP server",
        )
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Failure> {
        let mut v = Version::new();
        for (ext, ver) in [
            ("posix-rename@openssh.com", "1"),
            ("hardlink@openssh.com", "1"),
            ("fsync@openssh.com", "1"),
        ] {
            v.extensions.insert(ext.into(), ver.into());
        }
        Ok(v)
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, Failure> {
        let path = self.host_path(&filename, true)?;
        let f = with_mode(pflags.into(), &attrs)
            .open(&path)
            .map_err(io_fail)?;
        let handle = self.add(Open::File(f));
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Failure> {
        self.open
            .remove(&handle)
            .map(|_| ok(id))
            .ok_or_else(|| fail(StatusCode::Failure, "no such handle"))
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Failure> {
        let f = self.file(&handle)?;
        let mut buf = vec![0u8; len.min(MAX_READ) as usize];
        let n = read_at(f, &mut buf, offset).map_err(io_fail)?;
        if n == 0 && !buf.is_empty() {
            return Err(fail(StatusCode::Eof, "end of file"));
        }
        buf.truncate(n);
        Ok(Data { id, data: buf })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Failure> {
        let f = self.file(&handle)?;
        write_all_at(f, &data, offset).map_err(io_fail)?;
        Ok(ok(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Failure> {
        self.attrs_of(id, &path, false)
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Failure> {
        self.attrs_of(id, &path, true)
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Failure> {
        let m = self.file(&handle)?.metadata().map_err(io_fail)?;
        Ok(Attrs {
            id,
            attrs: attrs(&m),
        })
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        a: FileAttributes,
    ) -> Result<Status, Failure> {
        let p = self.host_path(&path, true)?;
        set_attrs(Some(&p), None, &a).map_err(io_fail)?;
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        a: FileAttributes,
    ) -> Result<Status, Failure> {
        let f = self.file(&handle)?;
        set_attrs(None, Some(f), &a).map_err(io_fail)?;
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Failure> {
        let p = self.host_path(&path, true)?;
        let mut entries = Vec::new();
        for name in [".", ".."] {
            if let Ok(m) = fs::metadata(p.join(name)) {
                entries.push(Entry::new(name, attrs(&m)));
            }
        }
        for e in fs::read_dir(&p).map_err(io_fail)? {
            let e = e.map_err(io_fail)?;
            // A name that is not UTF-8 cannot be said in this protocol's strings: left out.
            let (Some(name), Ok(m)) = (
                e.file_name().to_str().map(str::to_string),
                e.path().symlink_metadata(),
            ) else {
                continue;
            };
            entries.push(Entry::new(name, attrs(&m)));
        }
        entries.reverse();
        let handle = self.add(Open::Dir(entries));
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Failure> {
        let Some(Open::Dir(left)) = self.open.get_mut(&handle) else {
            return Err(fail(StatusCode::Failure, "no such directory handle"));
        };
        if left.is_empty() {
            return Err(fail(StatusCode::Eof, "no more entries"));
        }
        let files: Vec<Entry> = (0..DIR_BATCH).map_while(|_| left.pop()).collect();
        Ok(Name { id, files })
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Failure> {
        let p = self.host_path(&filename, false)?;
        fs::remove_file(p).map_err(io_fail)?;
        Ok(ok(id))
    }

    async fn mkdir(&mut self, id: u32, path: String, a: FileAttributes) -> Result<Status, Failure> {
        let p = self.host_path(&path, false)?;
        dir_builder(&a).create(p).map_err(io_fail)?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Failure> {
        let p = self.host_path(&path, false)?;
        if p == self.host_root {
            return Err(fail(
                StatusCode::PermissionDenied,
                "the shared folder itself stays",
            ));
        }
        fs::remove_dir(p).map_err(io_fail)?;
        Ok(ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Failure> {
        let norm = self.guest_path(&path).ok_or_else(|| {
            fail(
                StatusCode::PermissionDenied,
                format!("{path} is outside the shared folder"),
            )
        })?;
        Ok(Name {
            id,
            files: vec![Entry::dummy(norm)],
        })
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Failure> {
        let from = self.host_path(&oldpath, false)?;
        let to = self.host_path(&newpath, false)?;
        fs::rename(from, to).map_err(io_fail)?;
        Ok(ok(id))
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, Failure> {
        let p = self.host_path(&path, false)?;
        let target = fs::read_link(p).map_err(io_fail)?;
        Ok(Name {
            id,
            files: vec![Entry::dummy(target.to_string_lossy())],
        })
    }

    async fn symlink(
        &mut self,
        id: u32,
        linkpath: String,
        targetpath: String,
    ) -> Result<Status, Failure> {
        let link = self.host_path(&linkpath, false)?;
        // The target is the guest's to resolve (it is stored as given).
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&targetpath, link).map_err(io_fail)?;
            Ok(ok(id))
        }
        #[cfg(not(unix))]
        {
            let _ = (link, targetpath, id);
            Err(fail(
                StatusCode::OpUnsupported,
                "symbolic links are not made on this computer's file system",
            ))
        }
    }

    async fn extended(
        &mut self,
        id: u32,
        request: String,
        data: Vec<u8>,
    ) -> Result<Packet, Failure> {
        match request.as_str() {
            "posix-rename@openssh.com" | "hardlink@openssh.com" => {
                let (a, b) = two_strings(&data)
                    .ok_or_else(|| fail(StatusCode::BadMessage, "malformed request"))?;
                let from = self.host_path(&a, false)?;
                let to = self.host_path(&b, false)?;
                let done = if request.starts_with("posix-rename") {
                    fs::rename(from, to)
                } else {
                    fs::hard_link(from, to)
                };
                done.map_err(io_fail)?;
                Ok(ok(id).into())
            }
            "fsync@openssh.com" => {
                let len = data
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)
                    .unwrap_or(0) as usize;
                let handle = data
                    .get(4..4 + len)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or_else(|| fail(StatusCode::BadMessage, "malformed request"))?;
                self.file(handle)?.sync_all().map_err(io_fail)?;
                Ok(ok(id).into())
            }
            _ => Err(self.unimplemented()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code<T>(r: Result<T, Failure>) -> StatusCode {
        match r {
            Ok(_) => StatusCode::Ok,
            Err(f) => f.0.status_code,
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn requests_stay_inside_the_shared_folder() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "no").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "yes").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        let mut f = Folder::new(dir.path(), "/home/me/").unwrap();
        assert_eq!(
            code(f.stat(1, "/home/me/a.txt".into()).await),
            StatusCode::Ok
        );
        assert_eq!(
            code(f.stat(1, "a.txt".into()).await),
            StatusCode::Ok,
            "relative to the share"
        );
        for escape in [
            "/home/me/../../etc/passwd",
            "/home/mex/a.txt",
            "/etc/passwd",
            "../x",
            "/home",
        ] {
            assert_eq!(
                code(f.stat(1, escape.into()).await),
                StatusCode::PermissionDenied,
                "{escape}"
            );
        }
        let secret = "/home/me/out/secret".to_string();
        assert_eq!(
            code(
                f.open(
                    1,
                    secret.clone(),
                    OpenFlags::READ,
                    FileAttributes::default()
                )
                .await
            ),
            StatusCode::PermissionDenied,
            "a link inside pointing outside is not followed"
        );
        assert_eq!(
            code(f.opendir(1, "/home/me/out".into()).await),
            StatusCode::PermissionDenied
        );
        assert_eq!(
            code(f.lstat(1, "/home/me/out".into()).await),
            StatusCode::Ok,
            "the link itself is visible"
        );
        assert_eq!(
            code(f.rmdir(1, "/home/me".into()).await),
            StatusCode::PermissionDenied
        );
        assert_eq!(
            f.realpath(1, "/home/me/x/../a.txt".into())
                .await
                .ok()
                .map(|n| n.files[0].filename.clone()),
            Some("/home/me/a.txt".into())
        );
    }

    #[tokio::test]
    async fn files_are_written_read_listed_and_renamed_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Folder::new(dir.path(), "/src").unwrap();
        let h = f
            .open(
                1,
                "/src/n.txt".into(),
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
                FileAttributes::default(),
            )
            .await
            .ok()
            .unwrap()
            .handle;
        assert_eq!(
            code(f.write(2, h.clone(), 3, b"lo".to_vec()).await),
            StatusCode::Ok
        );
        assert_eq!(
            code(f.write(2, h.clone(), 0, b"hel".to_vec()).await),
            StatusCode::Ok
        );
        f.close(3, h).await.ok().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("n.txt")).unwrap(),
            "hello"
        );
        let h = f
            .open(
                4,
                "/src/n.txt".into(),
                OpenFlags::READ,
                FileAttributes::default(),
            )
            .await
            .ok()
            .unwrap()
            .handle;
        assert_eq!(
            f.read(5, h.clone(), 1, 100).await.ok().unwrap().data,
            b"ello"
        );
        assert_eq!(code(f.read(5, h, 5, 100).await), StatusCode::Eof);
        std::fs::write(dir.path().join("old"), "new content").unwrap();
        let mut req = Vec::new();
        for s in ["/src/old", "/src/n.txt"] {
            req.extend_from_slice(&(s.len() as u32).to_be_bytes());
            req.extend_from_slice(s.as_bytes());
        }
        assert!(
            f.extended(6, "posix-rename@openssh.com".into(), req)
                .await
                .is_ok()
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("n.txt")).unwrap(),
            "new content"
        );
        for i in 0..250 {
            std::fs::write(dir.path().join(format!("f{i}")), "").unwrap();
        }
        let h = f.opendir(7, "/src".into()).await.ok().unwrap().handle;
        let mut names = 0;
        while let Ok(n) = f.readdir(8, h.clone()).await {
            names += n.files.len();
        }
        assert_eq!(names, 250 + 1 + 2, "files, n.txt, . and ..");
        assert_eq!(
            code(f.extended(9, "statvfs@openssh.com".into(), vec![]).await),
            StatusCode::OpUnsupported
        );
        assert_eq!(
            code(
                f.extended(9, "posix-rename@openssh.com".into(), vec![0, 0, 0, 9])
                    .await
            ),
            StatusCode::BadMessage
        );
    }
}
