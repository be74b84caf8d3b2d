//! Harness for the end-to-end suites: real test hosts (tests/testhost/testhost.sh: network
//! namespaces with sshd and Debian's dockerd) and the real `berth` binary with a private store.
//! Hosts are torn down when their handle drops, even when a test fails.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn testhost_script() -> PathBuf {
    repo_root().join("tests/testhost/testhost.sh")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[track_caller]
pub fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{}",
        o.status.code(),
        text(o)
    );
}

#[track_caller]
pub fn assert_fails_with(o: &Output, needle: &str, what: &str) {
    assert!(
        !o.status.success(),
        "{what} should have failed:\n{}",
        text(o)
    );
    assert!(
        text(o).contains(needle),
        "{what}: expected \"{needle}\" in:\n{}",
        text(o)
    );
}

/// One test host (netns berth-thN).
pub struct TestHost {
    pub n: u32,
    pub ip: String,
    pub key: PathBuf,
    pub key_rsa: PathBuf,
    pub state: PathBuf,
    pub sshd_log: PathBuf,
}

fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl TestHost {
    pub fn up(n: u32, extra: &[&str]) -> TestHost {
        let out = Command::new(testhost_script())
            .arg("up")
            .arg(n.to_string())
            .args(extra)
            .output()
            .expect("run testhost.sh");
        assert_ok(&out, &format!("testhost.sh up {n}"));
        let info = parse_info(&stdout(&out));
        TestHost {
            n,
            ip: info["BERTH_TH_IP"].clone(),
            key: info["BERTH_TH_KEY"].clone().into(),
            key_rsa: info["BERTH_TH_KEY_RSA"].clone().into(),
            state: info["BERTH_TH_STATE"].clone().into(),
            sshd_log: info["BERTH_TH_SSHD_LOG"].clone().into(),
        }
    }

    /// Runs a shell command inside the host.
    pub fn sh(&self, cmd: &str) -> Output {
        Command::new(testhost_script())
            .args(["exec", &self.n.to_string(), "sh", "-c", cmd])
            .output()
            .expect("testhost exec")
    }

    pub fn sh_ok(&self, cmd: &str) -> String {
        let o = self.sh(cmd);
        assert_ok(&o, &format!("on host {}: {cmd}", self.n));
        stdout(&o)
    }

    pub fn readdress(&mut self, ip: &str) {
        let o = Command::new(testhost_script())
            .args(["readdress", &self.n.to_string(), ip])
            .output()
            .expect("readdress");
        assert_ok(&o, "readdress");
        self.ip = ip.to_string();
    }

    pub fn rekey(&self) {
        let o = Command::new(testhost_script())
            .args(["rekey", &self.n.to_string()])
            .output()
            .expect("rekey");
        assert_ok(&o, "rekey");
    }

    /// SSH logins the host's sshd accepted so far.
    pub fn ssh_sessions(&self) -> usize {
        std::fs::read_to_string(&self.sshd_log)
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }

    /// The command lines of the live dockerd processes of this host. There is no PID namespace,
    /// so processes are picked by network namespace (other hosts' dockerds are visible too).
    pub fn dockerd_cmdline(&self) -> String {
        self.sh_ok(
            r#"me=$(readlink /proc/self/ns/net)
            for p in $(pgrep -x dockerd); do
              [ "$(readlink /proc/$p/ns/net)" = "$me" ] || continue
              c=$(tr '\0' ' ' < /proc/$p/cmdline) && [ -n "$c" ] && echo "${c% }"
            done; true"#,
        )
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = Command::new(testhost_script())
            .args(["down", &self.n.to_string()])
            .stdout(Stdio::null())
            .status();
    }
}

/// A private Berth store and the real binary.
pub struct Berth {
    pub store: tempfile::TempDir,
}

impl Berth {
    pub fn new() -> Berth {
        Berth {
            store: tempfile::Builder::new()
                .prefix("berth-e2e-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.store.path()
    }

    /// The docker client's config dir for this test: contexts are written here, never to the
    /// real ~/.docker.
    pub fn docker_config(&self) -> PathBuf {
        self.root().join("docker-config")
    }

    pub fn machine_dir(&self, name: &str) -> PathBuf {
        self.root().join("machines").join(name)
    }

    /// Points a command at this test's store and docker config, with no docker client
    /// environment inherited from the shell running the tests.
    fn isolate(&self, c: &mut Command) {
        c.env("BERTH_STORAGE_PATH", self.root())
            .env("DOCKER_CONFIG", self.docker_config());
        for v in [
            "DOCKER_HOST",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_MACHINE_NAME",
        ] {
            c.env_remove(v);
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        self.isolate(&mut c);
        for v in ["MACHINE_DEBUG", "no_proxy", "NO_PROXY"] {
            c.env_remove(v);
        }
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run berth")
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_ok(&o, &format!("berth {}", args.join(" ")));
        stdout(&o)
    }

    /// `berth create -d generic` against a test host, as root with its ed25519 key.
    #[track_caller]
    pub fn create_generic(&self, host: &TestHost, name: &str, extra: &[&str]) -> Output {
        let args = generic_create_args(host, name, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args)
    }

    /// Changes the stored record of `name` (as a user editing machine.json would).
    pub fn edit_record(&self, name: &str, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut m = self.machine_json(name);
        edit(&mut m);
        std::fs::write(
            self.machine_dir(name).join("machine.json"),
            serde_json::to_string_pretty(&m).expect("json"),
        )
        .expect("write machine.json");
    }

    /// Runs `sh -c script` with the berth binary on PATH and the private store.
    pub fn shell(&self, script: &str) -> Output {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_berth"))
            .parent()
            .expect("bin dir")
            .to_path_buf();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(script)
            .env("PATH", path)
            .env("SHELL", "/bin/bash");
        self.isolate(&mut c);
        c.output().expect("sh")
    }

    pub fn machine_json(&self, name: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.machine_dir(name).join("machine.json"))
            .expect("machine.json");
        serde_json::from_str(&text).expect("machine.json parses")
    }
}

/// The arguments of `berth create -d generic` against a test host (root, its ed25519 key).
pub fn generic_create_args(host: &TestHost, name: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-key",
        &host.key.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(name.to_string());
    args
}

/// Starts `cmd` and SIGKILLs it as soon as its stderr shows `needle`; what it printed by then.
pub fn kill_after_line(mut cmd: Command, needle: &str) -> String {
    use std::io::BufRead;
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut seen = String::new();
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    while !seen.contains(needle) {
        let mut l = String::new();
        if err.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&l);
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

/// Imports a one-file busybox image through the machine's TLS endpoint.
pub fn import_busybox(b: &Berth, name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs/bin");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::copy("/bin/busybox", root.join("busybox")).expect("busybox-static is installed");
    for applet in ["sh", "sleep", "cat"] {
        std::os::unix::fs::symlink("busybox", root.join(applet)).expect("symlink");
    }
    let tar = dir.path().join("busybox.tar");
    let o = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(dir.path().join("rootfs"))
        .arg(".")
        .output()
        .expect("tar");
    assert_ok(&o, "tar");
    let o = b.shell(&format!(
        "eval \"$(berth env {name})\" && docker import {} berth-test/busybox",
        tar.display()
    ));
    assert_ok(&o, "docker import");
}

/// A recording stand-in's folder (tests/fakes): the calls it logged as JSON lines and the
/// VMs in its state file.
pub struct FakeTool {
    pub dir: tempfile::TempDir,
}

impl FakeTool {
    pub fn new() -> FakeTool {
        FakeTool {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Every call so far, each as one string (argument vectors joined by spaces).
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(
                |l| match serde_json::from_str::<serde_json::Value>(l).expect("call") {
                    serde_json::Value::Array(a) => a
                        .iter()
                        .map(|v| v.as_str().unwrap_or("").to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                    v => v.as_str().unwrap_or("").to_string(),
                },
            )
            .collect()
    }

    pub fn clear(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("calls.jsonl"));
    }

    pub fn vms(&self) -> serde_json::Value {
        std::fs::read_to_string(self.dir.path().join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map(|s| s["vms"].clone())
            .unwrap_or(serde_json::json!({}))
    }
}

/// Asserts that calls starting with each of `want` happen in that order (others may come
/// between).
#[track_caller]
pub fn assert_in_order(calls: &[String], want: &[String]) {
    let mut at = 0;
    for w in want {
        let p = calls[at..]
            .iter()
            .position(|c| c.starts_with(w.as_str()))
            .unwrap_or_else(|| panic!("no \"{w}\" after call {at} in:\n{}", calls.join("\n")))
            + at;
        at = p + 1;
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Every file under `dir` that contains `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .map(|b| String::from_utf8_lossy(&b).contains(needle))
                .unwrap_or(false)
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[cfg(unix)]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A tiny HTTP/1.0 file server on `addr` (an install source a test host can reach).
pub struct FileServer {
    pub url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FileServer {
    pub fn start(bind_ip: &str, dir: &Path) -> FileServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind((bind_ip, 0)).expect("bind file server");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stop2, dir) = (stop.clone(), dir.to_path_buf());
        std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let mut first = String::new();
                let mut reader = BufReader::new(s.try_clone().expect("clone"));
                let _ = reader.read_line(&mut first);
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" || l == "\n" {
                        break;
                    }
                }
                let path = first
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_string();
                let file = dir.join(&path);
                match (path.contains(".."), std::fs::read(&file)) {
                    (false, Ok(body)) => {
                        let _ = write!(
                            s,
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        );
                        let _ = s.write_all(&body);
                    }
                    _ => {
                        let _ = s.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            }
        });
        FileServer { url, stop }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One row of the fault suite's table: faults injected, commands run, records checked, and
/// what was lost or leaked (both must stay 0). Appended as a JSON line to $BERTH_FAULT_LEDGER
/// when the scenario ends (tests/faults/table.py prints them).
pub struct Ledger {
    scenario: String,
    faults: u32,
    commands: u32,
    records: u32,
    lost: u32,
    leaked: u32,
}

impl Ledger {
    pub fn new(scenario: &str) -> Ledger {
        Ledger {
            scenario: scenario.to_string(),
            faults: 0,
            commands: 0,
            records: 0,
            lost: 0,
            leaked: 0,
        }
    }
    pub fn fault(&mut self) {
        self.faults += 1;
    }
    pub fn command(&mut self) {
        self.commands += 1;
    }
    pub fn commands(&mut self, n: u32) {
        self.commands += n;
    }
    pub fn record(&mut self) {
        self.records += 1;
    }
    pub fn records(&mut self, n: u32) {
        self.records += n;
    }
    pub fn record_lost(&mut self, n: u32) {
        self.lost += n;
    }
    pub fn record_leaked(&mut self, n: u32) {
        self.leaked += n;
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let Some(path) = std::env::var_os("BERTH_FAULT_LEDGER") else {
            return;
        };
        let line = serde_json::json!({
            "scenario": self.scenario, "faults": self.faults, "commands": self.commands,
            "records": self.records, "lost": self.lost, "leaked": self.leaked,
            "passed": !std::thread::panicking(),
        });
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
