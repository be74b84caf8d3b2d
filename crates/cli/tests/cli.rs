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
        assert_eq!(mode(e.store.path()), 0o700);
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

    // A record too damaged to load can still be removed.
    std::fs::create_dir_all(e.store.path().join("machines/junk")).expect("mkdir");
    std::fs::write(
        e.store.path().join("machines/junk/machine.json"),
        b"\x00\x01",
    )
    .expect("write");
    assert!(e.ok(&["ls"]).contains("junk"));
    e.ok(&["rm", "-y", "junk"]);
    assert!(!e.store.path().join("machines/junk").exists());
}
