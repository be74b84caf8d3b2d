//! The DigitalOcean client against Stoplight Prism serving DigitalOcean's published OpenAPI
//! contract (tests/cloud/run.sh starts it and sets BERTH_TEST_PRISM_URL). Prism answers 422 to
//! any request that breaks the contract, so each call succeeding checks its request's shape.
//! `Prefer: code=N` makes Prism answer the contract's own example for that status.

use berth_core::ErrorKind;
use berth_core::cloud::digitalocean::{Client, DropletRequest};

fn prism() -> String {
    std::env::var("BERTH_TEST_PRISM_URL").expect("run through tests/cloud/run.sh")
}

fn client() -> Client {
    Client::at(&prism(), "dop_v1_prism").expect("client")
}

#[tokio::test]
#[ignore = "needs Prism (tests/cloud/run.sh)"]
async fn every_call_matches_the_contract() {
    let c = client();
    let account = c.account().await.expect("account");
    assert!(!account.email.is_empty());

    let key = c
        .create_key("berth-m1", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB5Q berth")
        .await
        .expect("create key");
    let regions = c.regions().await.expect("regions");
    assert!(regions.iter().any(|r| r.available && !r.sizes.is_empty()));
    c.key("3b:16:e4:bf:8b:00:8b:b8:59:8c:a9:d3:f0:19:fa:45")
        .await
        .expect("key by fingerprint");
    c.key(&key.id.to_string()).await.expect("key by id");
    let droplet = c
        .create_droplet(&DropletRequest {
            name: "m1".into(),
            region: "nyc3".into(),
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            ssh_keys: vec![key.id],
            backups: false,
            ipv6: true,
            monitoring: true,
            tags: vec!["berth".into(), "berth-m1".into()],
            user_data: Some("#cloud-config\n".into()),
            private_networking: true,
            vpc_uuid: None,
        })
        .await
        .expect("create droplet");
    let d = c.droplet(droplet.id).await.expect("droplet");
    assert!(d.ipv4("public").is_some() || d.ipv4("private").is_some());
    for kind in ["power_on", "power_off", "shutdown", "reboot", "power_cycle"] {
        let a = c.droplet_action(d.id, kind).await.expect(kind);
        c.action(a.id).await.expect("action status");
    }
    c.delete_droplet(d.id).await.expect("delete droplet");
    c.delete_key(key.id).await.expect("delete key");
}

#[tokio::test]
#[ignore = "needs Prism (tests/cloud/run.sh)"]
async fn a_request_off_the_contract_fails() {
    // Prism's 422: proves the shape checks above can fail.
    let e = client()
        .droplet_action(1, "explode")
        .await
        .expect_err("unknown action type");
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e:?}");
}

#[tokio::test]
#[ignore = "needs Prism (tests/cloud/run.sh)"]
async fn api_errors_say_what_to_do() {
    let e = client()
        .with_header("Prefer", "code=401")
        .account()
        .await
        .expect_err("401");
    assert!(
        e.message().contains("refused the credentials (401)"),
        "{e:?}"
    );
    assert!(e.hint().unwrap_or("").contains("credentials"), "{e:?}");

    let e = client()
        .with_header("Prefer", "code=404")
        .droplet(3164444)
        .await
        .expect_err("404");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");

    // Throttled every time: retried with backoff, then said plainly.
    let started = std::time::Instant::now();
    let e = client()
        .with_header("Prefer", "code=429")
        .account()
        .await
        .expect_err("429");
    assert!(e.message().contains("rate-limiting"), "{e:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(500),
        "retried"
    );

    let e = client()
        .with_header("Prefer", "code=500")
        .account()
        .await
        .expect_err("500");
    assert!(e.hint().unwrap_or("").contains("try again later"), "{e:?}");
}

#[tokio::test]
async fn nothing_listening_is_a_clear_error() {
    // A loopback port nothing listens on.
    let e = Client::at("http://127.0.0.1:9", "t")
        .expect("client")
        .account()
        .await
        .expect_err("refused");
    assert!(
        e.message().contains("cannot reach DigitalOcean's API"),
        "{e:?}"
    );
    assert!(e.hint().is_some());
}

/// The create form's lists: regions, sizes with their prices, distribution images, in the
/// shapes the contract gives.
#[tokio::test]
#[ignore = "needs Prism (tests/cloud/run.sh)"]
async fn the_form_lists_match_the_contract() {
    let c = client();
    let sizes = c.sizes().await.expect("sizes");
    let s = sizes.first().expect("a size");
    assert!(!s.slug.is_empty() && s.vcpus > 0 && s.memory > 0 && s.price_monthly > 0.0);
    let label = berth_core::cloud::choices::droplet_size_label(s);
    assert!(
        label.contains("/month") && label.starts_with(&s.slug),
        "{label}"
    );
    let images = c.distribution_images().await.expect("images");
    assert!(images.iter().any(|i| i.slug.is_some()), "{images:?}");
    assert!(!c.regions().await.expect("regions").is_empty());
}
