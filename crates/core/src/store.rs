//! The on-disk store.
//!
//! ```text
//! <root>/                     0700   BERTH_STORAGE_PATH, or the platform data dir + "berth"
//!   certs/                    0700   ca.pem ca-key.pem cert.pem key.pem (shared by all machines)
//!   machines/                 0700
//!     .locks/NAME.lock               one flock per machine: writers serialise on it
//!     NAME/                   0700   machine.json (0600), id_* keys (0600), ca.pem cert.pem
//!                                    key.pem server.pem server-key.pem (keys 0600)
//! ```
//! Readers never lock: every file is replaced atomically, so they see a whole old or a whole new
//! version. A machine that fails to load is reported on its own; it never hides the others.

use std::cmp::Ordering;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::fsutil;
use crate::machine::Machine;
use crate::names::validate_machine_name;

pub const STORAGE_ENV: &str = "BERTH_STORAGE_PATH";
pub const MACHINE_FILE: &str = "machine.json";

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Held while a process changes a machine; released on drop.
#[derive(Debug)]
pub struct MachineLock {
    _file: File,
    name: String,
}

impl MachineLock {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Store {
    /// The store at `explicit`, else `$BERTH_STORAGE_PATH`, else the platform data directory.
    pub fn locate(explicit: Option<PathBuf>) -> Result<Store> {
        if let Some(p) = explicit.filter(|p| !p.as_os_str().is_empty()) {
            return Ok(Store::at(p));
        }
        if let Some(p) = std::env::var_os(STORAGE_ENV).filter(|p| !p.is_empty()) {
            return Ok(Store::at(PathBuf::from(p)));
        }
        let base = dirs::data_dir().ok_or_else(|| {
            Error::store("cannot find the user data directory").with_hint(format!(
                "set {STORAGE_ENV} to the directory Berth should use"
            ))
        })?;
        Ok(Store::at(base.join("berth")))
    }

    pub fn at(root: impl Into<PathBuf>) -> Store {
        let root = root.into();
        // Absolute paths go into env output and machine records.
        let root = if root.is_relative() {
            std::env::current_dir()
                .map(|d| d.join(&root))
                .unwrap_or(root)
        } else {
            root
        };
        Store { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn certs_dir(&self) -> PathBuf {
        self.root.join("certs")
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }
    pub fn machines_dir(&self) -> PathBuf {
        self.root.join("machines")
    }
    pub fn machine_dir(&self, name: &str) -> PathBuf {
        self.machines_dir().join(name)
    }
    fn machine_file(&self, name: &str) -> PathBuf {
        self.machine_dir(name).join(MACHINE_FILE)
    }
    fn lock_path(&self, name: &str) -> PathBuf {
        self.machines_dir()
            .join(".locks")
            .join(format!("{name}.lock"))
    }

    /// Creates the store's directories (0700). Listing a store never creates anything.
    pub fn init(&self) -> Result<()> {
        fsutil::ensure_private_dir(&self.root)?;
        fsutil::ensure_private_dir(&self.machines_dir())?;
        fsutil::ensure_private_dir(&self.machines_dir().join(".locks"))?;
        fsutil::ensure_private_dir(&self.certs_dir())
    }

    /// Warnings about store directories other users can read or write (Berth does not change
    /// the mode of a directory it did not create).
    pub fn permission_warnings(&self) -> Vec<String> {
        [self.root.clone(), self.machines_dir(), self.certs_dir()]
            .iter()
            .filter_map(|d| fsutil::too_open(d))
            .collect()
    }

    pub fn exists(&self, name: &str) -> bool {
        validate_machine_name(name).is_ok() && self.machine_dir(name).is_dir()
    }

    /// Machine names in natural order (dev2 before dev10), case-insensitive.
    pub fn names(&self) -> Result<Vec<String>> {
        let dir = self.machines_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e).at("list", &dir),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort_by(|a, b| natural_cmp(&a.to_lowercase(), &b.to_lowercase()).then(a.cmp(b)));
        Ok(names)
    }

    pub fn load(&self, name: &str) -> Result<Machine> {
        validate_machine_name(name)?;
        if !self.machine_dir(name).is_dir() {
            return Err(
                Error::not_found(format!("machine \"{name}\" does not exist"))
                    .with_hint("run `berth ls` to list machines, `berth create` to add one"),
            );
        }
        let path = self.machine_file(name);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let hint = if self.machine_dir(name).join("config.json").exists() {
                    "this looks like a docker-machine record; Berth keeps its own store"
                } else {
                    "the create that made it was interrupted; remove it with `berth rm -f NAME`"
                };
                return Err(
                    Error::store(format!("machine \"{name}\" has no {MACHINE_FILE}"))
                        .with_hint(hint),
                );
            }
            Err(e) => return Err(e).at("read", &path),
        };
        Machine::from_json(name, &text)
            .map_err(|e| e.or_hint(format!("fix or remove {}", path.display())))
    }

    /// A machine directory without a record and without anything else a record would have
    /// pointed at: a create interrupted before it wrote machine.json (it had made nothing yet).
    pub fn is_unwritten_reservation(&self, name: &str) -> bool {
        let dir = self.machine_dir(name);
        validate_machine_name(name).is_ok()
            && dir.is_dir()
            && matches!(fs::symlink_metadata(self.machine_file(name)), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
            && !dir.join("config.json").exists()
    }

    /// Every machine, each loaded on its own: a damaged record is an `Err` in its row.
    pub fn load_all(&self) -> Result<Vec<(String, Result<Machine>)>> {
        Ok(self
            .names()?
            .into_iter()
            .map(|n| {
                let m = self.load(&n);
                (n, m)
            })
            .collect())
    }

    /// Writes the record atomically (0600). The caller holds the machine's lock.
    pub fn save(&self, machine: &mut Machine) -> Result<()> {
        validate_machine_name(&machine.name)?;
        let dir = self.machine_dir(&machine.name);
        let certs = self.certs_dir();
        let a = &mut machine.host_options.auth_options;
        a.cert_dir = certs.display().to_string();
        a.store_path = dir.display().to_string();
        a.ca_cert_path = dir.join("ca.pem").display().to_string();
        a.client_cert_path = dir.join("cert.pem").display().to_string();
        a.client_key_path = dir.join("key.pem").display().to_string();
        a.server_cert_path = dir.join("server.pem").display().to_string();
        a.server_key_path = dir.join("server-key.pem").display().to_string();
        fsutil::write_json(
            &self.machine_file(&machine.name),
            machine,
            fsutil::SECRET_MODE,
        )
    }

    /// Claims a new machine name: creates its directory (failing if it exists) and locks it.
    /// Waits for the lock blocking the thread (see [`Store::lock`]); async code uses
    /// [`Store::reserve_async`].
    pub fn reserve(&self, name: &str) -> Result<MachineLock> {
        self.before_reserve(name)?;
        let lock = self.lock(name, RESERVE_WAIT)?;
        self.claim_dir(name, lock)
    }

    /// [`Store::reserve`] for async code: waits for the lock on the runtime's timer.
    pub async fn reserve_async(&self, name: &str) -> Result<MachineLock> {
        self.before_reserve(name)?;
        let lock = self.lock_async(name, RESERVE_WAIT).await?;
        self.claim_dir(name, lock)
    }

    fn before_reserve(&self, name: &str) -> Result<()> {
        validate_machine_name(name)?;
        self.init()?;
        self.sweep();
        Ok(())
    }

    /// Creates the reserved machine's directory (failing if it exists); `lock` is held.
    fn claim_dir(&self, name: &str, lock: MachineLock) -> Result<MachineLock> {
        let dir = self.machine_dir(name);
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(fsutil::DIR_MODE);
        }
        match builder.create(&dir) {
            Ok(()) => Ok(lock),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("machine \"{name}\" already exists"),
            )
            .with_hint(format!(
                "choose another name, or remove it first with `berth rm {name}`"
            ))),
            Err(e) => Err(e).at("create directory", &dir),
        }
    }

    /// Waits up to `wait` for the machine's lock, blocking the thread: for sync callers (the
    /// CLI outside its runtime, tests) and `wait` zero. Async code uses [`Store::lock_async`].
    pub fn lock(&self, name: &str, wait: Duration) -> Result<MachineLock> {
        let (path, file) = self.open_lock(name)?;
        let deadline = Instant::now() + wait;
        while !try_lock(name, &path, &file, Instant::now() < deadline)? {
            std::thread::sleep(LOCK_POLL);
        }
        Ok(held(name, file))
    }

    /// [`Store::lock`] for async code: waits on the runtime's timer, never blocking a worker.
    pub async fn lock_async(&self, name: &str, wait: Duration) -> Result<MachineLock> {
        let (path, file) = self.open_lock(name)?;
        let deadline = Instant::now() + wait;
        while !try_lock(name, &path, &file, Instant::now() < deadline)? {
            tokio::time::sleep(LOCK_POLL).await;
        }
        Ok(held(name, file))
    }

    fn open_lock(&self, name: &str) -> Result<(PathBuf, File)> {
        validate_machine_name(name)?;
        let path = self.lock_path(name);
        if let Some(parent) = path.parent() {
            fsutil::ensure_private_dir(parent)?;
        }
        let file = fsutil::open_lock_file(&path)?;
        Ok((path, file))
    }

    /// True while another process holds the machine's lock (a create or provision in progress).
    pub fn is_busy(&self, name: &str) -> bool {
        let Ok(file) = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.lock_path(name))
        else {
            return false;
        };
        matches!(file.try_lock(), Err(fs::TryLockError::WouldBlock))
    }

    /// Deletes a machine's directory. It is first renamed out of the listing, so a half-deleted
    /// machine never shows up as a damaged one.
    pub fn remove(&self, lock: MachineLock) -> Result<()> {
        self.sweep();
        let dir = self.machine_dir(&lock.name);
        if !dir.exists() {
            return Ok(());
        }
        let trash =
            self.machines_dir()
                .join(format!(".trash-{}-{}", lock.name, rand::random::<u32>()));
        fs::rename(&dir, &trash).at("move away", &dir)?;
        fs::remove_dir_all(&trash).at("delete", &trash)?;
        Ok(())
    }
}

impl Store {
    /// Deletes what an interrupted Berth left behind: `.trash-*` directories of removals that
    /// were killed half-way (they hold private keys) and temp files of atomic writes whose
    /// process is gone. Best effort: whatever cannot go now goes next time.
    pub fn sweep(&self) {
        let machines = self.machines_dir();
        let Ok(entries) = fs::read_dir(&machines) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.starts_with(".trash-") {
                let _ = fs::remove_dir_all(&path);
            } else if !name.starts_with('.') && path.is_dir() {
                fsutil::sweep_stale_temps(&path);
            }
        }
        fsutil::sweep_stale_temps(&self.certs_dir());
        fsutil::sweep_stale_temps(&self.root);
    }
}

/// How often a wait for a machine's lock tries again.
const LOCK_POLL: Duration = Duration::from_millis(25);
/// How long a new name waits for its lock (held only by a create of the same name).
const RESERVE_WAIT: Duration = Duration::from_secs(5);

/// One try at `file`'s lock: true when taken, false to try again (`may_wait`), else Busy.
fn try_lock(name: &str, path: &Path, file: &File, may_wait: bool) -> Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) if may_wait => Ok(false),
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(path).unwrap_or_default();
            Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "machine \"{name}\" is busy: another berth process ({}) is changing it",
                    holder.trim()
                ),
            )
            .with_hint("wait for it to finish, then try again"))
        }
        Err(fs::TryLockError::Error(e)) => Err(e).at("lock", path),
    }
}

/// The taken lock, its file naming the holder.
fn held(name: &str, mut file: File) -> MachineLock {
    let _ = file.set_len(0);
    let _ = write!(file, "pid {}", std::process::id());
    MachineLock {
        _file: file,
        name: name.to_string(),
    }
}

/// A running create's checkpoints: the record is read again and only its `Driver` replaced.
/// The caller holds the machine's lock (create does, for its whole run).
impl crate::drivers::DriverRecords for Store {
    fn save_driver(&self, name: &str, config: serde_json::Value) -> Result<()> {
        let mut m = self.load(name)?;
        m.driver = config;
        self.save(&mut m)
    }
}

/// Compares digit runs by value, so "m2" < "m10".
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let na = std::str::from_utf8(&a[..da])
                    .unwrap_or("0")
                    .trim_start_matches('0');
                let nb = std::str::from_utf8(&b[..db])
                    .unwrap_or("0")
                    .trim_start_matches('0');
                let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::HostOptions;

    fn machine(name: &str) -> Machine {
        Machine::new(
            name,
            "none",
            serde_json::json!({"URL": "tcp://1.2.3.4:2376"}),
            HostOptions::default(),
        )
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["m10", "m2", "M1", "a", "m02x"];
        v.sort_by(|a, b| natural_cmp(&a.to_lowercase(), &b.to_lowercase()));
        assert_eq!(v, vec!["a", "M1", "m2", "m02x", "m10"]);
    }

    /// What a killed Berth left (a removal's trash with keys, temp files of a dead writer) is
    /// swept by the next write; a live writer's temp file is left alone.
    #[test]
    fn leftovers_of_a_killed_berth_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let lock = store.reserve("m").unwrap();
        store.save(&mut machine("m")).unwrap();
        drop(lock);
        let trash = store.machines_dir().join(".trash-old-123");
        fs::create_dir_all(&trash).unwrap();
        fs::write(trash.join("id_ed25519"), "key").unwrap();
        // PID 999999999 cannot exist (pid_max is far lower); this process is alive.
        let dead = store.machine_dir("m").join(".key.pem.tmp-999999999-7");
        let live = store
            .machine_dir("m")
            .join(format!(".key.pem.tmp-{}-8", std::process::id()));
        fs::write(&dead, "half a key").unwrap();
        fs::write(&live, "being written").unwrap();
        let _other = store.reserve("n").unwrap();
        assert!(!trash.exists(), "trash swept");
        assert!(!dead.exists(), "a dead writer's temp file swept");
        assert!(live.exists(), "a live writer's temp file kept");
    }

    #[test]
    fn reserve_save_load_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("s"));
        assert!(
            store.names().unwrap().is_empty(),
            "listing a missing store is empty"
        );
        assert!(!dir.path().join("s").exists(), "listing creates nothing");
        let lock = store.reserve("dev").unwrap();
        let mut m = machine("dev");
        store.save(&mut m).unwrap();
        assert!(store.reserve("dev").is_err(), "a name is reserved once");
        let loaded = store.load("dev").unwrap();
        assert_eq!(loaded.driver_name, "none");
        assert!(
            loaded.host_options.auth_options.store_path.is_empty(),
            "paths are not read back"
        );
        store.remove(lock).unwrap();
        assert!(!store.exists("dev"));
        assert!(store.names().unwrap().is_empty());
    }

    #[test]
    fn damaged_record_does_not_hide_others() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        for n in ["a", "b", "c"] {
            let _l = store.reserve(n).unwrap();
            store.save(&mut machine(n)).unwrap();
        }
        fs::write(
            store.machine_dir("b").join(MACHINE_FILE),
            "{\"SchemaVersion\": 1, \"Na",
        )
        .unwrap();
        fs::create_dir(store.machine_dir("d")).unwrap(); // no machine.json at all
        let all = store.load_all().unwrap();
        let ok: Vec<_> = all
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(n, _)| n.as_str())
            .collect();
        let bad: Vec<_> = all
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(ok, ["a", "c"]);
        assert_eq!(bad, ["b", "d"]);
    }

    #[test]
    fn lock_is_exclusive_and_reports_busy() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        store.init().unwrap();
        let held = store.lock("x", Duration::from_millis(10)).unwrap();
        // A second open file description conflicts even within one process.
        let err = store.lock("x", Duration::from_millis(60)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Busy);
        assert!(store.is_busy("x"));
        drop(held);
        assert!(!store.is_busy("x"));
        store.lock("x", Duration::from_millis(10)).unwrap();
    }

    /// On a single-threaded runtime: while `lock_async` waits, the task holding the lock runs
    /// and lets it go (a blocking wait would keep it from ever running).
    #[tokio::test]
    async fn an_async_lock_wait_lets_the_runtime_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        store.init().unwrap();
        let held = store.lock_async("x", Duration::ZERO).await.unwrap();
        let err = store
            .lock_async("x", Duration::from_millis(60))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Busy);
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(held);
        });
        let started = Instant::now();
        store.lock_async("x", Duration::from_secs(5)).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        release.await.unwrap();
    }

    #[test]
    fn load_rejects_bad_names_without_touching_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        assert_eq!(
            store.load("../etc").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(store.load("nope").unwrap_err().kind(), ErrorKind::NotFound);
    }
}
