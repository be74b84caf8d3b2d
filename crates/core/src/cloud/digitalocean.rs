//! DigitalOcean's REST API v2 (the calls the driver and `credentials test` make). Requests follow
//! the published OpenAPI contract (tests run them through Stoplight Prism on that contract).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{ATTEMPTS, backoff, http_error};
use crate::error::{Error, ErrorKind, Result};

pub const DEFAULT_API_URL: &str = "https://api.digitalocean.com";
/// Points the client at another endpoint (tests: Prism, or a proxy in front of a fake).
pub const API_URL_ENV: &str = "BERTH_DIGITALOCEAN_API_URL";

const CREDENTIALS_HINT: &str = "check the token (`berth credentials test digitalocean NAME`); \
     replace it with `berth credentials rm` + `add`, or set DIGITALOCEAN_ACCESS_TOKEN";

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    extra_headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Account {
    pub email: String,
    pub status: String,
    #[serde(default)]
    pub droplet_limit: i64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SshKey {
    pub id: i64,
    pub fingerprint: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct DropletRequest {
    pub name: String,
    pub region: String,
    pub size: String,
    pub image: String,
    pub ssh_keys: Vec<i64>,
    pub backups: bool,
    pub ipv6: bool,
    pub monitoring: bool,
    pub tags: Vec<String>,
    pub private_networking: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_uuid: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Droplet {
    pub id: i64,
    pub name: String,
    /// new, active, off, archive
    pub status: String,
    #[serde(default)]
    pub networks: Networks,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct Networks {
    #[serde(default)]
    pub v4: Vec<Address>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Address {
    pub ip_address: String,
    /// public or private
    #[serde(rename = "type")]
    pub kind: String,
}

impl Droplet {
    pub fn ipv4(&self, kind: &str) -> Option<&str> {
        self.networks
            .v4
            .iter()
            .find(|a| a.kind == kind)
            .map(|a| a.ip_address.as_str())
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Region {
    pub slug: String,
    pub name: String,
    pub available: bool,
    #[serde(default)]
    pub sizes: Vec<String>,
}

/// A droplet size, with what it costs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Size {
    pub slug: String,
    /// MB.
    pub memory: i64,
    pub vcpus: i64,
    /// GB.
    pub disk: i64,
    pub price_monthly: f64,
    pub price_hourly: f64,
    #[serde(default)]
    pub regions: Vec<String>,
    pub available: bool,
}

/// A public image (distribution images have a slug).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Image {
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub distribution: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Action {
    pub id: i64,
    /// in-progress, completed, errored
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    message: String,
}

impl Client {
    /// A client for `token`, at $BERTH_DIGITALOCEAN_API_URL or DigitalOcean's API.
    pub fn new(token: &str) -> Result<Client> {
        let base = std::env::var(API_URL_ENV)
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        Client::at(&base, token)
    }

    pub fn at(base: &str, token: &str) -> Result<Client> {
        let http = super::http_client()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            extra_headers: vec![],
        })
    }

    /// Adds a header to every request (tests: Prism's `Prefer: code=429`).
    pub fn with_header(mut self, name: &str, value: &str) -> Client {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<T>> {
        let url = format!("{}{}", self.base, path);
        let mut retry = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.token);
            for (k, v) in &self.extra_headers {
                req = req.header(k, v);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if e.is_timeout() => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!("DigitalOcean's API did not answer in time ({url})"),
                    ));
                }
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Driver,
                        format!("cannot reach DigitalOcean's API at {}: {e}", self.base),
                    )
                    .with_hint("check the network connection (and a proxy, if you use one)")
                    .with_source(e));
                }
            };
            let status = resp.status().as_u16();
            // A 5xx answer to a POST may come after DigitalOcean made the droplet or key: a
            // retry could make a second one. Only reads and deletes are retried then (a 429
            // was not processed, so it is retried for every method).
            let repeatable = method == reqwest::Method::GET || method == reqwest::Method::DELETE;
            if (status == 429 || (status >= 500 && repeatable)) && retry + 1 < ATTEMPTS {
                retry += 1;
                let after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                tokio::time::sleep(backoff(retry, after.as_deref())).await;
                continue;
            }
            let text = resp.text().await.unwrap_or_default();
            if !(200..300).contains(&status) {
                let message = serde_json::from_str::<ApiError>(&text)
                    .map(|e| e.message)
                    .unwrap_or_default();
                return Err(http_error(
                    "DigitalOcean",
                    status,
                    &message,
                    CREDENTIALS_HINT,
                ));
            }
            if status == 204 || text.trim().is_empty() {
                return Ok(None);
            }
            return serde_json::from_str(&text).map(Some).map_err(|e| {
                Error::new(
                    ErrorKind::Driver,
                    format!("DigitalOcean answered {path} with something unexpected: {e}"),
                )
            });
        }
    }

    async fn get_field<T: DeserializeOwned>(&self, path: &str, field: &str) -> Result<T> {
        let v: serde_json::Value = self
            .call(reqwest::Method::GET, path, None)
            .await?
            .unwrap_or_default();
        field_of(v, field, path)
    }

    async fn post_field<T: DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
        field: &str,
    ) -> Result<T> {
        let v: serde_json::Value = self
            .call(reqwest::Method::POST, path, Some(&body))
            .await?
            .unwrap_or_default();
        field_of(v, field, path)
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.call::<serde_json::Value>(reqwest::Method::DELETE, path, None)
            .await
            .map(|_| ())
    }

    pub async fn account(&self) -> Result<Account> {
        self.get_field("/v2/account", "account").await
    }

    pub async fn create_key(&self, name: &str, public_key: &str) -> Result<SshKey> {
        let body = serde_json::json!({ "name": name, "public_key": public_key });
        self.post_field("/v2/account/keys", body, "ssh_key").await
    }

    /// The account's SSH keys (first 200).
    pub async fn keys(&self) -> Result<Vec<SshKey>> {
        self.get_field("/v2/account/keys?per_page=200", "ssh_keys")
            .await
    }

    /// Droplets with a tag (first 200): what Berth made carries `berth-NAME`.
    pub async fn droplets_tagged(&self, tag: &str) -> Result<Vec<Droplet>> {
        self.get_field(
            &format!("/v2/droplets?tag_name={tag}&per_page=200"),
            "droplets",
        )
        .await
    }

    /// One key, by ID or fingerprint.
    pub async fn key(&self, id_or_fingerprint: &str) -> Result<SshKey> {
        self.get_field(&format!("/v2/account/keys/{id_or_fingerprint}"), "ssh_key")
            .await
    }

    /// The regions (all of them fit on one page of 200).
    pub async fn regions(&self) -> Result<Vec<Region>> {
        self.get_field("/v2/regions?per_page=200", "regions").await
    }

    /// The droplet sizes (all fit on one page of 200).
    pub async fn sizes(&self) -> Result<Vec<Size>> {
        self.get_field("/v2/sizes?per_page=200", "sizes").await
    }

    /// The distribution images (Ubuntu, Debian, Fedora, ...), first 200.
    pub async fn distribution_images(&self) -> Result<Vec<Image>> {
        self.get_field("/v2/images?type=distribution&per_page=200", "images")
            .await
    }

    pub async fn delete_key(&self, id: i64) -> Result<()> {
        self.delete(&format!("/v2/account/keys/{id}")).await
    }

    pub async fn create_droplet(&self, req: &DropletRequest) -> Result<Droplet> {
        let body = serde_json::to_value(req)
            .map_err(|e| Error::invalid(format!("droplet request: {e}")))?;
        self.post_field("/v2/droplets", body, "droplet").await
    }

    pub async fn droplet(&self, id: i64) -> Result<Droplet> {
        self.get_field(&format!("/v2/droplets/{id}"), "droplet")
            .await
    }

    pub async fn delete_droplet(&self, id: i64) -> Result<()> {
        self.delete(&format!("/v2/droplets/{id}")).await
    }

    /// power_on, power_off, shutdown, reboot, power_cycle
    pub async fn droplet_action(&self, id: i64, kind: &str) -> Result<Action> {
        let body = serde_json::json!({ "type": kind });
        self.post_field(&format!("/v2/droplets/{id}/actions"), body, "action")
            .await
    }

    pub async fn action(&self, id: i64) -> Result<Action> {
        self.get_field(&format!("/v2/actions/{id}"), "action").await
    }
}

fn field_of<T: DeserializeOwned>(mut v: serde_json::Value, field: &str, path: &str) -> Result<T> {
    let inner = v
        .get_mut(field)
        .map(serde_json::Value::take)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Driver,
                format!("DigitalOcean's answer to {path} has no \"{field}\""),
            )
        })?;
    serde_json::from_value(inner).map_err(|e| {
        Error::new(
            ErrorKind::Driver,
            format!("DigitalOcean's \"{field}\" from {path} is not as documented: {e}"),
        )
    })
}
