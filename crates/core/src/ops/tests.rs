//! The operations' orchestration against the in-process test driver (drivers/fake.rs):
//! rollback, keep-on-failure, cancel, the machine lock, options that cannot change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::drivers::OptionValue::Str;
use crate::drivers::fake::{self, Fake};
use crate::progress::Silent;

struct World {
    _dir: tempfile::TempDir,
    cloud: std::path::PathBuf,
    berth: Berth,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let cloud = dir.path().join("cloud");
    std::fs::create_dir(&cloud).unwrap();
    let mut berth = Berth::new(Store::at(dir.path().join("store")));
    berth.lock_wait = Duration::from_millis(300);
    World {
        _dir: dir,
        cloud,
        berth,
    }
}

fn progress() -> ProgressRef {
    Arc::new(Silent)
}

fn spec(w: &World, name: &str, options: &[(&str, &str)]) -> CreateSpec {
    let mut o = DriverOptions::default();
    o.set("test-fake-cloud", Str(w.cloud.display().to_string()));
    for (k, v) in options {
        o.set(k, Str(v.to_string()));
    }
    CreateSpec {
        name: name.into(),
        driver: fake::NAME.into(),
        driver_options: o,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_create_that_works_leaves_a_ready_machine_and_its_resource() {
    let w = world();
    let m = w
        .berth
        .create(&spec(&w, "ok", &[]), &progress())
        .await
        .unwrap();
    assert_eq!(m.status.phase, Phase::Ready);
    assert_eq!(Fake::resources(&w.cloud).len(), 1);
    assert_eq!(w.berth.load("ok").unwrap().status.phase, Phase::Ready);
}

#[tokio::test]
async fn a_failed_create_removes_what_it_made_and_keeps_the_reason() {
    let w = world();
    let e = w
        .berth
        .create(
            &spec(&w, "bad", &[("test-fake-fail-at", "create")]),
            &progress(),
        )
        .await
        .unwrap_err();
    assert!(e.message().contains("fails at create"), "{e}");
    assert_eq!(Fake::resources(&w.cloud), Vec::<String>::new());
    let m = w.berth.load("bad").unwrap();
    assert_eq!(m.status.phase, Phase::Error);
    assert!(m.status.error.unwrap().contains("fails at create"));
    // Nothing made is left on record either.
    assert_eq!(m.driver["Resource"], serde_json::Value::Null);
}

#[tokio::test]
async fn keep_on_failure_keeps_what_was_made_until_rm() {
    let w = world();
    let mut s = spec(&w, "kept", &[("test-fake-fail-at", "create")]);
    s.keep_on_failure = true;
    w.berth.create(&s, &progress()).await.unwrap_err();
    let made = Fake::resources(&w.cloud);
    assert_eq!(made.len(), 1);
    assert_eq!(
        w.berth.load("kept").unwrap().driver["Resource"],
        made[0].as_str()
    );
    w.berth.remove("kept", false, &progress()).await.unwrap();
    assert_eq!(Fake::resources(&w.cloud), Vec::<String>::new());
    assert!(!w.berth.store.exists("kept"));
}

#[tokio::test]
async fn a_failed_pre_create_check_leaves_no_trace() {
    let w = world();
    let e = w
        .berth
        .create(
            &spec(&w, "pre", &[("test-fake-fail-at", "pre-create")]),
            &progress(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PreCreate);
    assert!(!w.berth.store.exists("pre"));
    assert_eq!(Fake::resources(&w.cloud), Vec::<String>::new());
}

#[tokio::test]
async fn a_cancelled_create_stops_at_once_and_cleans_up() {
    let w = world();
    let cancel = Cancel::default();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        c2.cancel();
    });
    let started = Instant::now();
    let e = w
        .berth
        .create_or_cancel(
            &spec(&w, "slow", &[("test-fake-stall-ms", "60000")]),
            &progress(),
            &cancel,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(Fake::resources(&w.cloud), Vec::<String>::new());
    let m = w.berth.load("slow").unwrap();
    assert_eq!(m.status.phase, Phase::Error);
    assert_eq!(m.status.error.as_deref(), Some("creation was cancelled"));
    assert!(m.status.hint.unwrap().contains("berth rm slow"));
}

#[tokio::test]
async fn an_action_on_a_busy_machine_waits_then_says_busy() {
    let w = world();
    w.berth
        .create(&spec(&w, "held", &[]), &progress())
        .await
        .unwrap();
    let held = w.berth.store.lock("held", Duration::ZERO).unwrap();
    let started = Instant::now();
    let e = w
        .berth
        .remove("held", false, &progress())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(Fake::resources(&w.cloud).len(), 1, "nothing removed");
    drop(held);
    w.berth.remove("held", false, &progress()).await.unwrap();
    assert_eq!(Fake::resources(&w.cloud), Vec::<String>::new());
}

#[tokio::test]
async fn a_create_of_a_name_being_created_is_refused() {
    let w = world();
    let (slow, p) = (
        spec(&w, "twice", &[("test-fake-stall-ms", "500")]),
        progress(),
    );
    let first = w.berth.create(&slow, &p);
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        w.berth.create(&spec(&w, "twice", &[]), &progress()).await
    };
    let (a, b) = tokio::join!(first, second);
    a.unwrap();
    assert_eq!(b.unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert_eq!(Fake::resources(&w.cloud).len(), 1);
}

#[tokio::test]
async fn options_of_a_driver_that_is_not_reconfigurable_are_refused() {
    let w = world();
    w.berth
        .create(&spec(&w, "fixed", &[]), &progress())
        .await
        .unwrap();
    let mut o = DriverOptions::default();
    o.set("test-fake-address", Str("localhost".into()));
    let e = w
        .berth
        .provision("fixed", Some(&o), &progress())
        .await
        .unwrap_err();
    assert!(e.message().contains("cannot change after create"), "{e}");
    assert_eq!(
        w.berth.load("fixed").unwrap().driver["Address"],
        "127.0.0.1"
    );
}
