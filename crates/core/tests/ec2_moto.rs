//! The EC2 Query client against moto with signature checking: list actions page through
//! `nextToken`, and every page is signed and accepted. tests/cloud/run.sh starts moto and sets
//! BERTH_TEST_MOTO_URL / BERTH_TEST_AWS_ID / BERTH_TEST_AWS_SECRET.

use berth_core::cloud::aws::Client;
use berth_core::cloud::ec2::{Params, parse_instances};
use berth_core::credentials::Secret;

fn client() -> Client {
    let url = std::env::var("BERTH_TEST_MOTO_URL").expect("run through tests/cloud/run.sh");
    let keys = Secret::AwsKeys {
        access_key_id: std::env::var("BERTH_TEST_AWS_ID").expect("key id"),
        secret_access_key: std::env::var("BERTH_TEST_AWS_SECRET").expect("secret"),
        session_token: None,
    };
    Client::at(&url, &keys, "us-east-1").expect("client")
}

#[tokio::test]
#[ignore = "needs moto (tests/cloud/run.sh)"]
async fn lists_page_through_next_token() {
    let c = client();
    let mut launched = vec![];
    for n in 0..12 {
        let mut p = Params::new();
        p.set("ImageId", "ami-785db401")
            .set("InstanceType", "t3.micro")
            .set("TagSpecification.1.ResourceType", "instance")
            .tags("TagSpecification.1", &[("page-test".into(), n.to_string())]);
        launched.push(c.run_instance(&p).await.expect("RunInstances").id);
    }
    // One page of 5 says there is more...
    let xml = c
        .call("DescribeInstances", &[("MaxResults".into(), "5".into())])
        .await
        .expect("first page");
    assert!(xml.contains("<nextToken>"), "{xml}");
    // ...and paging collects all 12, each once.
    let mut p = Params::new();
    p.filter("tag-key", &["page-test"]);
    let mut pages = 0;
    let mut all: Vec<String> = c
        .paged("DescribeInstances", &Params::new(), Some(5), |doc| {
            pages += 1;
            parse_instances(doc)
        })
        .await
        .expect("paged")
        .into_iter()
        .map(|i| i.id)
        .filter(|id| launched.contains(id))
        .collect();
    assert!(pages >= 3, "{pages} pages");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 12);
    for id in &launched {
        c.instance_action("TerminateInstances", id, false)
            .await
            .expect("terminate");
    }
    assert_eq!(
        c.instances(&p)
            .await
            .expect("describe")
            .iter()
            .filter(|i| i.state != "terminated")
            .count(),
        0
    );
}

/// The create form's instance-type list: current generation, each with vCPUs and memory,
/// paged through (moto knows hundreds).
#[tokio::test]
#[ignore = "needs moto (tests/cloud/run.sh)"]
async fn instance_types_come_with_cpus_and_memory() {
    let types = client()
        .instance_types()
        .await
        .expect("DescribeInstanceTypes");
    assert!(types.len() > 100, "{} types", types.len());
    let micro = types
        .iter()
        .find(|t| t.name == "t3.micro")
        .expect("t3.micro is offered");
    assert_eq!((micro.vcpus, micro.memory_mib), (2, 1024));
    let mut names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), types.len(), "each type once");
}
