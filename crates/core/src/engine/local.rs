//! This computer's own Docker, through its Unix socket (no TLS: the socket's file mode is the
//! access control). Windows' named pipe is not read yet.

use std::time::Duration;

use bollard::Docker;

use crate::error::{Error, Result};

#[cfg(unix)]
pub(super) fn client(socket: &str, url: &str, timeout: Duration) -> Result<Docker> {
    // hyperlocal's URIs carry the socket's path, hex-encoded, as their host.
    let base: hyper::Uri = hyperlocal::Uri::new(socket, "/").into();
    super::over(
        hyperlocal::UnixConnector,
        base.to_string().trim_end_matches('/').to_string(),
        url,
        timeout,
    )
}

#[cfg(unix)]
pub(super) async fn get(
    socket: &str,
    url: &str,
    path: &str,
    timeout: Duration,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    let uri = hyperlocal::Uri::new(socket, path).into();
    super::send_get(hyperlocal::UnixConnector, uri, url, timeout).await
}

#[cfg(not(unix))]
pub(super) fn client(_socket: &str, _url: &str, _timeout: Duration) -> Result<Docker> {
    Err(unsupported())
}

#[cfg(not(unix))]
pub(super) async fn get(
    _socket: &str,
    _url: &str,
    _path: &str,
    _timeout: Duration,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    Err(unsupported())
}

#[cfg(not(unix))]
fn unsupported() -> Error {
    Error::engine("the local Docker page does not read Docker's named pipe on Windows yet")
        .with_hint("create a machine (or use Docker Desktop's own window) for now")
}

/// What went wrong reaching the local socket, in the user's terms (`lower`: `text` lower-cased).
pub(super) fn describe(url: &str, lower: &str, text: String) -> Error {
    if lower.contains("no such file") || lower.contains("connection refused") {
        Error::engine(format!("this computer's Docker does not answer at {url}"))
            .with_hint("start Docker (e.g. `sudo systemctl start docker`), or set DOCKER_HOST to its socket (unix://…) before starting Berth")
    } else if lower.contains("permission denied") {
        Error::engine(format!(
            "not allowed to use this computer's Docker at {url}"
        ))
        .with_hint(
            "add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again)",
        )
    } else if lower.contains("timed out") || lower.contains("deadline") {
        Error::timeout(format!(
            "this computer's Docker ({url}) did not answer in time"
        ))
    } else {
        Error::engine(format!("this computer's Docker ({url}): {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Endpoint;

    #[test]
    fn the_local_docker_is_docker_hosts_socket_or_the_default_one() {
        let socket = |h| match Endpoint::local_from(h) {
            Endpoint::Local { socket } => socket,
            Endpoint::Tls { .. } => unreachable!(),
        };
        assert_eq!(socket(None), "/var/run/docker.sock");
        assert_eq!(
            socket(Some("unix:///run/user/1000/docker.sock")),
            "/run/user/1000/docker.sock"
        );
        // A machine's TCP URL (the user's shell pointed at a machine) is not this computer.
        assert_eq!(socket(Some("tcp://127.0.0.1:2376")), "/var/run/docker.sock");
        assert_eq!(socket(Some("unix://")), "/var/run/docker.sock");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_missing_socket_says_to_start_docker() {
        let dir = tempfile::tempdir().unwrap();
        let ep = Endpoint::Local {
            socket: dir
                .path()
                .join("docker.sock")
                .to_string_lossy()
                .into_owned(),
        };
        let e = ep
            .connect(std::time::Duration::from_secs(2))
            .await
            .expect_err("no socket");
        assert!(e.message().contains("does not answer"), "{e}");
        assert!(e.hint().unwrap_or("").contains("DOCKER_HOST"), "{e:?}");
        let e = super::super::get_json(&ep, "/_ping", std::time::Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(e.message().contains("does not answer"), "{e}");
    }
}
