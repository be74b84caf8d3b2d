//! End to end on real test hosts (network namespaces with sshd + Debian's dockerd), through the
//! real `berth` binary. Needs root; run with `tests/run.sh` (or `cargo test -- --include-ignored`).

mod support;

use support::*;

#[test]
#[ignore = "needs root: builds network namespaces (tests/run.sh runs it)"]
fn generic_machine_lifecycle() {
    let mut host = TestHost::up(10, &[]);
    let b = Berth::new();
    // A store directory the user made, open to others: Berth keeps its mode and warns.
    let open: std::fs::Permissions = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(b.root(), open).expect("chmod");
    let before = host.ssh_sessions();

    // create: one SSH connection, the rest through the Docker API.
    let o = b.create_generic(&host, "dev", &[]);
    assert_ok(&o, "create");
    assert!(stdout(&o).contains("Docker is up and running!"));
    assert_eq!(
        host.ssh_sessions() - before,
        1,
        "create uses exactly one SSH connection"
    );

    // Store layout and modes: what Berth creates is private; the store directory the test
    // made (0755) keeps its mode, and create said it is open to others.
    let dir = b.machine_dir("dev");
    assert_eq!(mode(b.root()), 0o755);
    assert!(
        text(&o).contains("is open to other users (mode 755)"),
        "{}",
        text(&o)
    );
    assert_eq!(mode(&b.root().join("machines")), 0o700);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&b.root().join("certs")), 0o700);
    // The user's key is copied under a name of its own (never one of Berth's files).
    for secret in ["machine.json", "key.pem", "server-key.pem", "user-ssh-key"] {
        assert_eq!(mode(&dir.join(secret)), 0o600, "{secret}");
    }
    assert_eq!(mode(&b.root().join("certs/ca-key.pem")), 0o600);
    let m = b.machine_json("dev");
    assert_eq!(m["SchemaVersion"], 1);
    assert_eq!(m["DriverName"], "generic");
    assert_eq!(m["Driver"]["IPAddress"], host.ip);
    assert_eq!(m["Status"]["Phase"], "Ready");
    assert!(
        m["SSHHostKey"]
            .as_str()
            .unwrap_or("")
            .starts_with("ssh-ed25519 "),
        "host key pinned"
    );
    assert_eq!(m["Host"]["OSID"], "debian");
    assert_eq!(m["Host"]["Init"], "systemd");

    // What the host got: TLS files 0600 in their own dir, a drop-in, dockerd with TLS.
    let listing = host.sh_ok("stat -c '%a %n' /etc/docker/berth /etc/docker/berth/*");
    assert!(listing.contains("700 /etc/docker/berth\n"), "{listing}");
    for f in ["ca.pem", "server.pem", "server-key.pem"] {
        assert!(
            listing.contains(&format!("600 /etc/docker/berth/{f}")),
            "{listing}"
        );
    }
    let cmdline = host.dockerd_cmdline();
    assert!(
        cmdline.contains("-H tcp://0.0.0.0:2376 --tlsverify"),
        "{cmdline}"
    );
    assert!(cmdline.contains("--live-restore"), "{cmdline}");

    // The docker client over TLS, the way users do it.
    let o = b.shell("eval \"$(berth env dev)\" && docker version --format '{{.Server.Version}}'");
    assert_ok(&o, "eval $(berth env dev) && docker version");
    assert!(stdout(&o).starts_with("20.10"), "{}", text(&o));
    let o = b.shell("docker $(berth config dev) info --format '{{.Name}}'");
    assert_ok(&o, "docker $(berth config dev) info");
    // The docker context Berth keeps for every machine, in the docker CLI's own store.
    let o = b.shell("docker --context berth-dev version --format '{{.Server.Version}}'");
    assert_ok(&o, "docker --context berth-dev version");

    // ls: Running with the Docker version.
    let ls = b.ok(&["ls"]);
    let row = ls
        .lines()
        .find(|l| l.starts_with("dev "))
        .unwrap_or_else(|| panic!("{ls}"));
    assert!(
        row.contains("generic")
            && row.contains("Running")
            && row.contains(&format!("tcp://{}:2376", host.ip))
            && row.contains("v20.10"),
        "{ls}"
    );
    assert_eq!(
        b.ok(&["ls", "--format", "{{.Name}} {{.State}}"]).trim(),
        "dev Running"
    );
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.Driver.IPAddress}}", "dev"])
            .trim(),
        host.ip
    );
    assert_eq!(b.ok(&["ip", "dev"]).trim(), host.ip);
    assert_eq!(
        b.ok(&["url", "dev"]).trim(),
        format!("tcp://{}:2376", host.ip)
    );
    assert_eq!(b.ok(&["status", "dev"]).trim(), "Running");
    assert!(b.ok(&["version", "dev"]).starts_with("20.10"));

    // ssh passes the remote exit status, with OpenSSH and with the built-in client.
    let o = b.run(&["ssh", "dev", "echo $((6*7)); exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    assert_eq!(stdout(&o).trim(), "42");
    let o = b.run(&["--native-ssh", "ssh", "dev", "exit 5"]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));

    // scp both ways.
    let local = tempfile::tempdir().expect("tmp");
    std::fs::write(local.path().join("up.txt"), "payload\n").expect("write");
    b.ok(&[
        "scp",
        &local.path().join("up.txt").display().to_string(),
        "dev:/tmp/up.txt",
    ]);
    assert_eq!(host.sh_ok("cat /tmp/up.txt"), "payload\n");
    b.ok(&[
        "scp",
        "dev:/etc/hostname",
        &local.path().join("hostname").display().to_string(),
    ]);
    assert_eq!(
        std::fs::read_to_string(local.path().join("hostname")).expect("read"),
        format!("berth-th{}\n", host.n)
    );

    // A running container survives regenerate-certs (live-restore); the certificate is new.
    import_busybox(&b, "dev");
    let o = b.shell("eval \"$(berth env dev)\" && docker run -d --network none --name keep berth-test/busybox sleep 3600");
    assert_ok(&o, "docker run");
    let started =
        b.shell("eval \"$(berth env dev)\" && docker inspect -f '{{.State.StartedAt}}' keep");
    let serial_before = std::fs::read(dir.join("server.pem")).expect("server.pem");
    let sessions = host.ssh_sessions();
    b.ok(&["regenerate-certs", "-f", "dev"]);
    assert_eq!(
        host.ssh_sessions() - sessions,
        1,
        "regenerate-certs uses one SSH connection"
    );
    assert_ne!(
        std::fs::read(dir.join("server.pem")).expect("server.pem"),
        serial_before,
        "a new server certificate"
    );
    let o = b.shell("eval \"$(berth env dev)\" && docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' keep");
    assert_ok(&o, "docker inspect after regenerate-certs");
    assert_eq!(
        stdout(&o).trim(),
        format!("true {}", stdout(&started).trim()),
        "the container kept running"
    );

    // The host moves to a new address: the old certificate no longer fits; provisioning with
    // the new address repairs it (same server, so the pinned host key still verifies).
    let old_ip = host.ip.clone();
    host.readdress("10.203.0.61");
    let ls = b.ok(&["ls", "--format", "{{.Name}} {{.State}}"]);
    assert_eq!(
        ls.trim(),
        "dev Stopped",
        "the old address no longer answers"
    );
    b.ok(&["provision", "--generic-ip-address", "10.203.0.61", "dev"]);
    let info = berth_core::certs::parse_cert_pem(
        &std::fs::read_to_string(dir.join("server.pem")).expect("pem"),
    )
    .expect("cert");
    assert!(
        info.covers("10.203.0.61") && !info.covers(&old_ip),
        "SANs {:?}",
        info.sans()
    );
    let o = b.shell("eval \"$(berth env dev)\" && docker version --format '{{.Server.Version}}'");
    assert_ok(&o, "docker version at the new address");
    assert_eq!(b.ok(&["url", "dev"]).trim(), "tcp://10.203.0.61:2376");

    // A server certificate that no longer covers the address (here: issued for another one)
    // is noticed by `env`, which re-issues and installs it before printing.
    let stale = {
        let store = berth_core::Store::at(b.root());
        berth_core::certs::install_machine_certs(&store, "dev", &["10.203.0.99".into()])
            .expect("install")
    };
    assert!(
        !berth_core::certs::parse_cert_pem(&stale.cert_pem)
            .expect("cert")
            .covers(&host.ip)
    );
    let o = b.shell("eval \"$(berth env dev)\" && docker version --format '{{.Server.Version}}'");
    assert_ok(
        &o,
        "env repairs a certificate that does not cover the address",
    );
    assert!(text(&o).contains("issuing a new one"), "{}", text(&o));
    let info = berth_core::certs::parse_cert_pem(
        &std::fs::read_to_string(dir.join("server.pem")).expect("pem"),
    )
    .expect("cert");
    assert!(info.covers(&host.ip), "repaired SANs {:?}", info.sans());

    // rm: the local record goes, and the server's dockerd is back to its own configuration
    // with the TLS listener closed.
    b.ok(&["rm", "-y", "dev"]);
    assert!(!dir.exists());
    let cmdline = host.dockerd_cmdline();
    assert!(
        cmdline.contains("-H fd://") && !cmdline.contains("2376"),
        "{cmdline}"
    );
    assert_eq!(
        host.sh_ok("ls /etc/systemd/system/docker.service.d/ | wc -l")
            .trim(),
        "0"
    );
    assert!(host.sh("test -e /etc/docker/berth").status.code() == Some(1));
    let refused = std::net::TcpStream::connect_timeout(
        &format!("{}:2376", host.ip).parse().expect("addr"),
        std::time::Duration::from_secs(2),
    );
    assert!(refused.is_err(), "port 2376 is closed after rm");
    // dockerd restarted with Debian's own configuration (no live-restore): the container stopped
    // but is still there.
    assert_eq!(
        host.sh_ok("docker ps -aq --filter name=keep | wc -l")
            .trim(),
        "1",
        "containers on the server are kept"
    );
}

/// `berth port-forward NAME LOCAL:REMOTE` (the `ssh -L` of machines that are not local VMs):
/// 127.0.0.1:LOCAL here answers with what listens on the server's REMOTE port (its sshd),
/// through Berth's own SSH connection. Stopped by PID.
fn port_forward_reaches_the_servers_own_ports(b: &Berth, name: &str) {
    use std::io::Read;
    let local = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = b
        .cmd()
        .args(["port-forward", name, &format!("{local}:22")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("port-forward");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);
    let started = std::time::Instant::now();
    let banner = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", local)) {
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .expect("timeout");
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap_or(0);
            break String::from_utf8_lossy(&buf[..n]).to_string();
        }
        assert!(
            child.0.try_wait().expect("wait").is_none(),
            "port-forward exited early"
        );
        assert!(
            started.elapsed().as_secs() < 20,
            "port-forward never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        banner.starts_with("SSH-2.0-"),
        "the server's sshd answers: {banner:?}"
    );
}

/// `berth mount NAME:PATH DIR` (sshfs with the machine's key and pinned host key) shows the
/// server's files here; `berth mount -u DIR` takes them away again.
fn mount_shows_the_servers_files(b: &Berth, name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().display().to_string();
    b.ok(&[
        "ssh",
        name,
        "mkdir -p /tmp/berth-mount && echo from-the-server > /tmp/berth-mount/hello.txt",
    ]);
    let o = b.run(&["mount", &format!("{name}:/tmp/berth-mount"), &local]);
    assert_ok(&o, "berth mount");
    let seen = std::fs::read_to_string(dir.path().join("hello.txt"));
    // Unmounted whatever happened above, so no mount outlives the test.
    let u = b.run(&["mount", "-u", &local]);
    assert_eq!(
        seen.expect("the server's file, mounted here"),
        "from-the-server\n"
    );
    assert_ok(&u, "berth mount -u");
    assert!(!dir.path().join("hello.txt").exists(), "unmounted");
    // Not NAME:PATH: a clear error.
    let o = b.run(&["mount", "nowhere", &local]);
    assert_fails_with(&o, "is not NAME:PATH", "a bad remote");
}

/// `berth share NAME HOST:GUEST` (reverse SSHFS: the server's sshfs speaks SFTP to Berth over
/// the SSH connection) mounts a folder of this computer there: files go both ways, through a
/// container's bind mount too, a 10 000-file tree lists completely, a rename replaces, and
/// Ctrl-C unmounts it. The test host has its own mount namespace: the folder it mounts over
/// stays empty here, so what it shows came through the share.
fn share_mounts_this_computers_folder(b: &Berth, name: &str) {
    use std::io::BufRead;
    let host_dir = tempfile::tempdir().expect("tempdir");
    let guest_dir = tempfile::tempdir().expect("tempdir");
    let (h, g) = (host_dir.path(), guest_dir.path().display().to_string());
    std::fs::write(h.join("hello.txt"), "from this computer\n").expect("write");
    std::fs::create_dir(h.join("tree")).expect("mkdir");
    for i in 0..10_000 {
        std::fs::write(h.join("tree").join(format!("f{i:05}")), "").expect("write");
    }
    let mut share = b.cmd();
    share
        .args(["share", name, &format!("{}:{g}", h.display())])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = share.spawn().expect("spawn berth share");
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut said = String::new();
    while !said.contains("is mounted at") {
        let mut l = String::new();
        if err.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        said.push_str(&l);
    }
    // Stops the share however the checks end (no mount outlives the test).
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
            let _ = self.0.wait();
        }
    }
    let mut child = Stop(child);
    assert!(said.contains(&format!("is mounted at {g}")), "{said}");
    assert_eq!(
        b.ok(&["ssh", name, &format!("cat {g}/hello.txt")]),
        "from this computer\n"
    );
    assert!(
        std::fs::read_dir(&g).expect("ls").next().is_none(),
        "not mounted here"
    );
    std::fs::write(h.join("later.txt"), "written after the mount\n").expect("write");
    assert_eq!(
        b.ok(&["ssh", name, &format!("cat {g}/later.txt")]),
        "written after the mount\n"
    );
    b.ok(&["ssh", name, &format!("echo from the machine > {g}/from-vm.txt && mkdir {g}/d && echo a > {g}/a && echo b > {g}/b && mv {g}/b {g}/a")]);
    assert_eq!(
        std::fs::read_to_string(h.join("from-vm.txt")).expect("the machine's file"),
        "from the machine\n"
    );
    assert_eq!(
        std::fs::read_to_string(h.join("a")).expect("renamed over"),
        "b\n"
    );
    assert!(h.join("d").is_dir());
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(h.join("from-vm.txt"))
        .expect("stat")
        .uid();
    assert_eq!(
        owner,
        unsafe { libc::geteuid() },
        "owned by the user running Berth"
    );
    assert_eq!(
        b.ok(&["ssh", name, &format!("find {g}/tree -type f | wc -l")])
            .trim(),
        "10000"
    );
    import_busybox(b, name);
    let o = b.shell(&format!(
        "eval \"$(berth env {name})\" && docker run --rm -v {g}:/app berth-test/busybox sh -c 'cat /app/hello.txt && echo from a container > /app/container.txt'"
    ));
    assert_ok(&o, "docker run -v on the share");
    assert!(stdout(&o).contains("from this computer"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(h.join("container.txt")).expect("the container's file"),
        "from a container\n"
    );
    // Ctrl-C: unmounted there, and the command ends well.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGINT) };
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "berth share after Ctrl-C: {status:?}");
    let o = b.run(&["ssh", name, &format!("mountpoint -q {g}")]);
    assert!(!o.status.success(), "unmounted in the machine");
    // Bad folders: clear errors, nothing mounted.
    for (bad, why) in [
        ("relative/dir", "must be an absolute path"),
        ("/nonexistent-berth", "does not exist"),
    ] {
        assert_fails_with(&b.run(&["share", name, bad]), why, bad);
    }
}

#[test]
#[ignore = "needs root: builds network namespaces (tests/run.sh runs it)"]
fn sudo_user_with_rsa_key() {
    let host = TestHost::up(11, &[]);
    let b = Berth::new();
    let key = host.key_rsa.display().to_string();
    let o = b.run(&[
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-user",
        "berth",
        "--generic-ssh-key",
        &key,
        "web",
    ]);
    assert_ok(&o, "create as a sudo user with an RSA key");
    assert!(
        host.sh_ok("cat /etc/systemd/system/docker.service.d/90-berth.conf")
            .contains("machine web")
    );
    let o = b.shell("eval \"$(berth env web)\" && docker version --format '{{.Server.Version}}'");
    assert_ok(&o, "docker version");
    assert_eq!(b.ok(&["ssh", "web", "id -un"]).trim(), "berth");
    port_forward_reaches_the_servers_own_ports(&b, "web");
    mount_shows_the_servers_files(&b, "web");
    share_mounts_this_computers_folder(&b, "web");
    b.ok(&["restart", "web"]);
    let o = b.shell("eval \"$(berth env web)\" && docker info --format '{{.ServerVersion}}'");
    assert_ok(&o, "docker after restart (generic restarts only dockerd)");
    b.ok(&["rm", "-y", "web"]);
    assert!(!host.dockerd_cmdline().contains("2376"));
}

#[test]
#[ignore = "needs root: builds network namespaces (tests/run.sh runs it)"]
fn engine_options_reach_dockerd() {
    let host = TestHost::up(12, &[]);
    let b = Berth::new();
    let o = b.create_generic(
        &host,
        "opts",
        &[
            "--engine-label",
            "env=test",
            "--engine-label",
            "team=platform",
            "--engine-insecure-registry",
            "10.9.9.9:5000",
            "--engine-registry-mirror",
            "https://mirror.example.test",
            "--engine-storage-driver",
            "vfs",
            "--engine-env",
            "HTTP_PROXY=http://proxy.invalid:3128",
            "--engine-opt",
            "max-concurrent-downloads=2",
            "--tls-san",
            "docker.example.test",
        ],
    );
    assert_ok(&o, "create with engine options");
    let o = b.shell(
        "eval \"$(berth env opts)\" && docker info --format '{{.Driver}}|{{json .Labels}}|{{json .RegistryConfig.IndexConfigs}}|{{.HTTPProxy}}|{{.LiveRestoreEnabled}}|{{json .RegistryConfig.Mirrors}}'",
    );
    assert_ok(&o, "docker info");
    let info = stdout(&o);
    assert!(info.starts_with("vfs|"), "{info}");
    for needle in [
        "env=test",
        "team=platform",
        "provider=generic",
        "10.9.9.9:5000",
        "proxy.invalid:3128",
        "|true|",
        "mirror.example.test",
    ] {
        assert!(info.contains(needle), "{needle} missing in {info}");
    }
    assert!(
        host.dockerd_cmdline()
            .contains("--max-concurrent-downloads=2")
    );
    let cert = berth_core::certs::parse_cert_pem(
        &std::fs::read_to_string(b.machine_dir("opts").join("server.pem")).expect("pem"),
    )
    .expect("cert");
    assert!(
        cert.covers("docker.example.test") && cert.covers(&host.ip) && cert.covers("localhost")
    );
    // Invalid engine options never reach the host.
    let o = b.create_generic(&host, "bad", &["--engine-label", "nokey"]);
    assert_fails_with(&o, "--engine-label \"nokey\" is not key=value", "bad label");
    assert!(
        !b.machine_dir("bad").exists(),
        "nothing stored for invalid input"
    );
}

/// `$`, `%`, `"` and `\` reach dockerd byte for byte through the systemd drop-in, in its
/// environment and in its arguments: systemd turns `$$` into `$` in ExecStart= but does no `$`
/// processing at all in Environment=, and expands `%` specifiers in both.
#[test]
#[ignore = "needs root: builds network namespaces (tests/run.sh runs it)"]
fn engine_env_and_opts_reach_dockerd_byte_for_byte() {
    let host = TestHost::up(18, &[]);
    let b = Berth::new();
    let env = [
        "HTTP_PROXY=http://u:pa$s@proxy.invalid:3128",
        "X_PCT=50%done",
        "X_QUOTE=a\"b\\c",
    ];
    let opt = "label=price=$5 (100%)";
    let mut args = vec!["--engine-opt", opt];
    for e in env {
        args.extend(["--engine-env", e]);
    }
    assert_ok(&b.create_generic(&host, "bytes", &args), "create");

    // The live dockerd of this host (no PID namespace: pick it by network namespace).
    let proc_file = |file: &str| {
        host.sh_ok(&format!(
            r#"me=$(readlink /proc/self/ns/net)
            for p in $(pgrep -x dockerd); do
              [ "$(readlink /proc/$p/ns/net)" = "$me" ] && tr '\0' '\n' < /proc/$p/{file}
            done; true"#
        ))
    };
    let environ = proc_file("environ");
    for want in env {
        assert!(
            environ.lines().any(|l| l == want),
            "{want} missing in dockerd's environment:\n{environ}"
        );
    }
    let argv = proc_file("cmdline");
    let want = format!("--{opt}");
    assert!(
        argv.lines().any(|a| a == want),
        "{want} missing in dockerd's arguments:\n{argv}"
    );
}

#[test]
#[ignore = "needs root: builds network namespaces (tests/run.sh runs it)"]
fn missing_docker_is_a_clear_error_then_an_install_source_works() {
    let host = TestHost::up(13, &["--no-docker"]);
    let b = Berth::new();
    let o = b.create_generic(&host, "bare", &[]);
    assert_fails_with(
        &o,
        "Unable to locate package docker.io",
        "create on a host without Docker and no mirror",
    );
    assert!(
        text(&o).contains("--engine-install-url"),
        "the hint names the fix: {}",
        text(&o)
    );
    assert_eq!(b.machine_json("bare")["Status"]["Phase"], "Error");
    assert!(
        host.sh("test -e /etc/systemd/system/docker.service.d/90-berth.conf")
            .status
            .code()
            == Some(1),
        "nothing configured"
    );
    assert!(
        b.ok(&["ls"]).contains("Unable to locate package"),
        "ls shows why"
    );
    b.ok(&["rm", "-y", "bare"]);

    // An install source the host can reach: Docker's static-binary layout plus its units,
    // served from this machine's side of the host's link.
    let src = tempfile::tempdir().expect("tmp");
    let files = [
        "usr/sbin/dockerd",
        "usr/bin/docker",
        "usr/bin/containerd",
        "usr/bin/containerd-shim-runc-v2",
        "usr/bin/runc",
        "usr/sbin/runc",
        "usr/bin/docker-init",
        "usr/sbin/docker-proxy",
        "lib/systemd/system/docker.service",
        "lib/systemd/system/docker.socket",
        "lib/systemd/system/containerd.service",
    ];
    let o = std::process::Command::new("tar")
        .arg("-cf")
        .arg(src.path().join("docker.tar"))
        .arg("-C")
        .arg("/")
        .args(files)
        .output()
        .expect("tar");
    assert_ok(&o, "tar the docker binaries");
    let server = FileServer::start("10.203.0.1", src.path());
    std::fs::write(
        src.path().join("install.sh"),
        format!("set -e\ncurl -fsSL {}/docker.tar | tar -x -C /\nsystemctl daemon-reload\nsystemctl start containerd docker\n", server.url),
    )
    .expect("install.sh");
    // A download that fails names the URL.
    let o = b.create_generic(
        &host,
        "bare",
        &["--engine-install-url", &format!("{}/nope.sh", server.url)],
    );
    assert_fails_with(&o, "cannot download", "an install URL that answers 404");
    assert!(text(&o).contains("nope.sh"), "{}", text(&o));
    b.ok(&["rm", "-y", "bare"]);
    let url = format!("{}/install.sh", server.url);
    let o = b.create_generic(&host, "bare", &["--engine-install-url", &url]);
    assert_ok(&o, "create with a reachable install source");
    assert_eq!(b.machine_json("bare")["Host"]["InstalledDocker"], true);
    let o = b.shell("eval \"$(berth env bare)\" && docker version --format '{{.Server.Version}}'");
    assert_ok(&o, "docker version after install");
}

#[test]
#[ignore = "needs root: builds network namespaces (tests/run.sh runs it)"]
fn connection_failures_are_clear_and_leave_the_store_intact() {
    let host = TestHost::up(14, &[]);
    let b = Berth::new();
    assert_ok(&b.create_generic(&host, "good", &[]), "create good");
    let good_before = std::fs::read(b.machine_dir("good").join("machine.json")).expect("read");

    let wrong = tempfile::tempdir().expect("tmp");
    let wrong_key = wrong.path().join("id_ed25519");
    let o = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&wrong_key)
        .output()
        .expect("keygen");
    assert_ok(&o, "ssh-keygen");
    let wk = wrong_key.display().to_string();
    let o = b.run(&[
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-key",
        &wk,
        "wrongkey",
    ]);
    assert_fails_with(&o, "refused the SSH key", "wrong key");
    assert!(text(&o).contains("authorized_keys"), "{}", text(&o));

    let key = host.key.display().to_string();
    let o = b.run(&[
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-key",
        &key,
        "--generic-ssh-port",
        "2222",
        "wrongport",
    ]);
    assert_fails_with(&o, "refused: nothing listens on port 2222", "wrong port");
    assert!(text(&o).contains("--generic-ssh-port"), "{}", text(&o));

    let o = b.run(&[
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        "10.203.0.99",
        "--generic-ssh-key",
        &key,
        "noroute",
    ]);
    assert_fails_with(&o, "no route to 10.203.0.99", "unreachable address");

    let o = b.run(&[
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-key",
        "/nonexistent/key",
        "nokey",
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "pre-create failure exits 3: {}",
        text(&o)
    );
    assert!(
        !b.machine_dir("nokey").exists(),
        "a failed pre-check leaves nothing"
    );

    for (args, needle) in [
        (
            vec![
                "create",
                "-d",
                "generic",
                "--generic-ip-address",
                &host.ip,
                "bad/name",
            ],
            "invalid machine name",
        ),
        (
            vec!["create", "-d", "generic", "good"],
            "the generic driver needs --generic-ip-address",
        ),
        (
            vec![
                "create",
                "-d",
                "generic",
                "--generic-ip-address",
                "not an ip",
                "x1",
            ],
            "is not an IP address or host name",
        ),
        (
            vec![
                "create",
                "-d",
                "generic",
                "--generic-ip-address",
                &host.ip,
                "--generic-ssh-port",
                "99999",
                "x2",
            ],
            "port number",
        ),
        (vec!["create", "-d", "nosuch", "x3"], "unknown driver"),
        (
            vec![
                "create",
                "-d",
                "generic",
                "--generic-ip-address",
                &host.ip,
                "--url",
                "tcp://a:1",
                "x4",
            ],
            "--url belongs to the none driver",
        ),
        (
            vec![
                "create",
                "-d",
                "generic",
                "--generic-ip-address",
                &host.ip,
                "good",
            ],
            "already exists",
        ),
    ] {
        let o = b.run(&args);
        assert_fails_with(&o, needle, &args.join(" "));
    }

    // The good machine is untouched and still works; the failed ones show as Error rows.
    assert_eq!(
        std::fs::read(b.machine_dir("good").join("machine.json")).expect("read"),
        good_before
    );
    let ls = b.ok(&["ls", "--format", "{{.Name}}:{{.State}}"]);
    for row in [
        "good:Running",
        "noroute:Error",
        "wrongkey:Error",
        "wrongport:Error",
    ] {
        assert!(ls.lines().any(|l| l == row), "{row} missing in {ls}");
    }
    // Records that never reached the host are removed without contacting it.
    b.ok(&["rm", "-y", "wrongkey", "wrongport", "noroute"]);
    let o = b.shell("eval \"$(berth env good)\" && docker version --format '{{.Server.Version}}'");
    assert_ok(&o, "good machine still works");
}

#[test]
#[ignore = "needs root: builds network namespaces (tests/run.sh runs it)"]
fn changed_host_key_is_refused_with_the_fix() {
    let host = TestHost::up(15, &[]);
    let b = Berth::new();
    assert_ok(&b.create_generic(&host, "pinned", &[]), "create");
    let pinned = b.machine_json("pinned")["SSHHostKey"].clone();
    host.rekey();
    for args in [
        vec!["ssh", "pinned", "true"],
        vec!["--native-ssh", "ssh", "pinned", "true"],
        vec!["regenerate-certs", "-f", "pinned"],
    ] {
        let o = b.run(&args);
        assert_fails_with(&o, "host key", &args.join(" "));
        assert!(
            text(&o).contains("berth reset-host-key pinned"),
            "names the fix: {}",
            text(&o)
        );
    }
    assert_eq!(
        b.machine_json("pinned")["SSHHostKey"],
        pinned,
        "the pin is not replaced silently"
    );
    let o = b.run(&["reset-host-key", "pinned"]);
    assert_ok(&o, "reset-host-key");
    assert_eq!(b.ok(&["ssh", "pinned", "echo ok"]).trim(), "ok");
    assert_ne!(
        b.machine_json("pinned")["SSHHostKey"],
        pinned,
        "the new key is pinned"
    );
}

#[test]
#[ignore = "needs root: builds network namespaces (tests/run.sh runs it)"]
fn dockerd_that_fails_to_start_gets_its_old_configuration_back() {
    let host = TestHost::up(16, &[]);
    let b = Berth::new();
    let o = b.create_generic(&host, "broken", &["--engine-opt", "bogus-flag"]);
    assert_fails_with(
        &o,
        "unknown flag: --bogus-flag",
        "dockerd with an unknown flag",
    );
    assert!(
        text(&o).contains("previous configuration was put back"),
        "{}",
        text(&o)
    );
    let cmdline = host.dockerd_cmdline();
    assert!(
        cmdline.contains("-H fd://") && !cmdline.contains("bogus"),
        "dockerd runs with its old flags: {cmdline}"
    );
    assert_eq!(
        host.sh_ok("docker version --format '{{.Server.Version}}'")
            .trim()
            .get(..5),
        Some("20.10")
    );
    assert_eq!(b.machine_json("broken")["Status"]["Phase"], "Error");
    // rm needs no SSH for a machine that was never provisioned.
    b.ok(&["rm", "-y", "broken"]);

    // A working machine whose re-provisioning fails keeps its working configuration on the host.
    assert_ok(&b.create_generic(&host, "ok", &[]), "create");
    let good = host.dockerd_cmdline();
    b.edit_record("ok", |m| {
        m["HostOptions"]["EngineOptions"]["ArbitraryFlags"] = serde_json::json!(["bogus-flag"])
    });
    let o = b.run(&["provision", "ok"]);
    assert_fails_with(&o, "unknown flag", "provision with a bad flag");
    assert_eq!(
        host.dockerd_cmdline(),
        good,
        "the host keeps the configuration that worked"
    );
}

#[test]
#[ignore = "needs root: builds network namespaces (tests/run.sh runs it)"]
fn store_damage_none_driver_active_host_and_listing() {
    let host = TestHost::up(17, &[]);
    let b = Berth::new();
    assert_ok(&b.create_generic(&host, "alpha", &[]), "create alpha");
    let url = b.ok(&["url", "alpha"]).trim().to_string();
    // `none` registers an existing endpoint (same store CA, so the client certs work).
    b.ok(&["create", "-d", "none", "--url", &url, "beta"]);
    let o = b.shell("eval \"$(berth env beta)\" && docker version --format '{{.Server.Version}}'");
    assert_ok(&o, "docker through a none machine");
    // A damaged record is one error row; the others still list.
    std::fs::create_dir(b.machine_dir("gamma")).expect("mkdir");
    std::fs::write(
        b.machine_dir("gamma").join("machine.json"),
        "{\"SchemaVersion\": 1, \"Name\": ",
    )
    .expect("write");
    let ls = b.ok(&["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with("alpha ") && l.contains("Running")),
        "{ls}"
    );
    assert!(
        ls.lines()
            .any(|l| l.starts_with("beta ") && l.contains("Running")),
        "{ls}"
    );
    assert!(
        ls.lines().any(|l| l.starts_with("gamma ")
            && l.contains("Error")
            && l.contains("not valid JSON")),
        "{ls}"
    );
    assert_eq!(
        b.ok(&["ls", "-q"]).split_whitespace().collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    assert_eq!(
        b.ok(&["ls", "-q", "--filter", "driver=none"]).trim(),
        "beta"
    );
    assert_eq!(b.ok(&["ls", "-q", "--filter", "name=^al"]).trim(), "alpha");
    assert_eq!(
        b.ok(&[
            "ls",
            "-q",
            "--filter",
            "state=Running",
            "--filter",
            "driver=generic"
        ])
        .trim(),
        "alpha"
    );
    assert_fails_with(
        &b.run(&["ls", "--filter", "colour=red"]),
        "Unsupported filter key",
        "bad filter",
    );
    assert_fails_with(
        &b.run(&["env", "gamma"]),
        "not valid JSON",
        "env on a damaged machine",
    );
    assert_fails_with(
        &b.run(&["rm", "-y", "gamma"]),
        "berth rm -f gamma",
        "rm of a damaged record needs -f",
    );
    b.ok(&["rm", "-f", "gamma"]);

    // `use` makes a machine the active host: files for new shells, and `active` says so.
    b.ok(&["use", "alpha"]);
    assert_eq!(b.ok(&["active"]).trim(), "alpha");
    let env_sh = b.root().join("active/env.sh");
    let o = b.shell(&format!(
        ". {} && docker version --format '{{{{.Server.Version}}}}'",
        env_sh.display()
    ));
    assert_ok(
        &o,
        "a new shell sourcing the active env file reaches the machine",
    );
    let ls = b.ok(&["ls", "--format", "{{.Name}}{{.Active}}"]);
    assert!(ls.contains("alpha*") && ls.contains("beta-"), "{ls}");

    // Context mode: switching sets the docker CLI's current context, so a terminal that is
    // already open (no DOCKER_HOST) follows; switching back to local restores "default".
    std::fs::write(
        b.root().join("settings.json"),
        r#"{"switchMode":"context"}"#,
    )
    .expect("settings");
    b.ok(&["use", "beta"]);
    let o = b.shell("docker context show && docker version --format '{{.Server.Version}}'");
    assert_ok(&o, "docker through the current context");
    assert!(stdout(&o).starts_with("berth-beta\n20.10"), "{}", text(&o));
    assert!(
        std::fs::read_to_string(&env_sh)
            .expect("env.sh")
            .contains("unset DOCKER_HOST"),
        "in context mode the env file clears DOCKER_HOST so the context applies"
    );
    b.ok(&["use", "local"]);
    let o = b.shell("docker context show");
    assert_eq!(stdout(&o).trim(), "default", "{}", text(&o));

    b.ok(&["rm", "-y", "beta"]);
    b.ok(&["rm", "-y", "alpha"]);
    let o = b.shell("docker context ls --format '{{.Name}}'");
    assert!(
        !stdout(&o).contains("berth-"),
        "rm removes the contexts: {}",
        text(&o)
    );
    assert_fails_with(
        &b.run(&["active"]),
        "No active host found",
        "active after rm",
    );
    assert!(
        std::fs::read_to_string(&env_sh)
            .expect("env.sh")
            .contains("unset DOCKER_HOST"),
        "rm of the active host switches new shells to local"
    );
}
