//! AWS EC2's Query API (form-encoded POST, SigV4-signed, XML answers), by hand: the handful of
//! actions Berth needs do not justify the official SDK's build cost. Tests run it against moto
//! with signature checking on.

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use super::{ATTEMPTS, backoff, http_error};
use crate::credentials::Secret;
use crate::error::{Error, ErrorKind, Result};

/// Points the client at another endpoint (tests: moto).
pub const API_URL_ENV: &str = "BERTH_AWS_EC2_URL";
pub const API_VERSION: &str = "2016-11-15";
pub const DEFAULT_REGION: &str = "us-east-1";

const CREDENTIALS_HINT: &str = "check the keys (`berth credentials test amazonec2 NAME`); \
     replace them with `berth credentials rm` + `add`, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY";

pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

/// An EC2 error answer: `<Response><Errors><Error><Code>…</Code><Message>…`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

pub fn parse_error(xml: &str) -> Option<ApiError> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let err = doc.descendants().find(|n| n.has_tag_name("Error"))?;
    let text = |tag: &str| {
        err.children()
            .find(|n| n.has_tag_name(tag))
            .and_then(|n| n.text())
            .unwrap_or("")
            .to_string()
    };
    Some(ApiError {
        code: text("Code"),
        message: text("Message"),
    })
}

/// Throttling codes EC2 answers with (besides HTTP 429/503).
fn throttled(code: &str) -> bool {
    matches!(
        code,
        "RequestLimitExceeded"
            | "Throttling"
            | "ThrottlingException"
            | "InternalError"
            | "Unavailable"
    )
}

impl Client {
    /// A client for the region, at $BERTH_AWS_EC2_URL or EC2's regional endpoint.
    pub fn new(secret: &Secret, region: &str) -> Result<Client> {
        Client::with_endpoint(secret, region, "")
    }

    /// Like `new`, at `endpoint` when it is not empty (`--amazonec2-endpoint`).
    pub fn with_endpoint(secret: &Secret, region: &str, endpoint: &str) -> Result<Client> {
        let endpoint = Some(endpoint.to_string())
            .filter(|u| !u.is_empty())
            .or_else(|| std::env::var(API_URL_ENV).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| format!("https://ec2.{region}.amazonaws.com/"));
        Client::at(&endpoint, secret, region)
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn at(endpoint: &str, secret: &Secret, region: &str) -> Result<Client> {
        let Secret::AwsKeys {
            access_key_id,
            secret_access_key,
            session_token,
        } = secret
        else {
            return Err(Error::invalid("AWS needs an access key ID and secret key"));
        };
        let http = super::http_client()?;
        let endpoint = if endpoint.ends_with('/') {
            endpoint.to_string()
        } else {
            format!("{endpoint}/")
        };
        Ok(Client {
            http,
            endpoint,
            region: region.to_string(),
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
            session_token: session_token.clone(),
        })
    }

    fn signed_headers(&self, body: &str) -> Result<Vec<(String, String)>> {
        let identity = aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "berth",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Error::invalid(format!("cannot sign the AWS request: {e}")))?
            .into();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let headers = [("content-type", content_type)];
        let signable = SignableRequest::new(
            "POST",
            &self.endpoint,
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| Error::invalid(format!("cannot sign the AWS request: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::invalid(format!("cannot sign the AWS request: {e}")))?
            .into_parts();
        let mut out: Vec<(String, String)> = vec![("content-type".into(), content_type.into())];
        for (name, value) in instructions.headers() {
            out.push((name.to_string(), value.to_string()));
        }
        Ok(out)
    }

    /// One action; the XML answer. Retries throttling and 5xx with backoff.
    pub async fn call(&self, action: &str, params: &[(String, String)]) -> Result<String> {
        let mut pairs = vec![("Action", action), ("Version", API_VERSION)];
        pairs.extend(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let body = form_encode(&pairs);
        let mut retry = 0;
        loop {
            let mut req = self.http.post(&self.endpoint).body(body.clone());
            for (k, v) in self.signed_headers(&body)? {
                req = req.header(k, v);
            }
            let resp = req.send().await.map_err(|e| {
                if e.is_timeout() {
                    Error::new(
                        ErrorKind::Timeout,
                        format!("AWS EC2 did not answer {action} in time"),
                    )
                } else {
                    Error::new(
                        ErrorKind::Driver,
                        format!("cannot reach AWS EC2 at {}: {e}", self.endpoint),
                    )
                    .with_hint("check the network connection (and a proxy, if you use one)")
                    .with_source(e)
                }
            })?;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            if (200..300).contains(&status) {
                return Ok(text);
            }
            let err = parse_error(&text).unwrap_or(ApiError {
                code: String::new(),
                message: String::new(),
            });
            if (status == 429 || status >= 500 || throttled(&err.code)) && retry + 1 < ATTEMPTS {
                retry += 1;
                tokio::time::sleep(backoff(retry, None)).await;
                continue;
            }
            return Err(ec2_error(action, status, &err));
        }
    }

    /// The regions this account may use (a cheap, read-only call that proves the keys work).
    pub async fn describe_regions(&self) -> Result<Vec<String>> {
        let xml = self.call("DescribeRegions", &[]).await?;
        let doc = roxmltree::Document::parse(&xml).map_err(|e| {
            Error::new(
                ErrorKind::Driver,
                format!("AWS answered DescribeRegions with something unexpected: {e}"),
            )
        })?;
        Ok(doc
            .descendants()
            .filter(|n| n.has_tag_name("regionName"))
            .filter_map(|n| n.text())
            .map(str::to_string)
            .collect())
    }
}

/// `application/x-www-form-urlencoded` as Python's `urlencode` writes it (only `A-Za-z0-9_.-~`
/// left as they are, space as `+`): AWS takes any valid encoding, but moto checks the signature
/// against the form re-encoded that way, so `*` in a name filter must be `%2A`, not bare.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(out: &mut String, s: &str) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(&mut out, k);
        out.push('=');
        enc(&mut out, v);
    }
    out
}

fn ec2_error(action: &str, status: u16, err: &ApiError) -> Error {
    let detail = if err.code.is_empty() {
        format!("{action}: {}", err.message)
    } else {
        format!("{action}: {} {}", err.code, err.message)
    };
    match err.code.as_str() {
        "AuthFailure"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException" => http_error("AWS", 401, &detail, CREDENTIALS_HINT),
        "UnauthorizedOperation" | "AccessDenied" => {
            http_error("AWS", 403, &detail, CREDENTIALS_HINT)
        }
        c if c.ends_with(".NotFound") => Error::not_found(format!("AWS {detail}")),
        _ => http_error("AWS", status, &detail, CREDENTIALS_HINT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throttled answer is retried (after backoff) and the next one is used.
    #[tokio::test]
    async fn throttling_is_retried() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let answers = [
                (
                    "503 Service Unavailable",
                    "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors></Response>",
                ),
                (
                    "200 OK",
                    "<DescribeRegionsResponse><regionInfo><item><regionName>eu-west-1</regionName></item></regionInfo></DescribeRegionsResponse>",
                ),
            ];
            let mut seen = vec![];
            for (status, body) in answers {
                let (mut conn, _) = listener.accept().unwrap();
                let mut buf = [0u8; 8192];
                let n = conn.read(&mut buf).unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
                write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
            seen
        });
        let keys = Secret::AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: None,
        };
        let regions = Client::at(&url, &keys, "us-east-1")
            .unwrap()
            .describe_regions()
            .await
            .unwrap();
        assert_eq!(regions, vec!["eu-west-1"]);
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(
            seen.iter().all(|r| r
                .to_ascii_lowercase()
                .contains("authorization: aws4-hmac-sha256")),
            "both attempts are signed"
        );
    }

    #[test]
    fn forms_encode_like_python() {
        assert_eq!(
            form_encode(&[("Filter.1.Value.1", "ubuntu/images/*-a b~é"), ("K", "")]),
            "Filter.1.Value.1=ubuntu%2Fimages%2F%2A-a+b~%C3%A9&K="
        );
    }

    #[test]
    fn errors_parse_and_map() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>x</RequestID></Response>"#;
        let e = parse_error(xml).unwrap();
        assert_eq!(e.code, "AuthFailure");
        let mapped = ec2_error("DescribeRegions", 401, &e);
        assert!(
            mapped.message().contains("refused the credentials (401)"),
            "{mapped:?}"
        );
        let nf = ApiError {
            code: "InvalidInstanceID.NotFound".into(),
            message: "no".into(),
        };
        assert_eq!(
            ec2_error("DescribeInstances", 400, &nf).kind(),
            ErrorKind::NotFound
        );
        assert!(throttled("RequestLimitExceeded"));
        assert!(parse_error("not xml").is_none());
        let bad = ApiError {
            code: "InvalidParameterValue".into(),
            message: "bad size".into(),
        };
        let e = ec2_error("RunInstances", 400, &bad);
        assert!(
            e.message()
                .contains("RunInstances: InvalidParameterValue bad size"),
            "{e:?}"
        );
        assert_eq!(e.hint(), None, "no empty hint");
    }
}
