//! The Docker Engine API over mutual TLS (bollard). The TLS configuration trusts only the
//! machine's own CA (bollard's `connect_with_ssl` would also trust every public root and
//! re-read the OS store on each call) and is built once per certificate set, so `ls` can
//! query fifty machines with one configuration. This computer's own Docker is reached through
//! its Unix socket instead (`local`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::certs::MachineCerts;
use crate::error::{Error, Result};

mod local;

/// Client-side TLS for one certificate set (CA + client cert/key).
#[derive(Clone)]
pub struct EngineTls {
    config: Arc<rustls::ClientConfig>,
}

impl EngineTls {
    pub fn from_pem(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<EngineTls> {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::store(format!("cannot use the {what}: {e}"))
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem) {
            roots
                .add(c.map_err(|e| bad("CA certificate", &e))?)
                .map_err(|e| bad("CA certificate", &e))?;
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad("client certificate", &e))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad("client key", &e))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("TLS configuration", &e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| bad("client certificate", &e))?;
        Ok(EngineTls {
            config: Arc::new(config),
        })
    }

    /// The set in a machine's directory (what DOCKER_CERT_PATH points at).
    pub fn from_machine_dir(dir: &Path) -> Result<EngineTls> {
        let m = MachineCerts::in_dir(dir);
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| Error::store(format!("cannot read {}: {e}", p.display())))
        };
        Self::from_pem(&read(&m.ca)?, &read(&m.cert)?, &read(&m.key)?)
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EngineVersion {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
}

static LAUNCH_DOCKER_HOST: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Keeps `DOCKER_HOST` as it is now for [`Endpoint::local`]: the app clears the variable when it
/// starts (it follows the host chosen with Berth), yet a `unix://` one still says where this
/// computer's Docker is.
pub fn keep_launch_docker_host() {
    let _ = LAUNCH_DOCKER_HOST.set(std::env::var("DOCKER_HOST").ok());
}

/// Where a Docker API answers: a machine's mutual-TLS endpoint, or this computer's own Docker
/// through its socket (the machine page's "local Docker").
#[derive(Clone)]
pub enum Endpoint {
    Tls {
        url: String,
        tls: EngineTls,
    },
    /// A Unix socket's path.
    Local {
        socket: String,
    },
}

impl Endpoint {
    /// This computer's Docker: `DOCKER_HOST` when it names a Unix socket (rootless Docker,
    /// Docker Desktop, Colima), else the default socket, as the docker CLI's default context.
    pub fn local() -> Endpoint {
        let host = LAUNCH_DOCKER_HOST
            .get()
            .cloned()
            .unwrap_or_else(|| std::env::var("DOCKER_HOST").ok());
        Self::local_from(host.as_deref())
    }

    fn local_from(docker_host: Option<&str>) -> Endpoint {
        let socket = docker_host
            .and_then(|h| h.strip_prefix("unix://"))
            .filter(|p| !p.is_empty())
            .unwrap_or("/var/run/docker.sock");
        Endpoint::Local {
            socket: socket.to_string(),
        }
    }

    /// The URL error messages name.
    pub fn url(&self) -> String {
        match self {
            Endpoint::Tls { url, .. } => url.clone(),
            Endpoint::Local { socket } => format!("unix://{socket}"),
        }
    }

    /// A Docker client for it, negotiated down to the daemon's API version.
    pub async fn connect(&self, timeout: Duration) -> Result<Docker> {
        match self {
            Endpoint::Tls { url, tls } => connect(url, tls, timeout).await,
            Endpoint::Local { socket } => {
                let url = self.url();
                negotiated(local::client(socket, &url, timeout)?, &url, timeout).await
            }
        }
    }
}

/// A Docker client for `url` (`tcp://host:port`), negotiated down to the daemon's API version.
pub async fn connect(url: &str, tls: &EngineTls, timeout: Duration) -> Result<Docker> {
    negotiated(client(url, tls, timeout)?, url, timeout).await
}

async fn negotiated(docker: Docker, url: &str, timeout: Duration) -> Result<Docker> {
    match tokio::time::timeout(timeout, docker.negotiate_version()).await {
        Err(_) => Err(Error::timeout(format!(
            "the Docker API at {url} did not answer within {} s",
            timeout.as_secs_f32()
        ))),
        Ok(Err(e)) => Err(describe(url, &e)),
        Ok(Ok(d)) => Ok(d),
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

fn https_connector(tls: &EngineTls, timeout: Duration) -> Https {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    http.set_nodelay(true);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls.config).clone())
        .https_only()
        .enable_http1()
        .wrap_connector(http)
}

fn host_port(url: &str) -> &str {
    url.strip_prefix("tcp://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url)
        .trim_end_matches('/')
}

/// A client without version negotiation (one round trip less): enough for `/version`, which
/// every daemon answers whatever the client's API version.
fn client(url: &str, tls: &EngineTls, timeout: Duration) -> Result<Docker> {
    over(
        https_connector(tls, timeout),
        format!("https://{}", host_port(url)),
        url,
        timeout,
    )
}

/// bollard over our own hyper client with `connector`, its requests sent to `base`.
fn over<C>(connector: C, base: String, url: &str, timeout: Duration) -> Result<Docker>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let client = Arc::new(
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build(connector),
    );
    let transport = move |req: bollard::BollardRequest| {
        let client = client.clone();
        async move {
            client
                .request(req)
                .await
                .map_err(|e| bollard::errors::Error::HyperLegacyError { err: e })
        }
    };
    Docker::connect_with_custom_transport(
        transport,
        Some(base),
        timeout.as_secs().max(1),
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| Error::engine(format!("cannot set up a Docker client for {url}: {e}")))
}

/// Turns bollard/hyper/rustls errors into what the user needs to know.
pub fn describe(url: &str, e: &bollard::errors::Error) -> Error {
    let mut text = e.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    let lower = text.to_lowercase();
    if url.starts_with("unix://") {
        return local::describe(url, &lower, text);
    }
    if lower.contains("notvalidforname") || lower.contains("not valid for") {
        Error::engine(format!(
            "the Docker daemon at {url} presented a certificate for another address ({text})"
        ))
        .with_hint("run `berth regenerate-certs NAME`")
    } else if lower.contains("unknownissuer")
        || lower.contains("badcertificate")
        || lower.contains("certificate")
    {
        Error::engine(format!("TLS with the Docker daemon at {url} failed: {text}"))
            .with_hint("the daemon and this machine's certificates disagree: run `berth regenerate-certs NAME`")
    } else if lower.contains("connection refused") {
        Error::engine(format!("nothing answers at {url} (connection refused)")).with_hint(
            "is dockerd running with TLS on that port? `berth provision NAME` reconfigures it",
        )
    } else if lower.contains("timed out") || lower.contains("deadline") {
        Error::timeout(format!("the Docker API at {url} did not answer in time"))
    } else {
        Error::engine(format!("Docker API at {url}: {text}"))
    }
}

pub async fn version(docker: &Docker, url: &str) -> Result<EngineVersion> {
    let v = docker.version().await.map_err(|e| describe(url, &e))?;
    Ok(EngineVersion {
        version: v.version.unwrap_or_default(),
        api_version: v.api_version.unwrap_or_default(),
        os: v.os.unwrap_or_default(),
        arch: v.arch.unwrap_or_default(),
    })
}

/// One GET of the Docker API at `path`, headers only (the body is the caller's to read).
async fn get(
    url: &str,
    tls: &EngineTls,
    path: &str,
    timeout: Duration,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    let uri: hyper::Uri = format!("https://{}{path}", host_port(url))
        .parse()
        .map_err(|e| Error::invalid(format!("\"{url}\" is not a Docker URL: {e}")))?;
    send_get(https_connector(tls, timeout), uri, url, timeout).await
}

/// Sends one GET of `uri` through `connector`; errors name the API as `url`.
async fn send_get<C>(
    connector: C,
    uri: hyper::Uri,
    url: &str,
    timeout: Duration,
) -> Result<hyper::Response<hyper::body::Incoming>>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let client: Client<C, http_body_util::Empty<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let req = hyper::Request::get(uri)
        .body(http_body_util::Empty::new())
        .map_err(|e| Error::engine(e.to_string()))?;
    match tokio::time::timeout(timeout, client.request(req)).await {
        Err(_) => Err(Error::timeout(format!(
            "{} did not answer within {} s",
            api_name(url),
            timeout.as_secs_f32()
        ))),
        Ok(Err(e)) => Err(describe(
            url,
            &bollard::errors::Error::HyperLegacyError { err: e },
        )),
        Ok(Ok(r)) => Ok(r),
    }
}

/// How messages name the Docker API at `url`.
fn api_name(url: &str) -> String {
    if url.starts_with("unix://") {
        format!("this computer's Docker ({url})")
    } else {
        format!("the Docker API at {url}")
    }
}

/// The Docker API's JSON at `path` as the daemon wrote it, every field kept (bollard's models
/// follow the newest API and drop what older daemons say: `docker inspect` must show it all).
/// A 404 is NotFound with Docker's message.
pub async fn get_json(ep: &Endpoint, path: &str, timeout: Duration) -> Result<serde_json::Value> {
    use http_body_util::BodyExt;
    let resp = match ep {
        Endpoint::Tls { url, tls } => get(url, tls, path, timeout).await?,
        Endpoint::Local { socket } => local::get(socket, &ep.url(), path, timeout).await?,
    };
    let url = &ep.url();
    let status = resp.status();
    let body = tokio::time::timeout(timeout, resp.into_body().collect())
        .await
        .map_err(|_| Error::timeout(format!("the Docker API at {url} stopped mid-answer")))?
        .map_err(|e| Error::engine(format!("the Docker API at {url}: {e}")))?
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        Error::engine(format!(
            "the Docker API at {url} answered {path} with something that is not JSON ({e})"
        ))
    })?;
    let message = || json["message"].as_str().unwrap_or("").to_string();
    match status.as_u16() {
        200..=299 => Ok(json),
        404 => Err(Error::not_found(message())),
        s => Err(Error::engine(format!(
            "the Docker API at {url} answered {s}: {}",
            message()
        ))),
    }
}

/// The health check used by ls, status and provisioning: `GET /_ping` over mutual TLS. The
/// version comes from the `Server: Docker/<version>` header every dockerd response carries;
/// `/version` is asked only when that header is missing (dockerd 20.10 answers `/version` by
/// running `runc --version` and `docker-init --version`: too slow for fifty machines at once).
pub async fn probe(url: &str, tls: &EngineTls, timeout: Duration) -> Result<EngineVersion> {
    let resp = get(url, tls, "/_ping", timeout).await?;
    if !resp.status().is_success() {
        return Err(Error::engine(format!(
            "the Docker API at {url} answered {}",
            resp.status()
        )));
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let server = header("server");
    match server.strip_prefix("Docker/") {
        Some(rest) => {
            let (version, os) = rest.split_once(' ').unwrap_or((rest, ""));
            Ok(EngineVersion {
                version: version.to_string(),
                api_version: header("api-version"),
                os: os.trim_matches(|c| c == '(' || c == ')').to_string(),
                arch: String::new(),
            })
        }
        None => {
            let docker = self::client(url, tls, timeout)?;
            match tokio::time::timeout(timeout, version(&docker, url)).await {
                Ok(r) => r,
                Err(_) => Err(Error::timeout(format!(
                    "the Docker API at {url} did not answer within {} s",
                    timeout.as_secs_f32()
                ))),
            }
        }
    }
}

/// Waits until the daemon answers over TLS after a restart: cheap pings first, then the
/// version through bollard with API version negotiation (what later API calls will use).
pub async fn wait_ready(url: &str, tls: &EngineTls, within: Duration) -> Result<EngineVersion> {
    let deadline = Instant::now() + within;
    let mut pause = Duration::from_millis(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match probe(
            url,
            tls,
            left.min(Duration::from_secs(5))
                .max(Duration::from_millis(200)),
        )
        .await
        {
            Ok(_) => {
                let docker = connect(url, tls, left.max(Duration::from_secs(5))).await?;
                return version(&docker, url).await;
            }
            // A certificate problem will not fix itself by waiting.
            Err(e) if e.message().contains("certificate") => return Err(e),
            Err(e) if Instant::now() + pause >= deadline => {
                return Err(e.context(format!("Docker did not answer at {url} within {} s", within.as_secs())).or_hint(
                    "dockerd runs on the host but its TLS port does not answer from here: a firewall (ufw, firewalld, a cloud security group) may block it",
                ));
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
        }
    }
}
