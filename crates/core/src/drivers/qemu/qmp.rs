//! QMP, QEMU's JSON control protocol: the VM's run state, an ACPI power button press (a clean
//! shutdown), and quit (pulling the plug).
//!
//! QMP has no password: whoever can connect controls the VM. So QEMU serves it only on a Unix
//! socket only this user can reach: `qmp.sock` in the machine directory (0700; on Windows under
//! the profile, whose ACL admits only the user), or, when that path is too long for a socket,
//! in a private directory of the user's ([`socket_path`]), never under a name another user
//! could take first. Never on a TCP port: any local user could connect to that.
//!
//! Windows has AF_UNIX since Windows 10 1803, and QEMU serves QMP on it there since 7.1
//! ([`check_qemu`] refuses an older one). tokio has no AF_UNIX on Windows: there a blocking
//! socket is bridged to the async client by two threads ([`bridge`]).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::error::{Error, ErrorKind, IoContext, Result};

/// Socket paths must fit `sun_path`: 108 bytes on Linux and Windows, 104 on macOS.
const MAX_SOCKET_PATH: usize = 100;

/// The first QEMU that serves Unix sockets on Windows.
const WINDOWS_MIN_QEMU: (u32, u32) = (7, 1);

/// The `-qmp` argument that makes QEMU serve QMP on `socket` (clients may come and go).
pub fn qemu_arg(socket: &Path) -> String {
    // QEMU splits option values at commas; a comma in a path is written twice.
    format!(
        "unix:{},server=on,wait=off",
        socket.display().to_string().replace(',', ",,")
    )
}

/// Where the VM in `machine_dir` serves QMP: `qmp.sock` there, else (a path too long for a
/// socket) a name derived from the directory in the user's private directory.
pub fn socket_path(machine_dir: &Path) -> Result<PathBuf> {
    socket_path_in(machine_dir, &Bases::from_env())
}

/// The same rule for the VM's other sockets (`stem`.sock: the virtiofs daemons').
pub fn named_socket_path(machine_dir: &Path, stem: &str) -> Result<PathBuf> {
    named_socket_path_in(machine_dir, stem, &Bases::from_env())
}

fn socket_path_in(machine_dir: &Path, bases: &Bases) -> Result<PathBuf> {
    named_socket_path_in(machine_dir, "qmp", bases)
}

fn named_socket_path_in(machine_dir: &Path, stem: &str, bases: &Bases) -> Result<PathBuf> {
    let own = machine_dir.join(format!("{stem}.sock"));
    if fits(&own) {
        return Ok(own);
    }
    use sha2::Digest;
    let h = sha2::Sha256::digest(machine_dir.to_string_lossy().as_bytes());
    let tag: String = h.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let socket = private_dir(bases)?.join(format!("{stem}-{tag}.sock"));
    if !fits(&socket) {
        return Err(Error::io(format!(
            "no place for the VM's control socket: {} is too long a path for a socket",
            socket.display()
        ))
        .with_hint("use a shorter store path (--storage-path), or a shorter TMPDIR"));
    }
    Ok(socket)
}

fn fits(socket: &Path) -> bool {
    socket.as_os_str().len() < MAX_SOCKET_PATH
}

/// Where a private directory may be made: the per-session runtime directory, else the temp
/// directory.
struct Bases {
    runtime: Option<PathBuf>,
    temp: PathBuf,
}

impl Bases {
    #[cfg(unix)]
    fn from_env() -> Bases {
        Bases {
            runtime: std::env::var_os("XDG_RUNTIME_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            temp: std::env::temp_dir(),
        }
    }
    #[cfg(not(unix))]
    fn from_env() -> Bases {
        Bases {
            runtime: dirs::runtime_dir(),
            temp: std::env::temp_dir(),
        }
    }
}

/// `$XDG_RUNTIME_DIR/berth` when that directory is the user's own and private, else
/// `<temp>/berth-<uid>`: the shared temp directory is where another user could squat a name.
#[cfg(unix)]
fn private_dir(bases: &Bases) -> Result<PathBuf> {
    let dir = match &bases.runtime {
        Some(r) if not_private(r).is_none() => r.join("berth"),
        _ => bases.temp.join(format!("berth-{}", euid())),
    };
    ensure_private(&dir)?;
    Ok(dir)
}

/// `berth` in the runtime or temp directory, both per-user on Windows.
#[cfg(not(unix))]
fn private_dir(bases: &Bases) -> Result<PathBuf> {
    let dir = bases.runtime.as_ref().unwrap_or(&bases.temp).join("berth");
    ensure_private(&dir)?;
    Ok(dir)
}

/// Makes `dir` private, or checks that the one there is; one someone else made is refused,
/// never changed.
fn ensure_private(dir: &Path) -> Result<()> {
    match create_private(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).at("create directory", dir),
    }
    match not_private(dir) {
        None => Ok(()),
        Some(why) => Err(Error::io(format!(
            "{} cannot hold the VM's control socket: {why}",
            dir.display()
        ))
        .with_hint(format!(
            "Berth keeps QMP sockets there when a machine directory's path is too long for one; \
             another user may have made it: remove {} (or use a shorter store path, --storage-path)",
            dir.display()
        ))),
    }
}

#[cfg(unix)]
fn create_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    // The umask may have taken bits off; nobody else can have replaced a directory this new.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private(dir: &Path) -> io::Result<()> {
    std::fs::create_dir(dir)
}

/// Why `dir` is not a private directory of this user's (`None`: it is). Not following a
/// symbolic link: one would point where its maker chose.
#[cfg(unix)]
fn not_private(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) => return Some(e.to_string()),
    };
    let mode = meta.mode() & 0o777;
    if !meta.is_dir() {
        Some("it is not a directory (a symbolic link or a file)".into())
    } else if meta.uid() != euid() {
        Some(format!(
            "it belongs to user ID {}, not to you ({})",
            meta.uid(),
            euid()
        ))
    } else if mode != 0o700 {
        Some(format!("its mode is {mode:03o}, not 700"))
    } else {
        None
    }
}

/// On Windows the directory inherits the per-user parent's ACL; a link is still refused.
#[cfg(not(unix))]
fn not_private(dir: &Path) -> Option<String> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => None,
        Ok(_) => Some("it is not a directory (a link or a file)".into()),
        Err(e) => Some(e.to_string()),
    }
}

#[cfg(unix)]
fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Refuses a QEMU that cannot serve QMP on a Unix socket here: on Windows, one before 7.1.
pub async fn check_qemu(qemu: &Path) -> Result<()> {
    if !cfg!(windows) {
        return Ok(());
    }
    // A QEMU that does not even run is reported when it starts, with its own words.
    match crate::child::async_background(qemu)
        .arg("--version")
        .output()
        .await
    {
        Ok(out) => check_version(qemu, &String::from_utf8_lossy(&out.stdout)),
        Err(_) => Ok(()),
    }
}

fn check_version(qemu: &Path, version_text: &str) -> Result<()> {
    match parse_version(version_text) {
        Some(v) if v < WINDOWS_MIN_QEMU => Err(Error::invalid(format!(
            "{} is QEMU {}.{}, which cannot serve its control socket (QMP) on Windows; Berth needs QEMU {}.{} or later",
            qemu.display(),
            v.0,
            v.1,
            WINDOWS_MIN_QEMU.0,
            WINDOWS_MIN_QEMU.1
        ))
        .with_hint(
            "upgrade QEMU: https://www.qemu.org/download/#windows (or: winget upgrade SoftwareFreedomConservancy.QEMU)",
        )),
        // An unknown format is left to QEMU itself.
        _ => Ok(()),
    }
}

/// (major, minor) from `qemu-system-* --version`: "QEMU emulator version 9.0.2 (v9.0.2-…)".
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let rest = text.split("version ").nth(1)?;
    let mut numbers = rest.split(|c: char| !c.is_ascii_digit());
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    Some((major, minor))
}

type Reader = BufReader<Box<dyn AsyncRead + Unpin + Send>>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

pub struct Qmp {
    reader: Reader,
    writer: Writer,
}

fn qmp_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Driver, format!("QMP {what}: {e}"))
}

/// A reset connection is QEMU closing it (`quit` may end that way).
fn io_error(what: &str, e: io::Error) -> Error {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
            qmp_error(what, "the socket closed")
        }
        _ => qmp_error(what, e),
    }
}

#[cfg(unix)]
async fn open(socket: &Path) -> io::Result<(Reader, Writer)> {
    let (r, w) = tokio::net::UnixStream::connect(socket).await?.into_split();
    Ok((BufReader::new(Box::new(r)), Box::new(w)))
}

#[cfg(windows)]
async fn open(socket: &Path) -> io::Result<(Reader, Writer)> {
    let path = socket.to_path_buf();
    let stream = tokio::task::spawn_blocking(move || uds_windows::UnixStream::connect(path))
        .await
        .map_err(io::Error::other)??;
    bridge::bridge(stream).map(|(r, w, _)| (r, w))
}

impl Qmp {
    /// Connects and leaves capabilities negotiation mode.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<Qmp> {
        let at = socket.display();
        let (reader, writer) = tokio::time::timeout(timeout, open(socket))
            .await
            .map_err(|_| Error::timeout(format!("the VM's QMP socket {at} did not answer")))?
            .map_err(|e| qmp_error(&format!("connect {at}"), e))?;
        Qmp::start(reader, writer, timeout).await
    }

    /// The greeting, then capabilities.
    async fn start(reader: Reader, writer: Writer, timeout: Duration) -> Result<Qmp> {
        let mut q = Qmp { reader, writer };
        q.read_message(timeout).await?;
        q.execute("qmp_capabilities", None, timeout).await?;
        Ok(q)
    }

    async fn read_message(&mut self, timeout: Duration) -> Result<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(timeout, self.reader.read_line(&mut line))
            .await
            .map_err(|_| Error::timeout("QEMU did not answer on QMP"))?
            .map_err(|e| io_error("read", e))?;
        if n == 0 {
            return Err(qmp_error("read", "the socket closed"));
        }
        serde_json::from_str(&line).map_err(|e| qmp_error("answer", e))
    }

    /// Runs a command; its `return` value (events that arrive meanwhile are skipped).
    pub async fn execute(
        &mut self,
        command: &str,
        args: Option<Value>,
        timeout: Duration,
    ) -> Result<Value> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = args {
            msg["arguments"] = a;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .await
            .map_err(|e| io_error("write", e))?;
        loop {
            let m = self.read_message(timeout).await?;
            if let Some(r) = m.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = m.get("error") {
                return Err(qmp_error(
                    command,
                    e.get("desc").and_then(Value::as_str).unwrap_or("failed"),
                ));
            }
        }
    }

    /// Runs a human monitor (HMP) command; its output (empty on success for most commands,
    /// the reason otherwise: `hostfwd_add` has no QMP equivalent).
    pub async fn human(&mut self, command_line: &str, timeout: Duration) -> Result<String> {
        let r = self
            .execute(
                "human-monitor-command",
                Some(json!({ "command-line": command_line })),
                timeout,
            )
            .await?;
        Ok(r.as_str().unwrap_or_default().to_string())
    }

    /// `running`, `paused`, `shutdown`, … (QEMU's RunState).
    pub async fn status(&mut self, timeout: Duration) -> Result<String> {
        let r = self.execute("query-status", None, timeout).await?;
        Ok(r.get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string())
    }

    /// The VM's `-name`.
    pub async fn name(&mut self, timeout: Duration) -> Result<String> {
        let r = self.execute("query-name", None, timeout).await?;
        Ok(r.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// Presses the ACPI power button: the guest shuts down cleanly.
    pub async fn powerdown(&mut self, timeout: Duration) -> Result<()> {
        self.execute("system_powerdown", None, timeout)
            .await
            .map(|_| ())
    }

    /// Stops QEMU at once (the guest gets no chance to shut down).
    pub async fn quit(&mut self, timeout: Duration) -> Result<()> {
        // QEMU may close the socket before or after answering.
        match self.execute("quit", None, timeout).await {
            Ok(_) => Ok(()),
            Err(e) if e.message().contains("closed") => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn reset(&mut self, timeout: Duration) -> Result<()> {
        self.execute("system_reset", None, timeout)
            .await
            .map(|_| ())
    }
}

/// A blocking socket as an async client's reader and writer (Windows, where tokio has no
/// AF_UNIX): one thread per direction, through in-memory pipes. Dropping the client ends both
/// threads: the sending one reads the end of its pipe and shuts the socket down, which ends
/// the receiving one's read. Built for tests on Unix too, over std's socket.
#[cfg(any(windows, test))]
mod bridge {
    use std::io::{self, Read, Write};
    use std::net::Shutdown;
    use std::thread::JoinHandle;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
    use tokio::runtime::Handle;

    use super::{Reader, Writer};

    const BUF: usize = 64 * 1024;

    pub trait Socket: Read + Write + Send + Sized + 'static {
        fn try_clone(&self) -> io::Result<Self>;
        fn shutdown(&self);
    }

    #[cfg(windows)]
    impl Socket for uds_windows::UnixStream {
        fn try_clone(&self) -> io::Result<Self> {
            uds_windows::UnixStream::try_clone(self)
        }
        fn shutdown(&self) {
            let _ = uds_windows::UnixStream::shutdown(self, Shutdown::Both);
        }
    }

    #[cfg(unix)]
    impl Socket for std::os::unix::net::UnixStream {
        fn try_clone(&self) -> io::Result<Self> {
            std::os::unix::net::UnixStream::try_clone(self)
        }
        fn shutdown(&self) {
            let _ = std::os::unix::net::UnixStream::shutdown(self, Shutdown::Both);
        }
    }

    /// The client's ends, and the two threads (tests wait for them).
    pub fn bridge<S: Socket>(socket: S) -> io::Result<(Reader, Writer, [JoinHandle<()>; 2])> {
        let rt = Handle::current();
        let (client_rx, to_client) = tokio::io::duplex(BUF);
        let (client_tx, from_client) = tokio::io::duplex(BUF);
        let receiving = socket.try_clone()?;
        let rt2 = rt.clone();
        let receiver = std::thread::Builder::new()
            .name("qmp-receive".into())
            .spawn(move || receive(receiving, to_client, rt2))?;
        let sender = std::thread::Builder::new()
            .name("qmp-send".into())
            .spawn(move || send(socket, from_client, rt))?;
        Ok((
            BufReader::new(Box::new(client_rx)),
            Box::new(client_tx),
            [receiver, sender],
        ))
    }

    /// QEMU → client, until QEMU closes the socket or the client is gone; then the client
    /// reads the end.
    fn receive(mut socket: impl Socket, mut to_client: DuplexStream, rt: Handle) {
        let mut buf = vec![0; BUF];
        loop {
            let n = match socket.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if rt.block_on(to_client.write_all(&buf[..n])).is_err() {
                break;
            }
        }
        socket.shutdown();
    }

    /// Client → QEMU, until the client is dropped or the socket fails.
    fn send(mut socket: impl Socket, mut from_client: DuplexStream, rt: Handle) {
        let mut buf = vec![0; BUF];
        loop {
            let n = match rt.block_on(from_client.read(&mut buf)) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if socket.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // Ends the receiving thread's read (and QEMU closes its end when it sees ours).
        socket.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    const T: Duration = Duration::from_secs(5);

    #[test]
    fn commas_in_the_socket_path_are_doubled() {
        assert_eq!(
            qemu_arg(Path::new("/m/q,mp.sock")),
            "unix:/m/q,,mp.sock,server=on,wait=off"
        );
    }

    #[test]
    fn a_short_machine_dir_keeps_its_socket() {
        let dir = Path::new("/store/machines/dev");
        assert_eq!(socket_path(dir).unwrap(), dir.join("qmp.sock"));
    }

    #[test]
    fn qemu_versions_before_7_1_are_refused_on_windows() {
        let q = Path::new("qemu-system-x86_64.exe");
        let debian = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright";
        assert_eq!(parse_version(debian), Some((7, 2)));
        assert_eq!(
            parse_version("QEMU emulator version 10.0.0 (v10.0.0-12013-g1)"),
            Some((10, 0))
        );
        assert_eq!(parse_version("something else"), None);
        let err = check_version(q, "QEMU emulator version 7.0.0 (v7.0.0-11902)").unwrap_err();
        assert!(err.message().contains("QEMU 7.0"), "{err}");
        assert!(err.hint().unwrap_or("").contains("upgrade QEMU"), "{err}");
        for ok in [
            "QEMU emulator version 7.1.0",
            "QEMU emulator version 9.2.0",
            "?",
        ] {
            assert!(check_version(q, ok).is_ok(), "{ok}");
        }
    }

    /// The private-directory rules, against a temp directory of the test's own.
    #[cfg(unix)]
    mod private {
        use super::*;
        use std::os::unix::fs::{MetadataExt, PermissionsExt};

        fn bases(temp: &Path) -> Bases {
            Bases {
                runtime: None,
                temp: temp.to_path_buf(),
            }
        }

        /// A machine directory whose `qmp.sock` would not fit a socket address.
        fn long_dir(root: &Path) -> PathBuf {
            root.join("m".repeat(MAX_SOCKET_PATH))
        }

        fn fallback(temp: &Path) -> PathBuf {
            temp.join(format!("berth-{}", euid()))
        }

        fn mode(p: &Path) -> u32 {
            std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
        }

        #[track_caller]
        fn refused(temp: &Path, why: &str) {
            let err = socket_path_in(&long_dir(temp), &bases(temp)).unwrap_err();
            assert!(err.message().contains(why), "{err}");
            assert!(err.hint().unwrap_or("").contains("remove"), "{err}");
        }

        #[test]
        fn a_long_machine_dir_puts_the_socket_in_a_new_private_dir() {
            let temp = tempfile::tempdir().unwrap();
            let socket = socket_path_in(&long_dir(temp.path()), &bases(temp.path())).unwrap();
            let dir = fallback(temp.path());
            assert_eq!(socket.parent(), Some(dir.as_path()));
            assert!(fits(&socket));
            assert_eq!(mode(&dir), 0o700);
            // Again: the directory is there and passes.
            let again = socket_path_in(&long_dir(temp.path()), &bases(temp.path())).unwrap();
            assert_eq!(again, socket);
        }

        /// What the driver gets from the real environment: never the shared temp directory.
        #[test]
        fn a_long_machine_dir_never_uses_the_shared_temp_dir() {
            let store = tempfile::tempdir().unwrap();
            let socket = socket_path(&long_dir(store.path())).unwrap();
            let dir = socket.parent().unwrap();
            assert_ne!(dir, std::env::temp_dir());
            let meta = std::fs::symlink_metadata(dir).unwrap();
            assert!(meta.is_dir());
            assert_eq!((meta.uid(), meta.mode() & 0o777), (euid(), 0o700));
        }

        #[test]
        fn a_fallback_dir_of_another_users_is_refused_untouched() {
            let temp = tempfile::tempdir().unwrap();
            let dir = fallback(temp.path());
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
            if let Err(e) = std::os::unix::fs::chown(&dir, Some(65534), Some(65534)) {
                eprintln!("skipped: only root can give a directory away ({e})");
                return;
            }
            refused(temp.path(), "belongs to user ID 65534");
            let meta = std::fs::symlink_metadata(&dir).unwrap();
            assert_eq!((meta.uid(), meta.mode() & 0o7777), (65534, 0o700));
        }

        #[test]
        fn a_world_writable_fallback_dir_is_refused_untouched() {
            let temp = tempfile::tempdir().unwrap();
            let dir = fallback(temp.path());
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
            refused(temp.path(), "its mode is 777");
            assert_eq!(mode(&dir), 0o777);
        }

        #[test]
        fn a_symlinked_fallback_dir_is_refused() {
            let temp = tempfile::tempdir().unwrap();
            // Even pointing at a private directory: its maker could point it elsewhere later.
            let target = tempfile::tempdir().unwrap();
            std::fs::set_permissions(target.path(), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            std::os::unix::fs::symlink(target.path(), fallback(temp.path())).unwrap();
            refused(temp.path(), "not a directory");
            assert_eq!(mode(target.path()), 0o755);
            assert_eq!(std::fs::read_dir(target.path()).unwrap().count(), 0);
        }

        #[test]
        fn a_private_runtime_dir_is_preferred_and_a_shared_one_passed_over() {
            let temp = tempfile::tempdir().unwrap();
            let runtime = tempfile::tempdir().unwrap();
            std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700))
                .unwrap();
            let b = Bases {
                runtime: Some(runtime.path().to_path_buf()),
                temp: temp.path().to_path_buf(),
            };
            let socket = socket_path_in(&long_dir(temp.path()), &b).unwrap();
            assert_eq!(
                socket.parent(),
                Some(runtime.path().join("berth").as_path())
            );
            assert_eq!(mode(&runtime.path().join("berth")), 0o700);

            std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            let socket = socket_path_in(&long_dir(temp.path()), &b).unwrap();
            assert_eq!(socket.parent(), Some(fallback(temp.path()).as_path()));
        }
    }

    /// The Windows client's bridge, over a Unix socket pair: both directions, the end of the
    /// stream each way, and no thread left once the client is dropped.
    #[cfg(unix)]
    mod bridged {
        use super::*;
        use std::io::{Read, Write};
        use std::os::unix::net::UnixStream;
        use std::time::Instant;
        use tokio::io::AsyncReadExt;

        #[track_caller]
        fn wait_ended(threads: [std::thread::JoinHandle<()>; 2]) {
            let deadline = Instant::now() + T;
            while !threads.iter().all(|t| t.is_finished()) {
                assert!(
                    Instant::now() < deadline,
                    "a bridge thread is still blocked"
                );
                // A sync test helper waiting for OS threads: no async runtime to block here.
                std::thread::sleep(Duration::from_millis(10));
            }
        }

        #[tokio::test]
        async fn dropping_the_client_shuts_the_socket_and_ends_both_threads() {
            let (ours, mut peer) = UnixStream::pair().unwrap();
            peer.set_read_timeout(Some(T)).unwrap();
            let (mut r, mut w, threads) = bridge::bridge(ours).unwrap();
            w.write_all(b"ping\n").await.unwrap();
            let mut got = [0; 5];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ping\n");
            peer.write_all(b"pong\n").unwrap();
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            assert_eq!(line, "pong\n");
            drop((r, w));
            assert_eq!(peer.read(&mut got).unwrap(), 0, "the socket was shut down");
            wait_ended(threads);
        }

        #[tokio::test]
        async fn the_client_reads_the_end_when_qemu_closes() {
            let (ours, peer) = UnixStream::pair().unwrap();
            let (mut r, w, threads) = bridge::bridge(ours).unwrap();
            drop(peer);
            let mut rest = Vec::new();
            let n = tokio::time::timeout(T, r.read_to_end(&mut rest)).await;
            assert_eq!(n.unwrap().unwrap(), 0);
            drop((r, w));
            wait_ended(threads);
        }
    }

    #[cfg(unix)]
    mod real_qemu {
        use super::*;
        use crate::drivers::qemu::{accel, process};
        use std::time::Instant;

        /// QEMU runs in its own session: a failed assertion must not leave it running.
        struct KillOnDrop(std::process::Child);

        impl Drop for KillOnDrop {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }

        /// A client the way this OS connects, or (`bridged`) the way Windows does.
        async fn client(socket: &Path, bridged: bool) -> Result<Qmp> {
            if !bridged {
                return Qmp::connect(socket, T).await;
            }
            let s = std::os::unix::net::UnixStream::connect(socket)
                .map_err(|e| qmp_error("connect", e))?;
            let (r, w, _) = bridge::bridge(s).map_err(|e| qmp_error("bridge", e))?;
            Qmp::start(r, w, T).await
        }

        /// Against a real QEMU without a guest (`-machine none`), started the way the driver
        /// starts it, through tokio's socket and through the Windows bridge. Skipped without QEMU
        /// (scripts/test.sh installs it).
        #[tokio::test]
        async fn qemu_serves_qmp_to_one_client_after_another_and_quits() {
            let Some(qemu) = accel::qemu_for_tests() else {
                return;
            };
            let dir = tempfile::tempdir().expect("tempdir");
            let socket = dir.path().join("q,mp.sock");
            for bridged in [false, true] {
                let log = dir.path().join("qemu.log");
                // std's Command for process::spawn, which starts QEMU detached and never waits.
                let mut cmd = std::process::Command::new(&qemu);
                cmd.args(["-machine", "none", "-nodefaults", "-display", "none"])
                    .args(["-name", "berth-probe", "-qmp", &qemu_arg(&socket)]);
                let mut guard = KillOnDrop(process::spawn(cmd, &log).expect("spawn QEMU"));
                let child = &mut guard.0;
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut q = loop {
                    match client(&socket, bridged).await {
                        Ok(q) => break q,
                        Err(e) => {
                            let exited = child.try_wait().expect("wait").is_some();
                            if exited || Instant::now() > deadline {
                                panic!(
                                    "bridged {bridged}: {e}; QEMU said: {}",
                                    std::fs::read_to_string(&log).unwrap_or_default()
                                );
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                };
                assert_eq!(q.name(T).await.expect("name"), "berth-probe");
                assert_eq!(q.status(T).await.expect("status"), "running");
                let err = q.execute("no-such-command", None, T).await.unwrap_err();
                assert!(err.message().contains("no-such-command"), "{err}");
                drop(q);
                // The driver connects once per check: a second client is served too.
                let mut q = client(&socket, bridged).await.expect("second client");
                q.quit(T).await.expect("quit");
                let deadline = Instant::now() + T;
                while child.try_wait().expect("wait").is_none() {
                    if Instant::now() > deadline {
                        panic!("bridged {bridged}: QEMU did not quit");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}
