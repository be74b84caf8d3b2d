//! The DigitalOcean client through `prism proxy --errors` (DigitalOcean's OpenAPI contract,
//! checked in both directions) in front of tests/cloud/fake_do.py, a stateful fake: droplets
//! go new -> active, actions complete and change the droplet, deletes are real.
//! tests/cloud/run.sh starts both and sets BERTH_TEST_DO_URL / BERTH_TEST_DO_TOKEN.

use std::time::Duration;

use berth_core::ErrorKind;
use berth_core::cloud::digitalocean::{Client, DropletRequest};

fn client() -> Client {
    let url = std::env::var("BERTH_TEST_DO_URL").expect("run through tests/cloud/run.sh");
    let token = std::env::var("BERTH_TEST_DO_TOKEN").expect("token");
    Client::at(&url, &token).expect("client")
}

async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
#[ignore = "needs the fake behind Prism (tests/cloud/run.sh)"]
async fn a_droplet_from_key_to_delete() {
    let c = client();
    let key = c
        .create_key(
            "berth-life",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKlifecycleKeyForBerthTests life",
        )
        .await
        .expect("key");
    let again = c
        .create_key(
            "berth-life2",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKlifecycleKeyForBerthTests life",
        )
        .await
        .expect_err("same key twice");
    assert_eq!(again.kind(), ErrorKind::InvalidInput, "{again:?}");

    let created = c
        .create_droplet(&DropletRequest {
            name: "life".into(),
            region: "ams3".into(),
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            ssh_keys: vec![key.id],
            ipv6: false,
            tags: vec!["berth".into(), "berth-life".into()],
            ..Default::default()
        })
        .await
        .expect("droplet");
    assert_eq!(created.status, "new");
    assert_eq!(created.ipv4("public"), None);
    let id = created.id;
    until("active with an address", || async {
        let d = c.droplet(id).await.expect("get");
        d.status == "active" && d.ipv4("public") == Some(expected_ip().as_str())
    })
    .await;

    let off = c.droplet_action(id, "power_off").await.expect("power_off");
    assert_eq!(off.status, "in-progress");
    until("power_off completed", || async {
        c.action(off.id).await.expect("action").status == "completed"
    })
    .await;
    assert_eq!(c.droplet(id).await.expect("get").status, "off");
    let on = c.droplet_action(id, "power_on").await.expect("power_on");
    until("power_on completed", || async {
        c.action(on.id).await.expect("action").status == "completed"
    })
    .await;
    assert_eq!(c.droplet(id).await.expect("get").status, "active");

    let tagged = c.droplets_tagged("berth-life").await.expect("tagged");
    assert_eq!(tagged.iter().map(|d| d.id).collect::<Vec<_>>(), vec![id]);
    c.delete_droplet(id).await.expect("delete");
    assert_eq!(
        c.droplet(id).await.expect_err("gone").kind(),
        ErrorKind::NotFound
    );
    c.delete_key(key.id).await.expect("delete key");
    assert!(c.keys().await.expect("keys").is_empty(), "nothing left");
    assert!(
        c.droplets_tagged("berth-life")
            .await
            .expect("tagged")
            .is_empty()
    );
    assert_eq!(
        c.delete_key(key.id).await.expect_err("twice").kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
#[ignore = "needs the fake behind Prism (tests/cloud/run.sh)"]
async fn a_wrong_token_is_refused_with_a_hint() {
    let url = std::env::var("BERTH_TEST_DO_URL").expect("url");
    let e = Client::at(&url, "dop_v1_wrong")
        .expect("client")
        .account()
        .await
        .expect_err("401");
    assert!(e.message().contains("401"), "{e:?}");
    assert!(
        e.hint().unwrap_or("").contains("berth credentials"),
        "{e:?}"
    );
}

fn expected_ip() -> String {
    std::env::var("BERTH_TEST_DO_IPV4").expect("ipv4")
}
