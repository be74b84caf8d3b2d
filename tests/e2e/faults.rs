//! The fault suite: real faults injected into real runs, and checks that nothing is lost and
//! nothing is left half-done. SSH connections cut (reset or silently dropped, by iptables in the
//! test host's network namespace) while the provisioning script runs, while Berth waits for
//! the TLS endpoint and during `regenerate-certs`; sshd killed mid-session; a dockerd that will
//! not start; a full disk and a full /tmp on the host; `berth` SIGKILLed at random points of
//! create, rm, regenerate-certs and use; many processes acting on one store at once.
//! After each: the host holds either its previous Docker configuration or the complete new one,
//! the record loads, the next command works, and `rm` cleans up. Every scenario adds a row to
//! the ledger ($BERTH_FAULT_LEDGER) that tests/faults/table.py prints at the end of the suite.
//! Needs root (network namespaces); scripts/test.sh runs it. Cloud faults (DigitalOcean, EC2)
//! live beside their peers in digitalocean.rs and amazonec2.rs.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

/// A `berth` process whose stderr (progress lines) is collected as it runs.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// `berth create -d generic NAME` against the host, running.
    fn create(b: &Berth, host: &TestHost, name: &str) -> Running {
        let args = generic_create_args(host, name, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Running::start(b, &args)
    }

    fn start(b: &Berth, args: &[&str]) -> Running {
        let mut c = b.cmd();
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn berth");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(stream).lines().map_while(Result::ok) {
                    let at = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis())
                        .unwrap_or(0);
                    lines.lock().expect("lines").push(format!("[{at}] {l}"));
                }
            });
        }
        Running { child, lines }
    }

    fn text(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// Waits until a line contains `needle`; false if the process ended or time ran out first.
    fn wait_for(&mut self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.text().contains(needle) {
                return true;
            }
            if self.child.try_wait().ok().flatten().is_some() {
                std::thread::sleep(Duration::from_millis(50));
                return self.text().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// Waits for the exit; its success and everything it printed.
    fn finish(mut self, within: Duration) -> (bool, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(50));
                return (st.success(), self.text());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "berth did not finish within {} s:\n{}",
                    within.as_secs(),
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn sigkill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a connection is cut.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Every packet answered with a TCP reset: both sides see the connection die at once.
    Reset,
    /// Packets silently dropped: Berth must notice by itself (SSH keepalives).
    Drop,
}

fn firewall(host: &TestHost, add: bool, port: u16, cut: Cut) {
    let action = match cut {
        Cut::Reset => "-j REJECT --reject-with tcp-reset",
        Cut::Drop => "-j DROP",
    };
    let op = if add { "-I" } else { "-D" };
    host.sh_ok(&format!(
        "iptables {op} INPUT -p tcp --dport {port} {action} && iptables {op} OUTPUT -p tcp --sport {port} {action}"
    ));
}

const DROPIN: &str = "/etc/systemd/system/docker.service.d/90-berth.conf";

/// What the host's Docker configuration is once nothing runs on it any more.
#[derive(Debug, PartialEq)]
enum HostConfig {
    /// Its own configuration: no Berth drop-in, no TLS files, dockerd without TLS.
    Original,
    /// Berth's, complete: drop-in, TLS files that belong together, dockerd running with them.
    Berth,
}

/// Waits until no provisioning script runs on the host any more, then checks that its Docker
/// configuration is whole (the previous one or the complete new one) and that dockerd answers.
#[track_caller]
fn settled_config(host: &TestHost) -> HostConfig {
    let deadline = Instant::now() + Duration::from_secs(60);
    // The script is `sh -s` under sshd; it runs to its end even when the connection is gone.
    while Instant::now() < deadline {
        let busy = host.sh_ok(
            r#"me=$(readlink /proc/self/ns/net)
            for p in $(pgrep -x sh); do
              [ "$(readlink /proc/$p/ns/net)" = "$me" ] || continue
              [ "$(tr '\0' ' ' < /proc/$p/cmdline)" = "sh -s " ] && echo busy
            done; true"#,
        );
        if busy.trim().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let leftovers = host.sh_ok(
        "ls -d /etc/docker/berth.berth-new /etc/docker/berth.berth-old /etc/docker/berth/*.berth-tmp \
         /etc/systemd/system/docker.service.d/*.berth-tmp /etc/systemd/system/docker.service.d/*.berth-prev 2>/dev/null; true",
    );
    assert_eq!(leftovers.trim(), "", "half-written files left on the host");
    let version = host.sh(
        "timeout 20 sh -c 'until docker version --format {{.Server.Version}} 2>/dev/null; do sleep 0.2; done'",
    );
    assert_ok(&version, "dockerd answers on the host");
    let cmdline = host.dockerd_cmdline();
    let dropin = host.sh(&format!("test -f {DROPIN}")).status.success();
    let tls = host.sh("test -d /etc/docker/berth").status.success();
    if !dropin {
        assert!(!tls, "TLS files without Berth's configuration");
        assert!(
            !cmdline.contains("--tlsverify"),
            "dockerd runs with TLS but no drop-in: {cmdline}"
        );
        return HostConfig::Original;
    }
    assert!(tls, "Berth's drop-in without its TLS files");
    // The files belong together: the server certificate is the CA's and the key is its own.
    host.sh_ok(
        "cd /etc/docker/berth && openssl verify -CAfile ca.pem server.pem >/dev/null && \
         [ \"$(openssl x509 -in server.pem -noout -pubkey)\" = \"$(openssl pkey -in server-key.pem -pubout)\" ]",
    );
    assert!(
        cmdline.contains("--tlsverify"),
        "Berth's drop-in is there but dockerd does not use it: {cmdline}"
    );
    HostConfig::Berth
}

/// `docker version` through `berth env NAME` (the client side of the machine's TLS).
fn docker_works(b: &Berth, name: &str) -> bool {
    b.shell(&format!(
        "eval \"$(berth env {name})\" && docker version --format '{{{{.Server.Version}}}}'"
    ))
    .status
    .success()
}

/// The machine works through its TLS endpoint; `rm` then gives the host its own
/// configuration back.
#[track_caller]
fn works_then_removed(b: &Berth, host: &TestHost, name: &str, ledger: &mut Ledger) {
    assert!(docker_works(b, name), "{name} works");
    b.ok(&["rm", "-y", name]);
    ledger.command();
    assert_eq!(
        settled_config(host),
        HostConfig::Original,
        "rm restores the host"
    );
}

/// The record loads and says what phase it is in.
#[track_caller]
fn record_phase(b: &Berth, name: &str) -> Option<String> {
    if !b.machine_dir(name).exists() {
        return None;
    }
    let o = b.run(&["inspect", "-f", "{{.Status.Phase}}", name]);
    if !b.machine_dir(name).join("machine.json").exists() {
        // A create killed before its record: only the reservation is there.
        return Some("Reserved".into());
    }
    assert_ok(&o, &format!("inspect {name}"));
    Some(stdout(&o).trim().to_string())
}

/// Every certificate/key pair in the store and the machine directories belongs together and
/// chains to the CA beside it; every machine.json parses.
#[track_caller]
fn store_is_whole(b: &Berth) -> u32 {
    use berth_core::certs::{CertPair, pair_problem, read_pair};
    let mut checked = 0;
    let certs = b.root().join("certs");
    if certs.join("ca.pem").exists() {
        let ca = read_pair(&certs.join("ca.pem"), &certs.join("ca-key.pem")).expect("store CA");
        assert_eq!(pair_problem(&ca, Some(&ca.cert_pem), 0), None, "store CA");
        if certs.join("cert.pem").exists() {
            let c = read_pair(&certs.join("cert.pem"), &certs.join("key.pem")).expect("client");
            assert_eq!(
                pair_problem(&c, Some(&ca.cert_pem), 0),
                None,
                "store client certificate"
            );
        }
    }
    for e in std::fs::read_dir(b.root().join("machines"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let dir = e.path();
        checked += 1;
        let mut ready = false;
        if dir.join("machine.json").exists() {
            let text = std::fs::read_to_string(dir.join("machine.json")).expect("read");
            let m = serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("{name}: machine.json half-written: {e}"));
            ready = m["Status"]["Phase"] == "Ready";
        }
        // A machine in use has a whole set; an interrupted create's is for `rm` to clean up.
        if ready && dir.join("ca.pem").exists() {
            let ca = std::fs::read_to_string(dir.join("ca.pem")).expect("ca");
            for (c, k) in [("cert.pem", "key.pem"), ("server.pem", "server-key.pem")] {
                let pair: CertPair = read_pair(&dir.join(c), &dir.join(k))
                    .unwrap_or_else(|e| panic!("{name}: {c}: {e}"));
                assert_eq!(
                    pair_problem(&pair, Some(&ca), 0),
                    None,
                    "{name}: {c} and {k}"
                );
            }
        }
    }
    checked
}

/// A small deterministic random source (the seed is printed, so a failure can be replayed).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("BERTH_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("fault suite seed: BERTH_FAULT_SEED={seed}");
        Rng(seed | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Steps of the provisioning script, as `berth` prints them.
const SCRIPT_STEPS: [&str; 4] = [
    "Detecting the operating system",
    "Installing TLS certificates",
    "Configuring the Docker daemon",
    "Restarting the Docker daemon",
];

/// Cuts SSH at a step of a create (or a regenerate-certs), checks the host and the record,
/// then lets the network back and proves a re-run repairs everything.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn ssh_cut_while_provisioning() {
    let host = TestHost::up(50, &[]);
    let b = Berth::new();
    let mut ledger = Ledger::new("SSH cut (reset) at each provisioning step");
    for (i, step) in SCRIPT_STEPS.iter().enumerate() {
        let name = format!("cut{i}");
        let mut run = Running::create(&b, &host, &name);
        ledger.command();
        assert!(
            run.wait_for(step, Duration::from_secs(60)),
            "{}",
            run.text()
        );
        firewall(&host, true, 22, Cut::Reset);
        ledger.fault();
        let (ok, out) = run.finish(Duration::from_secs(120));
        let config = settled_config(&host);
        // The script runs to its end by itself: configured (and the create's check may still
        // have reached the TLS port), or rolled back. Either way the record says what it knows.
        let phase = record_phase(&b, &name).expect("the record is kept");
        ledger.record();
        if ok {
            assert_eq!(config, HostConfig::Berth, "{out}");
            assert_eq!(phase, "Ready");
        } else {
            assert_eq!(phase, "Error", "{out}");
            assert!(
                out.contains("SSH") || out.contains("connection") || out.contains("ssh"),
                "a clear error: {out}"
            );
        }
        firewall(&host, false, 22, Cut::Reset);
        if !ok {
            b.ok(&["provision", &name]);
            ledger.command();
        }
        assert!(docker_works(&b, &name), "{name} works after a re-run");
        assert_eq!(settled_config(&host), HostConfig::Berth);
        b.ok(&["rm", "-y", &name]);
        ledger.command();
        assert_eq!(
            settled_config(&host),
            HostConfig::Original,
            "rm restores the host"
        );
        ledger.record_lost(u32::from(b.machine_dir(&name).exists()));
    }
}

/// A connection that goes silent (packets dropped, no reset) is noticed through SSH keepalives
/// and reported; nothing is half-configured.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn ssh_silently_dropped_while_provisioning() {
    let host = TestHost::up(51, &[]);
    let b = Berth::new();
    let mut ledger = Ledger::new("SSH silently dropped during provisioning");
    let mut run = Running::create(&b, &host, "silent");
    ledger.command();
    assert!(run.wait_for(SCRIPT_STEPS[1], Duration::from_secs(60)));
    firewall(&host, true, 22, Cut::Drop);
    ledger.fault();
    let started = Instant::now();
    let (ok, out) = run.finish(Duration::from_secs(180));
    let config = settled_config(&host);
    assert!(!ok || config == HostConfig::Berth, "{out}");
    if !ok {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "noticed within keepalive time (took {} s): {out}",
            started.elapsed().as_secs()
        );
        assert_eq!(record_phase(&b, "silent").as_deref(), Some("Error"));
    }
    ledger.record();
    firewall(&host, false, 22, Cut::Drop);
    if !ok {
        b.ok(&["provision", "silent"]);
    }
    works_then_removed(&b, &host, "silent", &mut ledger);
}

/// The TLS endpoint cut while Berth waits for it: a short outage is waited out; a lasting one
/// is a clear error, and `provision` finishes the job once the port is back.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn tls_port_cut_while_checking() {
    let host = TestHost::up(52, &[]);
    let b = Berth::new();
    let mut ledger = Ledger::new("TLS port cut during the engine check");
    for lasting in [false, true] {
        let name = if lasting { "lasting" } else { "brief" };
        let mut run = Running::create(&b, &host, name);
        ledger.command();
        // Cut before dockerd comes back with TLS, so the check meets the closed port.
        assert!(run.wait_for("Restarting the Docker daemon", Duration::from_secs(60)));
        firewall(&host, true, 2376, Cut::Reset);
        ledger.fault();
        if !lasting {
            assert!(run.wait_for("Waiting for Docker", Duration::from_secs(60)));
            std::thread::sleep(Duration::from_secs(3));
            firewall(&host, false, 2376, Cut::Reset);
        }
        let (ok, out) = run.finish(Duration::from_secs(150));
        assert_eq!(ok, !lasting, "{out}");
        assert_eq!(settled_config(&host), HostConfig::Berth);
        ledger.record();
        if lasting {
            assert!(out.contains("Docker did not answer"), "{out}");
            assert_eq!(record_phase(&b, name).as_deref(), Some("Error"));
            firewall(&host, false, 2376, Cut::Reset);
            b.ok(&["provision", name]);
            ledger.command();
        }
        works_then_removed(&b, &host, name, &mut ledger);
    }
}

/// regenerate-certs cut at each step: the machine keeps working the whole time (the set it
/// uses is replaced only once the host took the new one), and a re-run completes it.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn ssh_cut_during_regenerate_certs() {
    let host = TestHost::up(53, &[]);
    let b = Berth::new();
    let mut ledger = Ledger::new("SSH cut during regenerate-certs (incl. --client-certs)");
    assert_ok(&b.create_generic(&host, "regen", &[]), "create");
    ledger.command();
    for (i, step) in SCRIPT_STEPS.iter().enumerate() {
        let client_certs = i % 2 == 1;
        let mut args = vec!["regenerate-certs", "-f"];
        if client_certs {
            args.push("--client-certs");
        }
        args.push("regen");
        let mut run = Running::start(&b, &args);
        ledger.command();
        assert!(
            run.wait_for(step, Duration::from_secs(60)),
            "{}",
            run.text()
        );
        firewall(&host, true, 22, Cut::Reset);
        ledger.fault();
        let (ok, out) = run.finish(Duration::from_secs(120));
        assert_eq!(settled_config(&host), HostConfig::Berth, "{out}");
        ledger.record();
        // Without a re-run: the host has the old set or the new one, and the machine's
        // directory the one that the host uses (or one from the same CA).
        let works = docker_works(&b, "regen");
        if !client_certs {
            assert!(
                works,
                "docker through the machine after a cut ({ok}): {out}"
            );
        }
        firewall(&host, false, 22, Cut::Reset);
        if !ok || !works {
            b.ok(&["regenerate-certs", "-f", "regen"]);
            ledger.command();
        }
        assert!(docker_works(&b, "regen"));
        store_is_whole(&b);
    }
    b.ok(&["rm", "-y", "regen"]);
    assert_eq!(settled_config(&host), HostConfig::Original);
}

/// The session's sshd killed while the script runs (the server side of the connection dies).
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn sshd_killed_mid_session() {
    let host = TestHost::up(54, &[]);
    let b = Berth::new();
    let mut ledger = Ledger::new("sshd killed mid-session");
    for (i, step) in SCRIPT_STEPS.iter().enumerate().skip(1) {
        let name = format!("k{i}");
        let mut run = Running::create(&b, &host, &name);
        ledger.command();
        assert!(run.wait_for(step, Duration::from_secs(60)));
        // Only the per-connection sshd of this host (not its listener, not other hosts').
        host.sh_ok(
            r#"me=$(readlink /proc/self/ns/net)
            for p in $(pgrep -f '^sshd: root'); do
              [ "$(readlink /proc/$p/ns/net)" = "$me" ] && kill -9 $p
            done; true"#,
        );
        ledger.fault();
        let (ok, out) = run.finish(Duration::from_secs(120));
        let config = settled_config(&host);
        ledger.record();
        if ok {
            assert_eq!(config, HostConfig::Berth);
        } else {
            assert_eq!(record_phase(&b, &name).as_deref(), Some("Error"), "{out}");
            b.ok(&["provision", &name]);
            ledger.command();
        }
        works_then_removed(&b, &host, &name, &mut ledger);
    }
}

/// A dockerd that will not start with the new configuration: the previous one is put back and
/// keeps serving; a full disk and a full /tmp on the host: clear errors, nothing changed.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn dockerd_refuses_and_disks_fill() {
    let host = TestHost::up(55, &[]);
    let b = Berth::new();
    let mut ledger = Ledger::new("dockerd refuses the new config; full disk; full /tmp");
    assert_ok(&b.create_generic(&host, "full", &[]), "create");
    ledger.command();
    let tls_sum = || host.sh_ok("cat /etc/docker/berth/*.pem | sha256sum");
    let before = tls_sum();

    // dockerd refuses an option: the working configuration comes back.
    b.edit_record("full", |m| {
        m["HostOptions"]["EngineOptions"]["ArbitraryFlags"] = serde_json::json!(["bogus-flag"])
    });
    let o = b.run(&["provision", "full"]);
    ledger.fault();
    ledger.command();
    assert_fails_with(&o, "previous configuration was put back", "bogus flag");
    assert_eq!(settled_config(&host), HostConfig::Berth);
    assert_eq!(tls_sum(), before, "the previous TLS files are back");
    assert!(docker_works(&b, "full"));
    b.edit_record("full", |m| {
        m["HostOptions"]["EngineOptions"]["ArbitraryFlags"] = serde_json::json!([])
    });
    ledger.record();

    // /etc/docker on a small full filesystem (its files copied in first).
    host.sh_ok(
        "cp -a /etc/docker /tmp/etc-docker && mount -t tmpfs -o size=256k tmpfs /etc/docker && \
         cp -a /tmp/etc-docker/. /etc/docker/ && (dd if=/dev/zero of=/etc/docker/fill bs=4k 2>/dev/null; true)",
    );
    let o = b.run(&["regenerate-certs", "-f", "full"]);
    ledger.fault();
    ledger.command();
    assert_fails_with(&o, "disk full", "regenerate on a full disk");
    assert_eq!(tls_sum(), before, "the TLS files in use are untouched");
    assert_eq!(settled_config(&host), HostConfig::Berth);
    assert!(docker_works(&b, "full"), "the machine keeps working");
    host.sh_ok("rm -f /etc/docker/fill");
    b.ok(&["regenerate-certs", "-f", "full"]);
    ledger.command();
    assert!(docker_works(&b, "full"));
    ledger.record();

    // A full /tmp (no inode left): the script cannot make its work directory and says so;
    // nothing changed.
    let before = tls_sum();
    host.sh_ok(
        "mount -t tmpfs -o size=64k,nr_inodes=16 tmpfs /tmp &&          for i in $(seq 1 40); do touch /tmp/f$i 2>/dev/null; done; true",
    );
    let o = b.run(&["provision", "full"]);
    ledger.fault();
    ledger.command();
    assert_fails_with(&o, "temporary directory", "provision with a full /tmp");
    assert_eq!(tls_sum(), before);
    host.sh_ok("umount /tmp");
    b.ok(&["provision", "full"]);
    ledger.command();
    assert!(docker_works(&b, "full"));
    ledger.record();
    host.sh_ok("umount /etc/docker");
    b.ok(&["rm", "-y", "full"]);
}

/// `rm` on a host where a local user planted a symlink at Berth's old log path: root must not
/// follow it (the fixed /tmp/berth-rm.log name truncated any root-owned file it pointed at).
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn deprovision_does_not_follow_a_planted_symlink() {
    let host = TestHost::up(56, &[]);
    let b = Berth::new();
    let mut ledger = Ledger::new("symlink planted at a root-written /tmp path");
    host.sh_ok(
        "printf 'precious\\n' > /etc/berth-victim && chmod 644 /etc/berth-victim && \
         su berth -c 'ln -sf /etc/berth-victim /tmp/berth-rm.log'",
    );
    ledger.fault();
    assert_ok(&b.create_generic(&host, "victim", &[]), "create");
    b.ok(&["rm", "-y", "victim"]);
    ledger.command();
    ledger.command();
    assert_eq!(host.sh_ok("cat /etc/berth-victim"), "precious\n");
    ledger.record();
}

/// `berth` SIGKILLed at random points of create, rm, regenerate-certs and use. After each: every
/// later command works, nothing half-written is visible, and `rm` (without -f) cleans up.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn sigkill_at_random_points() {
    let host = TestHost::up(57, &[]);
    let b = Berth::new();
    let mut rng = Rng::new();
    let after_kill = |b: &Berth, ledger: &mut Ledger| {
        let o = b.run(&["ls"]);
        ledger.command();
        assert_ok(&o, "ls after a kill");
        ledger.records(store_is_whole(b));
    };
    const ROUNDS: usize = 22;

    // create
    let mut ledger = Ledger::new("SIGKILL during create");
    for round in 0..ROUNDS {
        let name = format!("c{round}");
        let run = Running::create(&b, &host, &name);
        ledger.command();
        std::thread::sleep(Duration::from_millis(rng.below(1400)));
        run.sigkill();
        ledger.fault();
        after_kill(&b, &mut ledger);
        let phase = record_phase(&b, &name);
        settled_config(&host);
        if phase.is_some() {
            let o = b.run(&["rm", "-y", &name]);
            ledger.command();
            assert_ok(&o, &format!("rm after a create killed in phase {phase:?}"));
        }
        assert!(!b.machine_dir(&name).exists());
        assert_eq!(
            settled_config(&host),
            HostConfig::Original,
            "rm after a killed create (phase {phase:?}) leaves the host as it was"
        );
    }

    // rm
    let mut ledger = Ledger::new("SIGKILL during rm");
    let trash_left = |b: &Berth| {
        std::fs::read_dir(b.root().join("machines"))
            .expect("machines")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".trash-"))
            .count() as u32
    };
    for round in 0..ROUNDS {
        let name = format!("r{round}");
        assert_ok(&b.create_generic(&host, &name, &[]), "create");
        // A removal killed after moving the record aside left its trash: swept by this create.
        ledger.record_leaked(trash_left(&b));
        assert_eq!(
            trash_left(&b),
            0,
            "a killed rm's trash is swept by the next command"
        );
        let run = Running::start(&b, &["rm", "-y", &name]);
        ledger.command();
        std::thread::sleep(Duration::from_millis(rng.below(900)));
        run.sigkill();
        ledger.fault();
        after_kill(&b, &mut ledger);
        settled_config(&host);
        if b.machine_dir(&name).exists() {
            b.ok(&["rm", "-y", &name]);
            ledger.command();
        }
        assert_eq!(settled_config(&host), HostConfig::Original);
    }

    // regenerate-certs
    let mut ledger = Ledger::new("SIGKILL during regenerate-certs");
    assert_ok(&b.create_generic(&host, "rg", &[]), "create");
    for round in 0..ROUNDS {
        let client_certs = round % 3 == 2;
        let mut args = vec!["regenerate-certs", "-f"];
        if client_certs {
            args.push("--client-certs");
        }
        args.push("rg");
        let run = Running::start(&b, &args);
        ledger.command();
        std::thread::sleep(Duration::from_millis(rng.below(1000)));
        run.sigkill();
        ledger.fault();
        after_kill(&b, &mut ledger);
        settled_config(&host);
        if !docker_works(&b, "rg") {
            // A kill after a new CA reached the host but before the machine's directory took
            // it: the next regenerate-certs completes the move.
            b.ok(&["regenerate-certs", "-f", "rg"]);
            ledger.command();
        }
        assert!(docker_works(&b, "rg"));
        ledger.command();
    }
    b.ok(&["rm", "-y", "rg"]);

    // use (env files, and in context mode the docker CLI's config and contexts)
    let mut ledger = Ledger::new("SIGKILL during use");
    for n in ["u1", "u2"] {
        b.ok(&["create", "-d", "none", "--url", "tcp://127.0.0.1:9", n]);
    }
    for round in 0..ROUNDS {
        let context_mode = round % 2 == 1;
        std::fs::write(
            b.root().join("settings.json"),
            if context_mode {
                r#"{"switchMode":"context","dockerContexts":true}"#
            } else {
                r#"{"switchMode":"env"}"#
            },
        )
        .expect("settings");
        let target = if round % 4 < 2 { "u1" } else { "u2" };
        let run = Running::start(&b, &["use", target]);
        ledger.command();
        std::thread::sleep(Duration::from_micros(rng.below(40_000)));
        run.sigkill();
        ledger.fault();
        after_kill(&b, &mut ledger);
        for f in ["env.sh", "env.fish", "env.ps1", "env.csh", "env.nu"] {
            let p = b.root().join("active").join(f);
            if let Ok(text) = std::fs::read_to_string(&p) {
                assert!(
                    text.ends_with('\n') && text.starts_with("# Written by Berth"),
                    "{f}: {text}"
                );
            }
        }
        if let Ok(t) = std::fs::read_to_string(b.root().join("active/active.json")) {
            serde_json::from_str::<serde_json::Value>(&t).expect("active.json whole");
        }
        if let Ok(t) = std::fs::read_to_string(b.docker_config().join("config.json")) {
            serde_json::from_str::<serde_json::Value>(&t).expect("config.json whole");
        }
        b.ok(&["use", target]);
        ledger.command();
        assert_eq!(b.ok(&["active"]).trim(), target);
        ledger.record();
    }
    for n in ["u1", "u2"] {
        b.ok(&["rm", "-y", n]);
    }
}

/// The app's engine (berth_core, in this process, as the app calls it) and several CLI
/// processes act on the same store and machines at once: 50 rounds of parallel first creates,
/// use, regenerate-certs (with a new CA) and rm. No mismatched certificate, no lost record.
#[test]
#[ignore = "part of the fault suite (scripts/test.sh runs it)"]
fn app_and_cli_at_once() {
    use berth_core::ops::{Berth as Core, CreateSpec, ProgressRef};
    let mut ledger = Ledger::new("app engine + CLI on one store at once");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let url = "tcp://127.0.0.1:9";
    for round in 0..50 {
        let b = Berth::new();
        let core = Core::new(berth_core::Store::at(b.root()));
        let quiet: ProgressRef = Arc::new(berth_core::progress::Silent);
        // CLI creates, the app's creates and a CLI use/regenerate, all at once on a fresh store.
        let mut cli: Vec<Running> = (0..3)
            .map(|i| {
                Running::start(
                    &b,
                    &["create", "-d", "none", "--url", url, &format!("cli{i}")],
                )
            })
            .collect();
        let app_results = rt.block_on(async {
            let specs: Vec<CreateSpec> = (0..2)
                .map(|i| {
                    let mut o = berth_core::drivers::DriverOptions::default();
                    o.set("url", berth_core::drivers::OptionValue::Str(url.into()));
                    CreateSpec {
                        name: format!("app{i}"),
                        driver: "none".into(),
                        driver_options: o,
                        ..Default::default()
                    }
                })
                .collect();
            futures_util::future::join_all(specs.iter().map(|s| core.create(s, &quiet))).await
        });
        ledger.commands(5);
        let mut created: Vec<String> = vec![];
        for (i, r) in app_results.into_iter().enumerate() {
            assert!(r.is_ok(), "app create {i}: {:?}", r.err());
            created.push(format!("app{i}"));
        }
        for (i, run) in cli.drain(..).enumerate() {
            let (ok, out) = run.finish(Duration::from_secs(60));
            assert!(ok, "cli create {i}: {out}");
            created.push(format!("cli{i}"));
        }
        ledger.fault(); // the race itself
        // Then everything at once again: use, regenerate (a new CA every 5th round), rm.
        let regen = if round % 5 == 0 {
            vec!["regenerate-certs", "-f", "--client-certs", "cli0"]
        } else {
            vec!["regenerate-certs", "-f", "cli0"]
        };
        let runs = vec![
            Running::start(&b, &["use", "cli1"]),
            Running::start(&b, &regen),
            Running::start(&b, &["rm", "-y", "cli2"]),
            Running::start(&b, &["ls"]),
        ];
        let app_side = rt.block_on(async {
            let a = core.use_machine(Some("app0"), &quiet).await;
            let r = core.regenerate_certs("app1", false, &quiet).await;
            let rm = core.remove("app1", false, &quiet).await;
            (a, r, rm)
        });
        ledger.commands(7);
        for run in runs {
            let (ok, out) = run.finish(Duration::from_secs(60));
            assert!(ok || out.contains("busy"), "{out}");
        }
        assert!(app_side.0.is_ok(), "{:?}", app_side.0);
        assert!(app_side.2.is_ok(), "{:?}", app_side.2);
        created.retain(|n| n != "cli2" && n != "app1");
        for n in &created {
            let o = b.run(&["inspect", "-f", "{{.Status.Phase}}", n]);
            assert_eq!(stdout(&o).trim(), "Ready", "{n} lost: {}", text(&o));
            // The env command works: the machine's copies are whole (repaired if needed).
            b.ok(&["env", n]);
        }
        ledger.records(store_is_whole(&b));
        ledger.record_lost(
            created
                .iter()
                .filter(|n| !b.machine_dir(n).join("machine.json").exists())
                .count() as u32,
        );
    }
}

/// `berth ssh` pins a machine's host key into its record under the machine's lock, like every
/// other change to a record: while another process holds the lock it waits, then says so,
/// instead of writing the record behind that process's back.
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn ssh_pins_the_host_key_under_the_machine_lock() {
    let host = TestHost::up(58, &[]);
    let b = Berth::new();
    let mut ledger = Ledger::new("berth ssh while another process changes the machine");
    assert_ok(&b.create_generic(&host, "pin", &[]), "create");
    b.ok(&["reset-host-key", "pin"]);
    let store = berth_core::Store::at(b.root());
    let held = store
        .lock("pin", Duration::from_secs(1))
        .expect("hold the machine's lock");
    let o = b.run(&["ssh", "pin", "true"]);
    ledger.fault();
    ledger.command();
    assert_fails_with(&o, "busy", "ssh while the machine is locked");
    assert!(
        b.machine_json("pin").get("SSHHostKey").is_none(),
        "nothing written without the lock"
    );
    drop(held);
    b.ok(&["ssh", "pin", "true"]);
    ledger.command();
    assert!(b.machine_json("pin")["SSHHostKey"].is_string());
    ledger.record();
    b.ok(&["rm", "-y", "pin"]);
}
