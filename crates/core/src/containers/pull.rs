//! Pulling an image onto the machine, with each layer's progress as Docker reports it.
//! Docker pulls from the machine, not from this computer: a registry this computer reaches may
//! be out of the machine's reach, and the errors say so.

use bollard::Docker;
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{check_reference, object_error};
use crate::error::{Error, Result};

/// One step of a pull: a layer's status (with bytes where Docker counts them), or a line about
/// the whole pull (`layer` empty: "Pulling from …", "Digest: …", "Status: …").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PullProgress {
    pub layer: String,
    /// Docker's words: "Pulling fs layer", "Downloading", "Extracting", "Pull complete",
    /// "Already exists".
    pub status: String,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub current: Option<i64>,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub total: Option<i64>,
}

/// `repo[:tag]` or `repo@digest` as Docker's create-image call takes it: without a tag Docker
/// would pull every tag of the repository, so the docker CLI's `latest` is filled in.
pub fn split_reference(reference: &str) -> (String, Option<String>) {
    if reference.contains('@') {
        return (reference.to_string(), None);
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    match last.rfind(':') {
        Some(i) => {
            let cut = reference.len() - last.len() + i;
            (
                reference[..cut].to_string(),
                Some(reference[cut + 1..].to_string()),
            )
        }
        None => (reference.to_string(), Some("latest".to_string())),
    }
}

/// Pulls `reference` onto the machine, handing each step to `progress`.
pub async fn pull(
    docker: &Docker,
    reference: &str,
    mut progress: impl FnMut(PullProgress),
) -> Result<()> {
    let reference = reference.trim();
    check_reference(reference)?;
    let (image, tag) = split_reference(reference);
    let mut steps = docker.create_image(
        Some(CreateImageOptions {
            from_image: Some(image),
            tag,
            ..Default::default()
        }),
        None,
        None,
    );
    while let Some(step) = steps.next().await {
        let step = step.map_err(|e| match &e {
            bollard::errors::Error::DockerStreamError { error } => pull_error(reference, error),
            bollard::errors::Error::DockerResponseServerError { message, .. } => {
                pull_error(reference, message)
            }
            _ => object_error("image", reference, &e),
        })?;
        if let Some(e) = step.error_detail.and_then(|d| d.message) {
            return Err(pull_error(reference, &e));
        }
        let Some(status) = step.status else { continue };
        let detail = step.progress_detail.unwrap_or_default();
        let id = step.id.unwrap_or_default();
        // Docker names the tag in "Pulling from" lines' id: only layer IDs are layers.
        let is_layer = id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit());
        progress(PullProgress {
            layer: if is_layer { id } else { String::new() },
            status,
            current: detail.current,
            total: detail.total.filter(|t| *t > 0),
        });
    }
    Ok(())
}

/// Docker's pull failure, said as what the user can act on.
fn pull_error(reference: &str, docker_says: &str) -> Error {
    let unreachable = [
        "dial tcp",
        "connection refused",
        "no such host",
        "i/o timeout",
        "network is unreachable",
        "no route to host",
        "TLS handshake timeout",
        "server gave HTTP response to HTTPS client",
        "Client.Timeout",
    ];
    let missing = [
        "not found",
        "manifest unknown",
        "pull access denied",
        "repository does not exist",
    ];
    if unreachable.iter().any(|u| docker_says.contains(u)) {
        Error::engine(format!(
            "the machine could not reach the registry for \"{reference}\": {docker_says}"
        ))
        .with_hint(
            "Docker pulls from the machine, not from this computer: check the machine's \
             network (DNS, proxy, firewall). A registry on your own network must be reachable \
             from the machine, and a plain-HTTP one listed with --engine-insecure-registry",
        )
    } else if missing.iter().any(|m| docker_says.contains(m)) {
        Error::not_found(format!("no image \"{reference}\": {docker_says}")).with_hint(
            "check the name and tag; a private image needs `docker login` to its registry \
             on the machine",
        )
    } else {
        Error::engine(format!("pulling \"{reference}\" failed: {docker_says}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_without_a_tag_means_latest() {
        for (r, image, tag) in [
            ("busybox", "busybox", Some("latest")),
            ("busybox:1.36", "busybox", Some("1.36")),
            (
                "127.0.0.1:5000/berth/busybox",
                "127.0.0.1:5000/berth/busybox",
                Some("latest"),
            ),
            (
                "127.0.0.1:5000/berth/busybox:v2",
                "127.0.0.1:5000/berth/busybox",
                Some("v2"),
            ),
            ("busybox@sha256:abc", "busybox@sha256:abc", None),
        ] {
            assert_eq!(
                split_reference(r),
                (image.to_string(), tag.map(String::from)),
                "{r}"
            );
        }
    }

    #[test]
    fn pull_failures_say_whose_network_failed() {
        let e = pull_error(
            "127.0.0.1:5999/x",
            "Get \"https://127.0.0.1:5999/v2/\": dial tcp 127.0.0.1:5999: connect: connection refused",
        );
        assert!(
            e.to_string().contains("could not reach the registry"),
            "{e}"
        );
        assert!(e.hint().unwrap_or_default().contains("from the machine"));
        let e = pull_error("nope", "manifest unknown: manifest unknown");
        assert_eq!(e.kind(), crate::error::ErrorKind::NotFound);
    }
}
