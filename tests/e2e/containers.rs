//! The machine page's operations (`berth_core::containers` through `Berth`) against a real test
//! host's dockerd, with containers made by the docker CLI: the list with states, published
//! ports as links and compose projects; logs of both streams, and lines written while
//! following; every container action, checked with `docker inspect`; images, volumes (with
//! their users) and networks; run from an image (a published port that answers; a failed start
//! leaves nothing), Inspect, saved logs, `system df`; a pull with each layer's progress from a
//! registry inside the test host (Debian's docker-registry), and one the machine cannot reach;
//! and clear errors for objects that are gone, in use, or not names at all.

mod support;

use berth_core::containers::{ContainerAction, LogStream};
use support::*;

fn state(b: &Berth, container: &str) -> String {
    let o = b.shell(&format!(
        "eval \"$(berth env page)\" && docker inspect -f '{{{{.State.Status}}}}' {container}"
    ));
    stdout(&o).trim().to_string()
}

#[test]
#[ignore = "needs root: builds network namespaces (tests/run.sh runs it)"]
fn the_machine_page_sees_and_acts_on_what_runs() {
    let host = TestHost::up(60, &[]);
    let b = Berth::new();
    assert_ok(&b.create_generic(&host, "page", &[]), "create");
    import_busybox(&b, "page");
    let docker = |args: &str| b.shell(&format!("eval \"$(berth env page)\" && docker {args}"));
    let port = free_port();
    assert_ok(
        &docker(&format!(
            "run -d --name web -p {port}:80 berth-test/busybox sh -c 'mkdir -p /w && echo ok > /w/index.html && exec busybox httpd -f -p 80 -h /w'"
        )),
        "web",
    );
    assert_ok(
        &docker(
            "run -d --name shop-worker-1 --label com.docker.compose.project=shop -v shopdata:/data berth-test/busybox sh -c 'echo to-out; echo to-err >&2; i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done'",
        ),
        "worker",
    );
    assert_ok(
        &docker("create --name idle berth-test/busybox true"),
        "idle",
    );

    let berth = berth_core::ops::Berth::new(berth_core::Store::at(b.root()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let rows = rt
        .block_on(berth.containers("page", &[]))
        .expect("containers");
    let row = |n: &str| {
        rows.iter()
            .find(|r| r.name == n)
            .unwrap_or_else(|| panic!("{n} listed: {rows:?}"))
    };
    assert_eq!(row("web").state, "running");
    assert!(row("web").status.starts_with("Up"), "{:?}", row("web"));
    let p = &row("web").ports;
    assert_eq!(p.len(), 1, "one row per published port: {p:?}");
    assert_eq!(p[0].public_port, Some(port));
    assert_eq!(
        p[0].url.as_deref(),
        Some(format!("http://{}:{port}", host.ip).as_str()),
        "a generic machine's ports answer at its address"
    );
    assert_eq!(row("shop-worker-1").project.as_deref(), Some("shop"));
    assert_eq!(row("web").project, None);
    assert_eq!(row("idle").state, "created");

    // Where it runs, and the create log kept from the create above.
    let d = berth.machine_details("page").expect("details");
    assert_eq!(d.driver, "generic");
    assert!(
        d.facts.contains(&("Address".to_string(), host.ip.clone())),
        "{:?}",
        d.facts
    );
    let create_log = d
        .logs
        .iter()
        .find(|l| l.label == "Create log")
        .unwrap_or_else(|| panic!("a create log: {:?}", d.logs));
    assert!(
        create_log.tail.contains(" == ") && create_log.tail.contains("Docker"),
        "{}",
        create_log.tail
    );
    let o = rt
        .block_on(berth.engine_overview("page"))
        .expect("overview");
    assert!(!o.version.is_empty() && o.cpus > 0 && o.memory > 0, "{o:?}");
    assert_eq!((o.containers, o.running), (3, 2), "{o:?}");

    // Logs: both streams, told apart, with Docker's time stamps.
    let lines = rt
        .block_on(berth.container_logs("page", "shop-worker-1", 1000))
        .expect("logs");
    assert!(
        lines
            .iter()
            .any(|l| l.stream == LogStream::Stdout && l.text == "to-out"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.stream == LogStream::Stderr && l.text == "to-err"),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| l.time.ends_with('Z')), "{lines:?}");
    // Following: lines written after the view opened arrive.
    let mut followed = Vec::new();
    rt.block_on(
        berth.follow_container_logs("page", "shop-worker-1", 0, |l| {
            followed.push(l.text);
            followed.len() < 2
        }),
    )
    .expect("follow");
    assert!(
        followed.iter().all(|t| t.starts_with("tick ")),
        "{followed:?}"
    );
    let known: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert!(
        followed.iter().any(|t| !known.contains(&t.as_str())),
        "new lines, not the old ones again: {followed:?}"
    );

    // A change made with the docker CLI reaches a follower of the machine's events.
    let (tx, rx) = std::sync::mpsc::channel();
    let root = b.root().to_path_buf();
    let follower = std::thread::spawn(move || {
        let berth = berth_core::ops::Berth::new(berth_core::Store::at(&root));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(berth.follow_machine_changes("page", |kind| {
            let _ = tx.send((std::time::Instant::now(), kind));
            false
        }))
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_ok(
        &docker("create --name made-elsewhere berth-test/busybox true"),
        "docker create",
    );
    let returned = std::time::Instant::now();
    let (seen, kind) = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the change was reported");
    let made = stdout(&docker("inspect -f '{{.Id}}' made-elsewhere"));
    assert_eq!(
        kind,
        berth_core::containers::ChangeKind::Container(made.trim().to_string()),
        "the change names its container"
    );
    // The page then asks for that one container only.
    let one = rt
        .block_on(berth.containers("page", &[made.trim().to_string()]))
        .expect("one container");
    assert_eq!(
        one.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["made-elsewhere"]
    );
    eprintln!(
        "docker create returned -> change reported: {} ms (negative: before it returned)",
        seen.saturating_duration_since(returned).as_millis() as i128
            - returned.saturating_duration_since(seen).as_millis() as i128
    );
    follower.join().expect("follower").expect("followed");
    assert_ok(&docker("rm made-elsewhere"), "docker rm");

    // Every action, as `docker inspect` sees it afterwards.
    use ContainerAction::*;
    for (action, want) in [
        (Stop, "exited"),
        (Start, "running"),
        (Pause, "paused"),
        (Unpause, "running"),
        (Restart, "running"),
        (Kill, "exited"),
    ] {
        rt.block_on(berth.container_action("page", "web", action))
            .unwrap_or_else(|e| panic!("{action:?}: {e}"));
        assert_eq!(state(&b, "web"), want, "after {action:?}");
    }
    rt.block_on(berth.container_action("page", "idle", Remove))
        .expect("remove");
    assert!(
        !stdout(&docker("ps -a --format '{{.Names}}'")).contains("idle"),
        "removed"
    );
    // Gone, or not a name at all: clear errors.
    let e = rt
        .block_on(berth.container_action("page", "idle", Start))
        .expect_err("gone");
    assert!(e.to_string().contains("no such container \"idle\""), "{e}");
    let e = rt
        .block_on(berth.container_action("page", "../../info", Start))
        .expect_err("not a name");
    assert!(
        e.to_string()
            .contains("is not a Docker object's ID or name"),
        "{e}"
    );

    // Images: the imported one, which cannot go while containers use it.
    let images = rt.block_on(berth.images("page")).expect("images");
    assert!(
        images
            .iter()
            .any(|i| i.tags.contains(&"berth-test/busybox:latest".to_string()) && i.size > 0),
        "{images:?}"
    );
    let e = rt
        .block_on(berth.remove_image("page", "berth-test/busybox", false))
        .expect_err("in use");
    assert!(e.to_string().contains("cannot do that now"), "{e}");

    // Volumes with their users; one in use stays.
    let volumes = rt.block_on(berth.volumes("page")).expect("volumes");
    let data = volumes
        .iter()
        .find(|v| v.name == "shopdata")
        .expect("shopdata listed");
    assert_eq!(data.used_by, vec!["shop-worker-1".to_string()]);
    assert!(
        rt.block_on(berth.remove_volume("page", "shopdata"))
            .is_err(),
        "in use"
    );
    rt.block_on(berth.container_action("page", "shop-worker-1", RemoveWithVolumes))
        .expect("remove the worker");
    rt.block_on(berth.remove_volume("page", "shopdata"))
        .expect("remove the volume once unused");
    assert!(rt.block_on(berth.prune_volumes("page")).expect("prune") >= 0);
    let nets = rt.block_on(berth.networks("page")).expect("networks");
    assert!(nets.iter().any(|n| n.name == "bridge"), "{nets:?}");

    run_inspect_and_disk_usage(&b, &berth, &rt, &host);
    pull_with_progress(&b, &berth, &rt, &host);
    assert_ok(&b.run(&["rm", "-y", "page"]), "rm");
}

/// Run from an image (a working published port; a failed start leaves nothing), Inspect,
/// saved logs and `system df`.
fn run_inspect_and_disk_usage(
    b: &Berth,
    berth: &berth_core::ops::Berth,
    rt: &tokio::runtime::Runtime,
    host: &TestHost,
) {
    use berth_core::containers::RunRequest;
    let docker = |args: &str| b.shell(&format!("eval \"$(berth env page)\" && docker {args}"));
    let port = free_port();
    let req = RunRequest {
        image: "berth-test/busybox".into(),
        name: "made-here".into(),
        command: "sh -c 'mkdir -p /w && echo \"$GREETING\" > /w/index.html && echo served >&2 && exec busybox httpd -f -p 80 -h /w'".into(),
        ports: vec![format!("{port}:80")],
        volumes: vec!["madedata:/data".into()],
        env: vec!["GREETING=hello from the run form".into()],
    };
    let id = rt.block_on(berth.run_container("page", &req)).expect("run");
    assert_eq!(state(b, "made-here"), "running");
    let mut body = String::new();
    for _ in 0..50 {
        let o = std::process::Command::new("curl")
            .args([
                "-fsS",
                "--max-time",
                "2",
                &format!("http://{}:{port}/", host.ip),
            ])
            .output()
            .expect("curl");
        body = stdout(&o);
        if o.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        body.trim(),
        "hello from the run form",
        "the published port answers"
    );

    // The same port again: the start fails, and the container it made is gone again.
    let clash = RunRequest {
        name: "clash".into(),
        ..req.clone()
    };
    let e = rt
        .block_on(berth.run_container("page", &clash))
        .expect_err("port taken");
    assert!(e.to_string().contains("removed again"), "{e}");
    assert!(
        !stdout(&docker("ps -a --format '{{.Names}}'")).contains("clash"),
        "nothing half-made is left"
    );
    // The name taken, bad fields: clear errors, nothing made.
    let e = rt
        .block_on(berth.run_container(
            "page",
            &RunRequest {
                ports: vec![],
                ..req.clone()
            },
        ))
        .expect_err("name taken");
    assert!(e.to_string().contains("exists already"), "{e}");
    let e = rt
        .block_on(berth.run_container(
            "page",
            &RunRequest {
                name: "bad".into(),
                ports: vec!["eighty".into()],
                ..req.clone()
            },
        ))
        .expect_err("bad port");
    assert!(e.to_string().contains("is not a port to publish"), "{e}");

    // Inspect: the daemon's JSON, every field.
    let json = rt
        .block_on(berth.inspect_container("page", "made-here"))
        .expect("inspect");
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Name"], "/made-here");
    assert!(
        v["Config"]["Env"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x == "GREETING=hello from the run form")),
        "{json}"
    );
    let e = rt
        .block_on(berth.inspect_container("page", "never-was"))
        .expect_err("gone");
    assert!(e.to_string().contains("no such container"), "{e}");

    // Saved logs: both streams, one line each, time-stamped.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = rt
        .block_on(berth.save_container_logs("page", "made-here", dir.path()))
        .expect("save logs");
    let saved = std::fs::read_to_string(&path).expect("saved file");
    assert!(
        saved
            .lines()
            .any(|l| l.ends_with(" stderr served") && l.contains('T')),
        "{saved}"
    );

    let df = rt.block_on(berth.disk_usage("page")).expect("df");
    assert!(df.images.count >= 1 && df.images.size > 0, "{df:?}");
    assert!(df.containers.active >= 1, "{df:?}");
    assert!(
        df.volume_sizes.iter().any(|(n, _)| n == "madedata"),
        "{df:?}"
    );
    rt.block_on(berth.container_action("page", "made-here", ContainerAction::RemoveWithVolumes))
        .expect("remove");
}

/// A registry inside the test host (Debian's docker-registry, on the host's loopback, which
/// Docker trusts over plain HTTP): a pull shows each layer's progress and the image appears; a
/// registry the machine cannot reach gives the error that says so.
fn pull_with_progress(
    b: &Berth,
    berth: &berth_core::ops::Berth,
    rt: &tokio::runtime::Runtime,
    host: &TestHost,
) {
    let registry = Registry::start(host);
    let docker = |args: &str| b.shell(&format!("eval \"$(berth env page)\" && docker {args}"));
    // An image of its own layer (busybox plus 4 MB), pushed, then deleted from the machine.
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox");
    let noise: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(root.join("noise"), noise).expect("noise");
    let tar = dir.path().join("big.tar");
    assert_ok(
        &std::process::Command::new("tar")
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(&root)
            .arg(".")
            .output()
            .expect("tar"),
        "tar",
    );
    let image = format!("127.0.0.1:{}/berth-test/big:v1", registry.port);
    assert_ok(
        &docker(&format!("import {} {image}", tar.display())),
        "import",
    );
    assert_ok(&docker(&format!("push {image}")), "push");
    assert_ok(&docker(&format!("rmi {image}")), "rmi");

    let mut steps = Vec::new();
    rt.block_on(berth.pull_image("page", &image, |s| steps.push(s)))
        .expect("pull");
    let layer = steps
        .iter()
        .find(|s| !s.layer.is_empty())
        .map(|s| s.layer.clone())
        .unwrap_or_else(|| panic!("a layer's steps: {steps:?}"));
    let of_layer: Vec<&str> = steps
        .iter()
        .filter(|s| s.layer == layer)
        .map(|s| s.status.as_str())
        .collect();
    assert!(
        of_layer.contains(&"Downloading") && of_layer.last() == Some(&"Pull complete"),
        "{of_layer:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.status == "Downloading" && s.total.is_some_and(|t| t > 1_000_000)),
        "byte counts: {steps:?}"
    );
    let images = rt.block_on(berth.images("page")).expect("images");
    assert!(
        images.iter().any(|i| i.tags.contains(&image)),
        "pulled: {images:?}"
    );
    // Nothing answers there: the machine has no route to that registry.
    let nowhere = format!("127.0.0.1:{}/berth-test/big:v1", free_port());
    let e = rt
        .block_on(berth.pull_image("page", &nowhere, |_| {}))
        .expect_err("unreachable");
    assert!(
        e.to_string().contains("could not reach the registry"),
        "{e}"
    );
    assert!(
        e.hint().unwrap_or_default().contains("from the machine"),
        "{e:?}"
    );
    let e = rt
        .block_on(berth.pull_image(
            "page",
            &format!("127.0.0.1:{}/berth-test/never:v1", registry.port),
            |_| {},
        ))
        .expect_err("missing");
    assert!(e.to_string().contains("no image"), "{e}");
    assert_ok(&docker(&format!("rmi {image}")), "rmi");
}

/// Debian's docker-registry, running in a test host's network namespace until dropped.
struct Registry {
    pid: String,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start(host: &TestHost) -> Registry {
        // The host's /tmp is its state dir's tmp (its own mount namespace).
        let dir = tempfile::tempdir_in(host.state.join("tmp")).expect("tempdir");
        let inside = std::path::Path::new("/tmp").join(dir.path().file_name().expect("name"));
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                inside.join("data").display()
            ),
        )
        .expect("config");
        let log = dir.path().join("registry.log");
        let pid = host.sh_ok(&format!(
            "docker-registry serve {} >{} 2>&1 & echo $!",
            inside.join("config.yml").display(),
            inside.join("registry.log").display()
        ));
        let r = Registry {
            pid: pid.trim().to_string(),
            port,
            _dir: dir,
        };
        for _ in 0..100 {
            if host
                .sh(&format!("busybox wget -q -O- http://127.0.0.1:{port}/v2/"))
                .status
                .success()
            {
                return r;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "the registry did not answer: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg(&self.pid).status();
    }
}
