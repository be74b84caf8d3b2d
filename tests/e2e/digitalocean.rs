//! The DigitalOcean driver end to end: the real `berth` binary talks to `prism proxy --errors`
//! on DigitalOcean's OpenAPI contract, in front of tests/cloud/fake_do.py (stateful). The fake
//! gives each droplet the address of a real test host (network namespace, sshd + dockerd) and,
//! like cloud-init, authorizes the uploaded key there — so create really provisions over SSH and
//! docker really runs. Needs root and `npm ci` in tests/cloud; run through scripts/test.sh.

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;

const TOKEN: &str = "dop_v1_e2e_0123456789abcdef";

/// The fake and the contract-checking proxy in front of it, stopped by PID (Prism by process
/// group) when dropped.
struct DoPeer {
    fake: Child,
    proxy: Child,
    url: String,
    log: tempfile::TempDir,
}

impl DoPeer {
    fn start(ipv4: &str, authorized_keys: &Path) -> DoPeer {
        let cloud = repo_root().join("tests/cloud");
        let prism = cloud.join("node_modules/.bin/prism");
        assert!(prism.exists(), "run `npm ci` in tests/cloud first");
        let log = tempfile::tempdir().expect("tempdir");
        let (fake_port, proxy_port) = (free_port(), free_port());
        let file = |n: &str| std::fs::File::create(log.path().join(n)).expect("log file");
        let fake = spawn_fake(fake_port, ipv4, authorized_keys, log.path());
        let fake_url = format!("http://127.0.0.1:{fake_port}");
        let proxy = Command::new(&prism)
            .arg("proxy")
            .arg(cloud.join("digitalocean-openapi.yaml"))
            .arg(&fake_url)
            .args(["-h", "127.0.0.1", "-p", &proxy_port.to_string(), "--errors"])
            .process_group(0)
            .stdout(file("proxy.log"))
            .stderr(file("proxy.err"))
            .spawn()
            .expect("start prism proxy");
        let peer = DoPeer {
            fake,
            proxy,
            url: format!("http://127.0.0.1:{proxy_port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while peer.get("/v2/account").is_none() {
            assert!(
                Instant::now() < deadline,
                "peer did not start: {}",
                peer.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        peer
    }

    /// GET through the proxy with the right token; the JSON body if 200.
    fn get(&self, path: &str) -> Option<serde_json::Value> {
        let o = Command::new("curl")
            .args(["-sf", "-H"])
            .arg(format!("Authorization: Bearer {TOKEN}"))
            .arg(format!("{}{path}", self.url))
            .output()
            .ok()?;
        if !o.status.success() {
            return None;
        }
        serde_json::from_slice(&o.stdout).ok()
    }

    /// A list the API returns under `field`, e.g. the droplets.
    fn list(&self, path: &str, field: &str) -> Vec<serde_json::Value> {
        self.get(path).unwrap_or_else(|| panic!("GET {path}"))[field]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn droplets(&self) -> Vec<serde_json::Value> {
        self.list("/v2/droplets?per_page=200", "droplets")
    }

    fn keys(&self) -> Vec<serde_json::Value> {
        self.list("/v2/account/keys?per_page=200", "ssh_keys")
    }

    fn logs(&self) -> String {
        ["fake.err", "proxy.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.log.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for DoPeer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("--")
            .arg(format!("-{}", self.proxy.id()))
            .status();
        let _ = self.fake.kill();
        let _ = self.proxy.wait();
        let _ = self.fake.wait();
    }
}

/// tests/cloud/fake_do.py on `port`: droplets get `ipv4`, and their keys go into
/// `authorized_keys` as cloud-init would put them; its output goes to `log`.
fn spawn_fake(port: u16, ipv4: &str, authorized_keys: &Path, log: &Path) -> Child {
    let file = |n: &str| std::fs::File::create(log.join(n)).expect("log file");
    Command::new("/usr/bin/python3")
        .arg(repo_root().join("tests/cloud/fake_do.py"))
        .args([&port.to_string(), TOKEN, "--ipv4", ipv4, "--gateway"])
        .arg("10.203.0.1")
        .arg("--authorized-keys")
        .arg(authorized_keys)
        .stdout(file("fake.log"))
        .stderr(file("fake.err"))
        .spawn()
        .expect("start fake_do.py")
}

/// `berth` with the peer's URL and, unless `token` is None, the token in the environment.
fn berth(b: &Berth, peer: &DoPeer, token: Option<&str>, args: &[&str]) -> Output {
    let mut c = b.cmd();
    c.env("BERTH_DIGITALOCEAN_API_URL", &peer.url)
        .env_remove("DIGITALOCEAN_ACCESS_TOKEN")
        .env("HOME", b.root())
        .stdin(Stdio::null());
    if let Some(t) = token {
        c.env("DIGITALOCEAN_ACCESS_TOKEN", t);
    }
    c.args(args).output().expect("run berth")
}

#[test]
#[ignore = "needs root and Prism: network namespaces (scripts/test.sh runs it)"]
fn droplet_lifecycle_on_a_real_host() {
    let host = TestHost::up(30, &[]);
    let peer = DoPeer::start(&host.ip, &host.state.join("auth/root"));
    let b = Berth::new();

    let o = berth(
        &b,
        &peer,
        Some(TOKEN),
        &[
            "create",
            "-d",
            "digitalocean",
            "--digitalocean-region",
            "ams3",
            "--digitalocean-tags",
            "team:web, ci",
            "--digitalocean-private-networking",
            "sea",
        ],
    );
    assert_ok(&o, &format!("create (peer: {})", peer.logs()));
    let out = text(&o);
    assert!(
        out.contains("Using the DigitalOcean token from $DIGITALOCEAN_ACCESS_TOKEN"),
        "{out}"
    );
    assert!(!out.contains(TOKEN), "the token was printed: {out}");

    // What the API holds: one droplet with the user's tags and the machine's, one key.
    let droplets = peer.droplets();
    assert_eq!(droplets.len(), 1, "{droplets:?}");
    let d = &droplets[0];
    assert_eq!(d["name"], "sea");
    assert_eq!(d["region"]["slug"], "ams3");
    let tags: Vec<&str> = d["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    // The machine's random ID, written to its record before anything was made, is on the
    // droplet and in the key's name: what rollback and rm look for.
    let id = b.machine_json("sea")["Driver"]["MachineId"]
        .as_str()
        .expect("machine ID")
        .to_string();
    assert_eq!(id.len(), 24);
    let id_tag = format!("berth-id:{id}");
    assert_eq!(tags, ["team:web", "ci", "berth:sea", id_tag.as_str()]);
    let keys = peer.keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["name"], format!("berth-sea-{id}").as_str());

    // What the store holds: IDs and the address, never the token (anywhere in the store).
    let m = b.machine_json("sea");
    assert_eq!(m["DriverName"], "digitalocean");
    assert_eq!(m["Driver"]["DropletID"], d["id"]);
    assert_eq!(m["Driver"]["SSHKeyID"], keys[0]["id"]);
    assert_eq!(m["Driver"]["IPAddress"], host.ip.as_str());
    assert_eq!(m["Driver"]["AccessToken"], "");
    assert_eq!(
        files_containing(b.root(), TOKEN),
        Vec::<String>::new(),
        "the token is on disk"
    );

    // docker works on the droplet, through TLS.
    let o = b.shell(&format!(
        "export BERTH_DIGITALOCEAN_API_URL={} DIGITALOCEAN_ACCESS_TOKEN={TOKEN}; \
         eval \"$(berth env sea)\" && docker info --format '{{{{.Name}}}}'",
        peer.url
    ));
    assert_ok(&o, "docker info on the droplet");

    // Power actions go through the API and the state follows the droplet's status.
    let status = |b: &Berth| stdout(&berth(b, &peer, Some(TOKEN), &["status", "sea"]));
    assert_eq!(status(&b).trim(), "Running");
    assert_ok(&berth(&b, &peer, Some(TOKEN), &["stop", "sea"]), "stop");
    assert_eq!(status(&b).trim(), "Stopped");
    assert_eq!(peer.droplets()[0]["status"], "off");
    assert_ok(&berth(&b, &peer, Some(TOKEN), &["start", "sea"]), "start");
    assert_eq!(peer.droplets()[0]["status"], "active");
    assert_ok(
        &berth(&b, &peer, Some(TOKEN), &["restart", "sea"]),
        "restart",
    );
    assert_ok(&berth(&b, &peer, Some(TOKEN), &["kill", "sea"]), "kill");
    assert_eq!(status(&b).trim(), "Stopped");

    // Without any credentials the error says what to do and nothing changes.
    let o = berth(&b, &peer, None, &["start", "sea"]);
    assert_fails_with(&o, "no DigitalOcean credentials", "start without a token");
    assert_fails_with(
        &o,
        "berth credentials add digitalocean",
        "start without a token",
    );
    // A wrong token: 401 with a hint.
    let o = berth(&b, &peer, Some("dop_v1_wrong"), &["start", "sea"]);
    assert_fails_with(&o, "refused the credentials (401)", "wrong token");

    // rm deletes the droplet and the key it uploaded; nothing is left in the account.
    assert_ok(&berth(&b, &peer, Some(TOKEN), &["rm", "-y", "sea"]), "rm");
    assert!(peer.droplets().is_empty(), "{:?}", peer.droplets());
    assert!(peer.keys().is_empty(), "{:?}", peer.keys());
    assert!(!b.machine_dir("sea").exists());
}

#[test]
#[ignore = "needs root and Prism: network namespaces (scripts/test.sh runs it)"]
fn failed_creates_roll_back_unless_asked_to_keep() {
    let host = TestHost::up(31, &[]);
    let peer = DoPeer::start(&host.ip, &host.state.join("auth/root"));
    let b = Berth::new();
    let create = |name: &str, extra: &[&str]| {
        let mut args = vec!["create", "-d", "digitalocean"];
        args.extend_from_slice(extra);
        args.push(name);
        berth(&b, &peer, Some(TOKEN), &args)
    };

    // Pre-create checks fail with exit 3 and leave nothing, here or in the account.
    for (extra, needle) in [
        (
            &["--digitalocean-region", "xyz9"][..],
            "DigitalOcean has no region \"xyz9\"",
        ),
        (
            &["--digitalocean-region", "sfo1"][..],
            "does not take new droplets",
        ),
        (
            &["--digitalocean-size", "s-99vcpu-1tb"][..],
            "size s-99vcpu-1tb is not offered in nyc3",
        ),
        (
            &["--digitalocean-userdata", "/nonexistent/cloud.yaml"][..],
            "user-data file",
        ),
        (
            &["--digitalocean-ssh-key-path", "/etc/hostname"][..],
            "needs --digitalocean-ssh-key-fingerprint",
        ),
    ] {
        let o = create("pre", extra);
        assert_eq!(o.status.code(), Some(3), "{extra:?}: {}", text(&o));
        assert_fails_with(&o, needle, &format!("{extra:?}"));
        assert!(!b.machine_dir("pre").exists());
    }
    let o = berth(&b, &peer, None, &["create", "-d", "digitalocean", "pre"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_fails_with(&o, "berth credentials add digitalocean", "no token");
    assert!(peer.droplets().is_empty() && peer.keys().is_empty());

    // Provisioning fails after the droplet exists (the image has no such user): everything made
    // is deleted, and the machine stays in the store marked Error with the reason.
    let o = create("fails", &["--digitalocean-ssh-user", "nobody"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Removing what was created"),
        "{}",
        text(&o)
    );
    assert!(peer.droplets().is_empty(), "{:?}", peer.droplets());
    assert!(peer.keys().is_empty(), "{:?}", peer.keys());
    assert_ok(
        &berth(&b, &peer, Some(TOKEN), &["rm", "-y", "fails"]),
        "rm after rollback",
    );

    // --keep-on-failure keeps them for a look; rm then removes them (and a second rm of the
    // resources is harmless: the record went with the first).
    let o = create(
        "kept",
        &["--digitalocean-ssh-user", "nobody", "--keep-on-failure"],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("--keep-on-failure"), "{}", text(&o));
    assert_eq!(peer.droplets().len(), 1);
    assert_eq!(peer.keys().len(), 1);
    assert_ok(
        &berth(&b, &peer, Some(TOKEN), &["rm", "-y", "kept"]),
        "rm kept",
    );
    assert!(peer.droplets().is_empty() && peer.keys().is_empty());
    assert_fails_with(
        &berth(&b, &peer, Some(TOKEN), &["rm", "-y", "kept"]),
        "does not exist",
        "second rm",
    );
}

/// The fake with tests/cloud/fault_proxy.py in front of it (no Prism: the injected errors are
/// not the contract's): any call can fail before or after it took effect, or lose its answer.
struct FaultyDo {
    fake: Child,
    proxy: Child,
    url: String,
    fake_url: String,
    log: tempfile::TempDir,
}

impl FaultyDo {
    fn start(ipv4: &str, authorized_keys: &Path) -> FaultyDo {
        let cloud = repo_root().join("tests/cloud");
        let log = tempfile::tempdir().expect("tempdir");
        let (fake_port, proxy_port) = (free_port(), free_port());
        let file = |n: &str| std::fs::File::create(log.path().join(n)).expect("log file");
        let fake = spawn_fake(fake_port, ipv4, authorized_keys, log.path());
        let fake_url = format!("http://127.0.0.1:{fake_port}");
        let proxy = Command::new("/usr/bin/python3")
            .arg(cloud.join("fault_proxy.py"))
            .arg(proxy_port.to_string())
            .arg(&fake_url)
            .stdout(file("proxy.log"))
            .stderr(file("proxy.err"))
            .spawn()
            .expect("start fault_proxy.py");
        let peer = FaultyDo {
            fake,
            proxy,
            url: format!("http://127.0.0.1:{proxy_port}"),
            fake_url,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while peer
            .call("GET", &format!("{}/v2/account", peer.url), None)
            .is_none()
        {
            assert!(Instant::now() < deadline, "peer did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        peer
    }

    fn call(&self, method: &str, url: &str, body: Option<&str>) -> Option<serde_json::Value> {
        let mut c = Command::new("curl");
        c.args(["-sf", "-X", method, "-H"])
            .arg(format!("Authorization: Bearer {TOKEN}"))
            .args(["-H", "Content-Type: application/json"]);
        if let Some(b) = body {
            c.args(["-d", b]);
        }
        let o = c.arg(url).output().ok()?;
        if !o.status.success() {
            return None;
        }
        Some(serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null))
    }

    /// Arms a fault (see fault_proxy.py).
    fn arm(&self, fault: serde_json::Value) {
        self.call(
            "POST",
            &format!("{}/__fault", self.url),
            Some(&fault.to_string()),
        )
        .expect("arm a fault");
    }

    fn disarm(&self) {
        self.call("DELETE", &format!("{}/__fault", self.url), None);
    }

    /// The account's droplets and keys, straight from the fake (no fault in the way).
    fn ids(&self) -> (Vec<i64>, Vec<i64>) {
        let list = |path: &str, field: &str| -> Vec<i64> {
            self.call("GET", &format!("{}{path}", self.fake_url), None)
                .expect("list")[field]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v["id"].as_i64())
                .collect()
        };
        (
            list("/v2/droplets?per_page=200", "droplets"),
            list("/v2/account/keys?per_page=200", "ssh_keys"),
        )
    }

    fn logs(&self) -> String {
        ["fake.err", "proxy.err"]
            .iter()
            .map(|f| std::fs::read_to_string(self.log.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for FaultyDo {
    fn drop(&mut self) {
        for c in [&mut self.proxy, &mut self.fake] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Every failure point of a DigitalOcean create (each call failing before it took effect,
/// after it did with the answer lost, or with the connection dropped; SIGKILL while the droplet
/// boots) leaves no droplet and no key of this create, and never touches another store's
/// machine of the same name (a droplet `dev` tagged `berth:dev` and a key `berth-dev`).
#[test]
#[ignore = "needs root: network namespaces (scripts/test.sh runs it)"]
fn every_create_failure_point_leaves_nothing_and_touches_no_other_store() {
    let host = TestHost::up(32, &[]);
    let peer = FaultyDo::start(&host.ip, &host.state.join("auth/root"));
    let mut ledger = Ledger::new("DigitalOcean: every create failure point");
    // Another store's (or a teammate's) machine of the same name, in the same account.
    let public = std::fs::read_to_string(host.key.with_extension("pub")).expect("test key");
    let foreign_key = peer
        .call(
            "POST",
            &format!("{}/v2/account/keys", peer.fake_url),
            Some(
                &serde_json::json!({"name": "berth-dev", "public_key": public.trim()}).to_string(),
            ),
        )
        .expect("seed a key")["ssh_key"]["id"]
        .as_i64()
        .expect("key id");
    let foreign_droplet = peer
        .call(
            "POST",
            &format!("{}/v2/droplets", peer.fake_url),
            Some(
                &serde_json::json!({"name": "dev", "region": "nyc3", "size": "s-1vcpu-1gb",
                    "image": "ubuntu-24-04-x64", "tags": ["berth:dev"], "ssh_keys": [foreign_key]})
                .to_string(),
            ),
        )
        .expect("seed a droplet")["droplet"]["id"]
        .as_i64()
        .expect("droplet id");
    let others = (vec![foreign_droplet], vec![foreign_key]);
    assert_eq!(peer.ids(), others);

    let b = Berth::new();
    let run = |extra: &[&str]| {
        let mut c = b.cmd();
        c.env("BERTH_DIGITALOCEAN_API_URL", &peer.url)
            .env("DIGITALOCEAN_ACCESS_TOKEN", TOKEN)
            .env("HOME", b.root())
            .args(["create", "-d", "digitalocean"])
            .args(extra)
            .arg("dev");
        c
    };
    let rm = |ledger: &mut Ledger| {
        if b.machine_dir("dev").exists() {
            let o = b
                .cmd()
                .env("BERTH_DIGITALOCEAN_API_URL", &peer.url)
                .env("DIGITALOCEAN_ACCESS_TOKEN", TOKEN)
                .args(["rm", "-y", "dev"])
                .output()
                .expect("rm");
            ledger.command();
            assert_ok(&o, "rm after a failed create");
        }
    };
    let error = |status: u16| serde_json::json!({"id": "server_error", "message": "injected", "status": status});

    // The repro of the review: an unknown key fingerprint fails the create after its record is
    // written; the rollback must not delete the other store's droplet.
    let o = run(&[
        "--digitalocean-ssh-key-fingerprint",
        "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
    ])
    .output()
    .expect("create");
    ledger.command();
    ledger.fault();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        !text(&o).contains(&format!("Deleted droplet {foreign_droplet}")),
        "{}",
        text(&o)
    );
    rm(&mut ledger);
    assert_eq!(peer.ids(), others, "{}", text(&o));

    let points: Vec<(&str, &str, u16, i64)> = vec![
        ("POST /v2/account/keys", "before", 422, 1),
        ("POST /v2/account/keys", "after", 500, 1),
        ("POST /v2/account/keys", "drop", 0, 1),
        ("POST /v2/droplets ", "before", 422, 1),
        ("POST /v2/droplets ", "after", 500, 1),
        ("POST /v2/droplets ", "drop", 0, 1),
        ("GET /v2/droplets/[0-9]+ ", "before", 404, -1),
        ("GET /v2/droplets/[0-9]+ ", "before", 500, 8),
    ];
    for (call, mode, status, times) in points {
        peer.arm(
            serde_json::json!({"match": format!("^{call}"), "mode": mode, "status": status,
            "body": error(status).to_string(), "times": times}),
        );
        let o = run(&[]).output().expect("create");
        ledger.command();
        ledger.fault();
        peer.disarm();
        assert!(!o.status.success(), "{call} {mode}: {}", text(&o));
        // What the create made is gone already (rolled back); the record says why.
        let leaked = peer.ids().0.len() + peer.ids().1.len() - 2;
        ledger.record_leaked(leaked as u32);
        assert_eq!(
            peer.ids(),
            others,
            "{call} {mode} leaked: {}\n{}",
            text(&o),
            peer.logs()
        );
        rm(&mut ledger);
        ledger.record();
    }

    // The rollback itself fails (deletes refused): the record keeps what it knows and `rm`
    // finishes the job once the API answers again.
    peer.arm(
        serde_json::json!({"match": "^POST /v2/droplets ", "mode": "after", "status": 500,
        "body": error(500).to_string()}),
    );
    peer.arm(
        serde_json::json!({"match": "^DELETE ", "mode": "before", "status": 500,
        "body": error(500).to_string(), "times": -1}),
    );
    let o = run(&[]).output().expect("create");
    ledger.command();
    ledger.fault();
    peer.disarm();
    assert!(
        text(&o).contains("Could not remove everything"),
        "{}",
        text(&o)
    );
    rm(&mut ledger);
    assert_eq!(peer.ids(), others);
    ledger.record();

    // SIGKILL right after the key went up, and while the droplet boots: `rm` removes both.
    for after in ["Uploaded the machine's SSH key", "Created droplet"] {
        let seen = kill_after_line(run(&[]), after);
        ledger.command();
        ledger.fault();
        assert!(seen.contains(after), "{seen}");
        rm(&mut ledger);
        assert_eq!(peer.ids(), others, "after a kill at \"{after}\": {seen}");
        ledger.record();
    }
}
