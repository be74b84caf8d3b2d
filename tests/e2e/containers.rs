//! The machine page's operations (`berth_core::containers` through `Berth`) against a real test
//! host's dockerd, with containers made by the docker CLI: the list with states, published
//! ports as links and compose projects; logs of both streams, and lines written while
//! following; every container action, checked with `docker inspect`; images, volumes (with
//! their users) and networks; and clear errors for objects that are gone, in use, or not
//! names at all.

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

    let rows = rt.block_on(berth.containers("page")).expect("containers");
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
        rt.block_on(berth.follow_machine_changes("page", || {
            let _ = tx.send(std::time::Instant::now());
            false
        }))
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_ok(
        &docker("create --name made-elsewhere berth-test/busybox true"),
        "docker create",
    );
    let returned = std::time::Instant::now();
    let seen = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the change was reported");
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
    assert_ok(&b.run(&["rm", "-y", "page"]), "rm");
}
