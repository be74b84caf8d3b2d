//! The CLI without any test host: machines made with the `none` driver (an endpoint record;
//! 127.0.0.1:9 where nothing listens), so these run anywhere, without root.

use std::process::{Command, Output};

struct Env {
    store: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            store: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.env("BERTH_STORAGE_PATH", self.store.path())
            .env("DOCKER_CONFIG", self.store.path().join("docker-config"))
            .env("SHELL", "/bin/bash");
        for v in [
            "DOCKER_HOST",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_MACHINE_NAME",
            "NO_PROXY",
            "no_proxy",
            "MACHINE_DEBUG",
        ] {
            c.env_remove(v);
        }
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("berth runs")
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn err(&self, args: &[&str], needle: &str) -> i32 {
        let o = self.run(args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!o.status.success(), "berth {args:?} should fail: {all}");
        assert!(
            all.contains(needle),
            "berth {args:?}: expected {needle:?} in {all}"
        );
        o.status.code().unwrap_or(-1)
    }
}

const URL: &str = "tcp://127.0.0.1:9";

#[test]
fn env_formats_and_options() {
    let e = Env::new();
    e.ok(&["create", "-d", "none", "--url", URL, "m1"]);
    let dir = e.store.path().join("machines/m1");
    let bash = e.ok(&["env", "m1"]);
    assert!(bash.starts_with(&format!(
        "export DOCKER_TLS_VERIFY=\"1\"\nexport DOCKER_HOST=\"{URL}\"\nexport DOCKER_CERT_PATH=\"{}\"\nexport DOCKER_MACHINE_NAME=\"m1\"\n# Run this command to configure your shell: \n# eval $(",
        dir.display()
    )), "{bash}");
    assert!(
        e.ok(&["env", "--shell", "fish", "m1"])
            .contains("set -gx DOCKER_HOST \"tcp://127.0.0.1:9\";")
    );
    assert!(
        e.ok(&["env", "--shell", "powershell", "m1"])
            .contains("$Env:DOCKER_MACHINE_NAME = \"m1\"")
    );
    assert!(
        e.ok(&["env", "--shell", "cmd", "m1"])
            .contains("SET DOCKER_TLS_VERIFY=1")
    );
    assert!(
        e.ok(&["env", "--shell", "tcsh", "m1"])
            .contains("setenv DOCKER_HOST \"tcp://127.0.0.1:9\";")
    );
    assert!(
        e.ok(&["env", "--shell", "emacs", "m1"])
            .contains("(setenv \"DOCKER_HOST\" \"tcp://127.0.0.1:9\")")
    );
    e.err(&["env", "--shell", "python", "m1"], "unknown shell");

    // --no-proxy: appended to the list in use, lower-case no_proxy winning, never twice.
    let o = e
        .cmd()
        .args(["env", "--no-proxy", "m1"])
        .env("NO_PROXY", "example.com")
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("export NO_PROXY=\"example.com,127.0.0.1\"")
    );
    let o = e
        .cmd()
        .args(["env", "--no-proxy", "m1"])
        .env("no_proxy", "127.0.0.1,x")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&o.stdout).contains("export no_proxy=\"127.0.0.1,x\""));

    // -u: unset lines, no machine name allowed, no NO_PROXY value leaking into them.
    let unset = e.ok(&["env", "-u"]);
    assert!(unset.starts_with("unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\nunset DOCKER_CERT_PATH\nunset DOCKER_MACHINE_NAME\n"), "{unset}");
    let o = e
        .cmd()
        .args(["env", "-u", "--no-proxy", "--shell", "fish"])
        .env("NO_PROXY", "secret.example")
        .output()
        .expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("set -e NO_PROXY;") && !out.contains("secret.example"),
        "{out}"
    );
    e.err(
        &["env", "-u", "m1"],
        "Expected no machine name when the -u flag is present",
    );

    // Without $SHELL: POSIX syntax (docker-machine failed here).
    let o = e
        .cmd()
        .args(["env", "m1"])
        .env_remove("SHELL")
        .output()
        .expect("run");
    assert!(
        o.status.success()
            && String::from_utf8_lossy(&o.stdout).starts_with("export DOCKER_TLS_VERIFY")
    );

    // The env output really configures a POSIX shell.
    let script = format!(
        "eval \"$({} env m1)\" && echo $DOCKER_HOST $DOCKER_MACHINE_NAME",
        env!("CARGO_BIN_EXE_berth")
    );
    let o = e.cmd().arg("--version").output().expect("run");
    assert!(o.status.success());
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("BERTH_STORAGE_PATH", e.store.path())
        .env("DOCKER_CONFIG", e.store.path().join("docker-config"))
        .output()
        .expect("sh");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("{URL} m1")
    );
}

#[test]
fn config_inspect_ls_and_records() {
    let e = Env::new();
    e.ok(&["create", "-d", "none", "--url", URL, "m1"]);
    let dir = e.store.path().join("machines/m1");
    assert_eq!(
        e.ok(&["config", "m1"]),
        format!(
            "--tlsverify\n--tlscacert=\"{0}/ca.pem\"\n--tlscert=\"{0}/cert.pem\"\n--tlskey=\"{0}/key.pem\"\n-H={URL}\n",
            dir.display()
        )
    );
    assert_eq!(
        e.ok(&[
            "inspect",
            "-f",
            "{{.Driver.URL}} {{.DriverName}} {{.HostOptions.EngineOptions.TlsVerify}}",
            "m1"
        ])
        .trim(),
        format!("{URL} none true")
    );
    let json: serde_json::Value =
        serde_json::from_str(&e.ok(&["inspect", "m1"])).expect("inspect prints JSON");
    assert_eq!(json["Name"], "m1");
    assert_eq!(
        e.err(
            &["inspect", "-f", "{{.Name", "m1"],
            "template parsing error"
        ),
        1
    );
    assert_eq!(e.ok(&["url", "m1"]).trim(), URL);
    assert_eq!(e.ok(&["ip", "m1"]).trim(), "127.0.0.1");
    assert_eq!(e.ok(&["status", "m1"]).trim(), "Stopped");
    let ls = e.ok(&["ls"]);
    assert!(
        ls.starts_with("NAME   ACTIVE   DRIVER   STATE     URL"),
        "{ls}"
    );
    assert!(
        ls.lines()
            .nth(1)
            .unwrap_or("")
            .starts_with("m1     -        none     Stopped   tcp://127.0.0.1:9"),
        "{ls}"
    );
    assert_eq!(
        e.ok(&["ls", "-f", "table {{.Name}}\\t{{.DriverName}}"]),
        "NAME   DRIVER\nm1     none\n"
    );
    assert_eq!(e.ok(&["ls", "-q"]), "m1\n");
    assert_eq!(e.ok(&["ls", "-q", "--filter", "state=running"]), "");
    assert_eq!(e.ok(&["ls", "-q", "--filter", "STATE=stopped"]), "m1\n");
    e.err(&["ls", "--filter", "nonsense"], "Unsupported filter syntax");
    e.err(&["ls", "--filter", "name=("], "invalid name filter");
    e.err(&["ls", "-t", "0"], "--timeout");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        // What Berth creates is private; the store directory itself was the test's (a user's
        // own directory keeps its mode, and create warns when it is open to others).
        assert_eq!(mode(&e.store.path().join("machines")), 0o700);
        assert_eq!(mode(&e.store.path().join("certs")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("machine.json")), 0o600);
        assert_eq!(mode(&dir.join("key.pem")), 0o600);
    }
}

#[test]
fn default_machine_usage_errors_and_removal() {
    let e = Env::new();
    e.err(
        &["url"],
        "No machine name(s) specified and no \"default\" machine exists",
    );
    e.err(
        &["create", "-d", "none", "--url", URL],
        "No machine name specified",
    );
    e.err(
        &["create", "-d", "none", "--url", URL, "a", "b"],
        "Found extra arguments",
    );
    e.err(
        &["create", "-d", "none", "--url", "127.0.0.1:9", "x"],
        "must start with tcp://",
    );
    e.err(
        &["create", "-d", "none", "--url", URL, "--swarm", "x"],
        "Swarm classic is not supported",
    );
    e.err(
        &[
            "create",
            "-d",
            "none",
            "--url",
            URL,
            "--engine-env",
            "1BAD=x",
            "x",
        ],
        "--engine-env",
    );
    e.err(&["rm"], "Expected to get one or more machine names");
    e.err(&["ssh", "nope", "true"], "does not exist");
    e.err(&["use", "nope"], "does not exist");
    assert_eq!(e.run(&["no-such-command"]).status.code(), Some(2));
    assert!(
        !e.store.path().join("machines/x").exists(),
        "failed creates left nothing"
    );

    e.ok(&["create", "-d", "none", "--url", URL, "default"]);
    assert_eq!(
        e.ok(&["url"]).trim(),
        URL,
        "commands fall back to the machine named default"
    );
    e.ok(&["use", "default"]);
    assert_eq!(e.ok(&["active"]).trim(), "default");
    let o = e
        .cmd()
        .arg("active")
        .env("DOCKER_HOST", "tcp://10.9.9.9:2376")
        .output()
        .expect("run");
    assert!(
        !o.status.success(),
        "DOCKER_HOST pointing elsewhere wins over `use`"
    );
    let o = e
        .cmd()
        .arg("active")
        .env("DOCKER_HOST", URL)
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "default");
    e.ok(&["use", "local"]);
    e.err(&["active"], "No active host found");
    assert!(e.ok(&["version"]).starts_with("berth version "));
    e.ok(&["rm", "-y", "default"]);
    assert_eq!(e.ok(&["ls", "-q"]), "");

    // A record too damaged to load may stand for resources Berth can no longer find: removing
    // it takes -f. A create interrupted before it wrote its record goes without.
    std::fs::create_dir_all(e.store.path().join("machines/junk")).expect("mkdir");
    std::fs::write(
        e.store.path().join("machines/junk/machine.json"),
        b"\x00\x01",
    )
    .expect("write");
    assert!(e.ok(&["ls"]).contains("junk"));
    e.err(&["rm", "-y", "junk"], "berth rm -f junk");
    assert!(e.store.path().join("machines/junk/machine.json").exists());
    e.ok(&["rm", "-f", "junk"]);
    assert!(!e.store.path().join("machines/junk").exists());
    std::fs::create_dir_all(e.store.path().join("machines/half")).expect("mkdir");
    e.ok(&["rm", "-y", "half"]);
    assert!(!e.store.path().join("machines/half").exists());
}

/// Hostile input never reaches a shell line, a terminal or the store.
#[test]
fn hostile_names_urls_and_records_are_refused_or_escaped() {
    let e = Env::new();
    for name in ["CON", "nul.txt", "Aux", "com1", "dev."] {
        e.err(
            &["create", "-d", "none", "--url", URL, name],
            "machine name",
        );
    }
    for url in [
        "tcp://127.0.0.1:9\nrm -rf ~",
        "tcp://h\":9",
        "tcp://$(id):9",
        "tcp://h\u{201D}:9",
        "tcp://::1:9",
        "tcp://-h:9",
    ] {
        e.err(&["create", "-d", "none", "--url", url, "x"], "--url");
    }
    e.err(
        &[
            "create",
            "-d",
            "generic",
            "--generic-ip-address",
            "127.0.0.1",
            "--generic-ssh-user=-oProxyCommand=touch /tmp/pwned",
            "x",
        ],
        "not a valid user name",
    );
    assert!(
        !e.store.path().join("machines").exists()
            || std::fs::read_dir(e.store.path().join("machines"))
                .expect("ls")
                .flatten()
                .all(|d| d.file_name().to_string_lossy().starts_with('.')),
        "refused creates stored nothing"
    );

    // A record edited by hand: a newline in the URL never reaches `env` output for any shell,
    // nor the active files; an escape sequence in a damaged record is printed escaped.
    e.ok(&["create", "-d", "none", "--url", URL, "edited"]);
    let file = e.store.path().join("machines/edited/machine.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    m["Driver"]["URL"] = serde_json::json!("tcp://127.0.0.1:9\r\ncalc.exe");
    std::fs::write(&file, serde_json::to_string(&m).expect("json")).expect("write");
    for shell in ["cmd", "powershell", "bash", "fish"] {
        let o = e.run(&["env", "--shell", shell, "edited"]);
        assert!(!o.status.success(), "{shell}");
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("calc.exe"),
            "{shell}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    e.err(&["use", "edited"], "--url");
    assert!(!e.store.path().join("active/env.sh").exists());
    std::fs::create_dir_all(e.store.path().join("machines/evil")).expect("mkdir");
    std::fs::write(
        e.store.path().join("machines/evil/machine.json"),
        "{\"SchemaVersion\": 1, \"Name\": \"\u{1b}]0;pwned\u{7}\u{1b}[2J\"}",
    )
    .expect("write");
    let o = e.run(&["ls"]);
    let all = [o.stdout.as_slice(), o.stderr.as_slice()].concat();
    assert!(String::from_utf8_lossy(&all).contains("evil"));
    assert!(
        !all.contains(&0x1b) && !all.contains(&0x07),
        "raw escapes printed: {}",
        String::from_utf8_lossy(&all)
    );
    let o = e.run(&["inspect", "evil"]);
    assert!(
        !o.stderr.contains(&0x1b),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Ctrl-C at the secret prompt (echo off) gives the terminal its echo back.
#[cfg(unix)]
#[test]
fn ctrl_c_at_the_secret_prompt_restores_echo() {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    use std::os::unix::process::{CommandExt, ExitStatusExt};

    let e = Env::new();
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors; the rest of its arguments may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty");
    let echo_on = |fd| {
        // SAFETY: tcgetattr on a pty descriptor this test owns.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
        t.c_lflag & libc::ECHO != 0
    };
    assert!(echo_on(slave), "a new terminal echoes");
    let stdio = |fd: i32| {
        // SAFETY: a duplicate of the slave side, owned by the child's Stdio.
        unsafe { std::process::Stdio::from_raw_fd(libc::dup(fd)) }
    };
    let mut cmd = e.cmd();
    cmd.args(["credentials", "add", "digitalocean", "--name", "typed"])
        .stdin(stdio(slave))
        .stdout(stdio(slave))
        .stderr(stdio(slave));
    // SAFETY: between fork and exec: a new session whose controlling terminal is the pty, so
    // Ctrl-C there sends SIGINT to berth as in a real terminal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("berth");
    // SAFETY: the master side, owned by this File from now on.
    let mut term = unsafe { std::fs::File::from_raw_fd(master) };
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("access token:") {
        let n = term.read(&mut buf).expect("read the prompt");
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!echo_on(slave), "echo is off while the secret is typed");
    term.write_all(&[0x03]).expect("Ctrl-C");
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert!(echo_on(slave), "the terminal echoes again after Ctrl-C");
    // SAFETY: closing the descriptor this test opened.
    unsafe { libc::close(slave) };
}
