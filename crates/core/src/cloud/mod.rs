//! Cloud provider API clients (used by the cloud drivers and `berth credentials test`).

pub mod aws;
pub mod choices;
pub mod digitalocean;
pub mod ec2;

use std::time::Duration;

use crate::credentials::{Provider, Secret};
use crate::error::{Error, ErrorKind, Result};

/// The HTTP client both providers' APIs use: bounded waits, Berth's user agent.
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::new(ErrorKind::Driver, format!("HTTP client: {e}")))
}

/// How an `add_account` whose API check failed begins its message.
pub const UNCHECKED: &str = "the secret could not be checked";

/// Adds a cloud account: name and secret checked, then (with `verify`) one real API call, and
/// only then the secret stored in the keychain. Returns the account and what the call reached.
pub async fn add_account(
    creds: &crate::credentials::Credentials,
    provider: Provider,
    name: &str,
    secret: &Secret,
    verify: bool,
) -> Result<(crate::credentials::Account, Option<String>)> {
    // Name and secret shape first, so a typo is not reported as an API error.
    crate::credentials::check_new(creds, provider, name, secret)?;
    let reaches = if verify {
        Some(
            self::verify(provider, secret)
                .await
                .map_err(|e| e.context(UNCHECKED))?,
        )
    } else {
        None
    };
    Ok((creds.add(provider, name, secret)?, reaches))
}

/// Checks credentials with a real, read-only API call (what `credentials test` and the app's
/// account form do before saving); says which account they reach.
pub async fn verify(provider: Provider, secret: &Secret) -> Result<String> {
    match (provider, secret) {
        (Provider::DigitalOcean, Secret::Token(token)) => {
            let a = digitalocean::Client::new(token)?.account().await?;
            Ok(format!(
                "the DigitalOcean account {} (status {}, droplet limit {})",
                a.email, a.status, a.droplet_limit
            ))
        }
        (Provider::DigitalOcean, _) => Err(Error::invalid("DigitalOcean needs an API token")),
        (Provider::Aws, keys @ Secret::AwsKeys { access_key_id, .. }) => {
            let region = std::env::var("AWS_DEFAULT_REGION")
                .ok()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| aws::DEFAULT_REGION.to_string());
            let regions = aws::Client::new(keys, &region)?.describe_regions().await?;
            Ok(format!(
                "AWS access key {access_key_id} (EC2 in {region}; {} regions available)",
                regions.len()
            ))
        }
        (Provider::Aws, _) => Err(Error::invalid("AWS needs an access key ID and secret key")),
    }
}

/// How many times a throttled (429) or failing (5xx) request is tried, and the first wait.
pub const ATTEMPTS: u32 = 4;
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The wait before attempt `n` (1-based retries): the server's Retry-After when it gave one
/// (capped), else exponential.
pub fn backoff(retry: u32, retry_after: Option<&str>) -> Duration {
    if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Duration::from_secs(secs.min(30));
    }
    FIRST_BACKOFF * 2u32.saturating_pow(retry.saturating_sub(1))
}

/// An HTTP error from a provider's API as an error that says what to do.
pub fn http_error(provider: &str, status: u16, api_message: &str, credentials_hint: &str) -> Error {
    let detail = if api_message.is_empty() {
        String::new()
    } else {
        format!(": {api_message}")
    };
    match status {
        401 => Error::new(
            ErrorKind::Driver,
            format!("{provider} refused the credentials (401){detail}"),
        )
        .with_hint(credentials_hint.to_string()),
        403 => Error::new(
            ErrorKind::Driver,
            format!("{provider} did not allow this (403){detail}"),
        )
        .with_hint(
            "the credentials lack a permission (a read-only token?); give them write access",
        ),
        404 => Error::not_found(format!("{provider}: not found (404){detail}")),
        422 | 400 => Error::invalid(format!(
            "{provider} rejected the request ({status}){detail}"
        )),
        429 => Error::new(
            ErrorKind::Driver,
            format!("{provider} is rate-limiting requests (429){detail}"),
        )
        .with_hint("wait a minute and try again"),
        s if s >= 500 => Error::new(
            ErrorKind::Driver,
            format!("{provider}'s API failed ({s}){detail}"),
        )
        .with_hint("a problem on the provider's side; try again later"),
        s => Error::new(
            ErrorKind::Driver,
            format!("{provider} answered {s}{detail}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        assert_eq!(backoff(1, None), Duration::from_millis(500));
        assert_eq!(backoff(3, None), Duration::from_secs(2));
        assert_eq!(backoff(1, Some("7")), Duration::from_secs(7));
        assert_eq!(backoff(1, Some("9999")), Duration::from_secs(30));
        assert_eq!(backoff(2, Some("soon")), Duration::from_secs(1));
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = http_error(
            "DigitalOcean",
            401,
            "Unable to authenticate you",
            "replace the token",
        );
        assert_eq!(e.hint(), Some("replace the token"));
        assert!(e.message().contains("401") && e.message().contains("authenticate"));
        assert!(
            http_error("X", 403, "", "")
                .hint()
                .unwrap_or("")
                .contains("permission")
        );
        assert!(
            http_error("X", 429, "", "")
                .hint()
                .unwrap_or("")
                .contains("wait")
        );
        assert!(
            http_error("X", 503, "", "")
                .hint()
                .unwrap_or("")
                .contains("later")
        );
        assert_eq!(http_error("X", 404, "", "").kind(), ErrorKind::NotFound);
    }
}
