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
        let fake = Command::new("/usr/bin/python3")
            .arg(cloud.join("fake_do.py"))
            .args([&fake_port.to_string(), TOKEN, "--ipv4", ipv4, "--gateway"])
            .arg("10.203.0.1")
            .arg("--authorized-keys")
            .arg(authorized_keys)
            .stdout(file("fake.log"))
            .stderr(file("fake.err"))
            .spawn()
            .expect("start fake_do.py");
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
    assert_eq!(tags, ["team:web", "ci", "berth:sea"]);
    let keys = peer.keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["name"], "berth-sea");

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
