//! Cloud accounts. The secret (an API token, an access key pair) lives only in the OS keychain
//! (Secret Service on Linux, the macOS Keychain, Windows Credential Manager, through `keyring`);
//! the store keeps only which accounts exist (`<store>/credentials.json`: provider, name, when
//! added). The environment overrides, as docker-machine's drivers read it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::fsutil;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    DigitalOcean,
    Aws,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::DigitalOcean, Provider::Aws];

    /// The driver's name, which is also how the CLI and the store name the provider.
    pub fn id(self) -> &'static str {
        match self {
            Provider::DigitalOcean => "digitalocean",
            Provider::Aws => "amazonec2",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Provider::DigitalOcean => "DigitalOcean",
            Provider::Aws => "AWS EC2",
        }
    }

    pub fn parse(s: &str) -> Result<Provider> {
        match s.to_ascii_lowercase().as_str() {
            "digitalocean" | "do" => Ok(Provider::DigitalOcean),
            "amazonec2" | "aws" | "ec2" => Ok(Provider::Aws),
            _ => Err(Error::invalid(format!("unknown cloud provider \"{s}\""))
                .with_hint("providers: digitalocean, amazonec2 (or aws)")),
        }
    }

    fn keychain_service(self) -> String {
        format!("dev.berth.{}", self.id())
    }
}

/// What an account is, without its secret: all the store ever holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub provider: String,
    pub name: String,
    /// RFC 3339.
    pub added: String,
}

#[derive(Clone, PartialEq)]
pub enum Secret {
    Token(String),
    AwsKeys {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
}

// Never print a secret, not even in a debug log.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Token(_) => f.write_str("Token(<redacted>)"),
            Secret::AwsKeys { access_key_id, .. } => {
                write!(f, "AwsKeys({access_key_id}, <redacted>)")
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredAwsKeys {
    access_key_id: String,
    secret_access_key: String,
}

impl Secret {
    fn check(&self, provider: Provider) -> Result<()> {
        match (provider, self) {
            (Provider::DigitalOcean, Secret::Token(t)) => {
                if t.trim().is_empty() || t.chars().any(char::is_whitespace) {
                    return Err(Error::invalid("the token is empty or has spaces in it")
                        .with_hint(
                            "paste the personal access token from cloud.digitalocean.com → API",
                        ));
                }
                Ok(())
            }
            (
                Provider::Aws,
                Secret::AwsKeys {
                    access_key_id,
                    secret_access_key,
                    ..
                },
            ) => {
                if access_key_id.trim().is_empty() || secret_access_key.trim().is_empty() {
                    return Err(Error::invalid(
                        "both the access key ID and the secret access key are needed",
                    ));
                }
                Ok(())
            }
            _ => Err(Error::invalid(format!(
                "that kind of secret is not for {}",
                provider.label()
            ))),
        }
    }

    fn encode(&self) -> String {
        match self {
            Secret::Token(t) => t.clone(),
            Secret::AwsKeys {
                access_key_id,
                secret_access_key,
                ..
            } => serde_json::to_string(&StoredAwsKeys {
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
            })
            .unwrap_or_default(),
        }
    }

    fn decode(provider: Provider, s: String) -> Result<Secret> {
        match provider {
            Provider::DigitalOcean => Ok(Secret::Token(s)),
            Provider::Aws => {
                let k: StoredAwsKeys = serde_json::from_str(&s).map_err(|_| {
                    Error::store("the keychain entry for this AWS account is not one Berth wrote")
                        .with_hint("remove the account and add it again")
                })?;
                Ok(Secret::AwsKeys {
                    access_key_id: k.access_key_id,
                    secret_access_key: k.secret_access_key,
                    session_token: None,
                })
            }
        }
    }
}

/// Where a resolved secret came from (shown to the user; never the secret itself).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Keychain(String),
    Environment(&'static str),
    AwsProfile(String),
    /// A command-line flag (used for that command only).
    Flag(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Keychain(n) => write!(f, "account \"{n}\" in the keychain"),
            Source::Environment(v) => write!(f, "${v}"),
            Source::AwsProfile(p) => write!(f, "AWS profile \"{p}\""),
            Source::Flag(flag) => write!(f, "--{flag}"),
        }
    }
}

/// The OS keychain, or a stand-in for tests.
pub trait Keychain: Send + Sync {
    fn set(&self, service: &str, user: &str, secret: &str) -> Result<()>;
    fn get(&self, service: &str, user: &str) -> Result<Option<String>>;
    /// Deleting what is not there is not an error.
    fn delete(&self, service: &str, user: &str) -> Result<()>;
}

pub struct OsKeychain;

fn keychain_error(e: keyring::Error) -> Error {
    let hint = "unlock your login keyring (GNOME Keyring, KWallet, KeePassXC's Secret Service), \
                or give the secret in the environment (DIGITALOCEAN_ACCESS_TOKEN, \
                AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)";
    match e {
        keyring::Error::NoStorageAccess(_) => {
            Error::new(ErrorKind::Io, "the keychain is locked or refused access").with_hint(hint)
        }
        keyring::Error::PlatformFailure(inner) => Error::new(
            ErrorKind::Io,
            format!("the keychain is not available: {inner}"),
        )
        .with_hint(hint),
        other => Error::new(ErrorKind::Io, format!("keychain: {other}")),
    }
}

impl Keychain for OsKeychain {
    fn set(&self, service: &str, user: &str, secret: &str) -> Result<()> {
        keyring::Entry::new(service, user)
            .and_then(|e| e.set_password(secret))
            .map_err(keychain_error)
    }

    fn get(&self, service: &str, user: &str) -> Result<Option<String>> {
        match keyring::Entry::new(service, user).and_then(|e| e.get_password()) {
            Ok(s) => Ok(Some(s)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keychain_error(e)),
        }
    }

    fn delete(&self, service: &str, user: &str) -> Result<()> {
        match keyring::Entry::new(service, user).and_then(|e| e.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keychain_error(e)),
        }
    }
}

/// An in-process keychain for unit tests.
#[derive(Default)]
pub struct MemoryKeychain(Mutex<HashMap<(String, String), String>>);

impl Keychain for MemoryKeychain {
    fn set(&self, service: &str, user: &str, secret: &str) -> Result<()> {
        if let Ok(mut m) = self.0.lock() {
            m.insert((service.into(), user.into()), secret.into());
        }
        Ok(())
    }
    fn get(&self, service: &str, user: &str) -> Result<Option<String>> {
        Ok(self
            .0
            .lock()
            .ok()
            .and_then(|m| m.get(&(service.into(), user.into())).cloned()))
    }
    fn delete(&self, service: &str, user: &str) -> Result<()> {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&(service.into(), user.into()));
        }
        Ok(())
    }
}

pub struct Credentials {
    file: PathBuf,
    keychain: Box<dyn Keychain>,
}

/// What `add` checks before writing anything: the name, the secret's shape, no such account yet.
/// (The app calls it before its API check, so a typo is not reported as a provider error.)
pub fn check_new(
    creds: &Credentials,
    provider: Provider,
    name: &str,
    secret: &Secret,
) -> Result<()> {
    check_account_name(name)?;
    secret.check(provider)?;
    if creds
        .list()?
        .iter()
        .any(|a| a.provider == provider.id() && a.name == name)
    {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!("a {} account \"{name}\" exists", provider.label()),
        )
        .with_hint(format!(
            "remove it first (`berth credentials rm {} {name}`) or pick another name",
            provider.id()
        )));
    }
    Ok(())
}

fn check_account_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("invalid account name \"{name}\""))
            .with_hint("use up to 64 letters, digits, '-', '_', '.' or '@' (e.g. work, personal)"))
    }
}

impl Credentials {
    pub fn new(store_root: &Path, keychain: Box<dyn Keychain>) -> Credentials {
        Credentials {
            file: store_root.join("credentials.json"),
            keychain,
        }
    }

    /// The accounts in the OS keychain, as listed in the store.
    pub fn os(store_root: &Path) -> Credentials {
        Credentials::new(store_root, Box::new(OsKeychain))
    }

    pub fn list(&self) -> Result<Vec<Account>> {
        if !self.file.exists() {
            return Ok(vec![]);
        }
        let text = fsutil::read_to_string(&self.file)?;
        serde_json::from_str(&text).map_err(|e| {
            Error::store(format!("{} is damaged: {e}", self.file.display()))
                .with_hint("fix or delete that file; the secrets themselves are in the keychain")
        })
    }

    fn save(&self, accounts: &[Account]) -> Result<()> {
        if let Some(dir) = self.file.parent() {
            fsutil::ensure_private_dir(dir)?;
        }
        fsutil::write_json(&self.file, accounts, fsutil::SECRET_MODE)
    }

    pub fn add(&self, provider: Provider, name: &str, secret: &Secret) -> Result<Account> {
        check_new(self, provider, name, secret)?;
        let mut accounts = self.list()?;
        self.keychain
            .set(&provider.keychain_service(), name, &secret.encode())?;
        let account = Account {
            provider: provider.id().into(),
            name: name.into(),
            added: crate::machine::now_rfc3339(),
        };
        accounts.push(account.clone());
        if let Err(e) = self.save(&accounts) {
            // Nothing half-added: the keychain entry goes too.
            let _ = self.keychain.delete(&provider.keychain_service(), name);
            return Err(e);
        }
        Ok(account)
    }

    pub fn remove(&self, provider: Provider, name: &str) -> Result<()> {
        let mut accounts = self.list()?;
        let before = accounts.len();
        accounts.retain(|a| !(a.provider == provider.id() && a.name == name));
        if accounts.len() == before {
            return Err(
                Error::not_found(format!("no {} account \"{name}\"", provider.label()))
                    .with_hint("`berth credentials ls` lists the accounts"),
            );
        }
        self.keychain.delete(&provider.keychain_service(), name)?;
        self.save(&accounts)
    }

    /// The stored secret of one account.
    pub fn secret(&self, provider: Provider, name: &str) -> Result<Secret> {
        if !self
            .list()?
            .iter()
            .any(|a| a.provider == provider.id() && a.name == name)
        {
            return Err(
                Error::not_found(format!("no {} account \"{name}\"", provider.label())).with_hint(
                    format!("add one with `berth credentials add {}`", provider.id()),
                ),
            );
        }
        match self.keychain.get(&provider.keychain_service(), name)? {
            Some(s) => Secret::decode(provider, s),
            None => Err(Error::not_found(format!(
                "the keychain has no secret for the {} account \"{name}\"",
                provider.label()
            ))
            .with_hint(format!(
                "remove the account and add it again (`berth credentials rm {p} {name}`, \
                 `berth credentials add {p} --name {name}`)",
                p = provider.id()
            ))),
        }
    }

    /// The secret a create uses: a named account; else the environment (as docker-machine's
    /// drivers read it); else the provider's only stored account.
    pub fn resolve(
        &self,
        provider: Provider,
        account: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Secret, Source)> {
        if let Some(name) = account {
            return Ok((self.secret(provider, name)?, Source::Keychain(name.into())));
        }
        if let Some(found) = from_environment(provider, env)? {
            return Ok(found);
        }
        let mine: Vec<Account> = self
            .list()?
            .into_iter()
            .filter(|a| a.provider == provider.id())
            .collect();
        match mine.as_slice() {
            [one] => Ok((
                self.secret(provider, &one.name)?,
                Source::Keychain(one.name.clone()),
            )),
            [] => Err(
                Error::invalid(format!("no {} credentials", provider.label())).with_hint(format!(
                    "add an account with `berth credentials add {}`",
                    provider.id()
                )),
            ),
            many => Err(Error::invalid(format!(
                "{} {} accounts are stored; which one?",
                many.len(),
                provider.label()
            ))
            .with_hint(format!(
                "pass --{}-account with one of: {}",
                provider.id(),
                many.iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// The credentials the environment gives for a provider, as docker-machine's drivers read it.
pub fn from_environment(
    provider: Provider,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Secret, Source)>> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    match provider {
        Provider::DigitalOcean => Ok(var("DIGITALOCEAN_ACCESS_TOKEN").map(|t| {
            (
                Secret::Token(t),
                Source::Environment("DIGITALOCEAN_ACCESS_TOKEN"),
            )
        })),
        Provider::Aws => {
            if let (Some(id), Some(key)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
            {
                return Ok(Some((
                    Secret::AwsKeys {
                        access_key_id: id,
                        secret_access_key: key,
                        session_token: var("AWS_SESSION_TOKEN"),
                    },
                    Source::Environment("AWS_ACCESS_KEY_ID"),
                )));
            }
            let Some(profile) = var("AWS_PROFILE") else {
                return Ok(None);
            };
            let file = var("AWS_SHARED_CREDENTIALS_FILE")
                .map(PathBuf::from)
                .or_else(|| dirs::home_dir().map(|h| h.join(".aws/credentials")))
                .ok_or_else(|| Error::invalid("AWS_PROFILE is set but no home directory"))?;
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Error::invalid(format!(
                    "AWS_PROFILE={profile}, but {} cannot be read: {e}",
                    file.display()
                ))
            })?;
            aws_profile(&text, &profile)
                .map(|s| Some((s, Source::AwsProfile(profile.clone()))))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "{} has no complete profile \"{profile}\"",
                        file.display()
                    ))
                    .with_hint("it needs aws_access_key_id and aws_secret_access_key")
                })
        }
    }
}

/// One profile of an AWS shared credentials file (INI).
fn aws_profile(text: &str, profile: &str) -> Option<Secret> {
    let mut in_section = false;
    let mut keys: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = section.trim() == profile;
            continue;
        }
        if in_section && let Some((k, v)) = line.split_once('=') {
            keys.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Some(Secret::AwsKeys {
        access_key_id: keys.remove("aws_access_key_id").filter(|v| !v.is_empty())?,
        secret_access_key: keys
            .remove("aws_secret_access_key")
            .filter(|v| !v.is_empty())?,
        session_token: keys.remove("aws_session_token").filter(|v| !v.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(dir: &Path) -> Credentials {
        Credentials::new(dir, Box::new(MemoryKeychain::default()))
    }
    const NO_ENV: &dyn Fn(&str) -> Option<String> = &|_| None;

    #[test]
    fn the_store_keeps_names_the_keychain_keeps_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = creds(dir.path());
        c.add(
            Provider::DigitalOcean,
            "work",
            &Secret::Token("dop_v1_SECRET1".into()),
        )
        .expect("add");
        let keys = Secret::AwsKeys {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "wJalrSECRET2".into(),
            session_token: None,
        };
        c.add(Provider::Aws, "main", &keys).expect("add aws");
        let on_disk = std::fs::read_to_string(dir.path().join("credentials.json")).expect("file");
        assert!(!on_disk.contains("SECRET"), "{on_disk}");
        assert_eq!(c.list().expect("list").len(), 2);
        assert_eq!(
            c.secret(Provider::DigitalOcean, "work").expect("secret"),
            Secret::Token("dop_v1_SECRET1".into())
        );
        assert_eq!(c.secret(Provider::Aws, "main").expect("secret"), keys);
        assert!(!format!("{keys:?}").contains("SECRET"));

        let dup = c.add(Provider::DigitalOcean, "work", &Secret::Token("x".into()));
        assert_eq!(dup.expect_err("dup").kind(), ErrorKind::AlreadyExists);
        c.remove(Provider::DigitalOcean, "work").expect("rm");
        assert_eq!(
            c.secret(Provider::DigitalOcean, "work")
                .expect_err("gone")
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            c.remove(Provider::DigitalOcean, "work")
                .expect_err("again")
                .kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn bad_input_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = creds(dir.path());
        for name in ["", "a b", "../x", &"x".repeat(65)] {
            assert!(
                c.add(Provider::DigitalOcean, name, &Secret::Token("t".into()))
                    .is_err()
            );
        }
        assert!(
            c.add(Provider::DigitalOcean, "w", &Secret::Token(" ".into()))
                .is_err()
        );
        assert!(
            c.add(Provider::Aws, "w", &Secret::Token("t".into()))
                .is_err()
        );
        assert!(!dir.path().join("credentials.json").exists());
        assert!(Provider::parse("azure").is_err());
        assert_eq!(Provider::parse("AWS").expect("aws"), Provider::Aws);
        // A damaged list is reported, not overwritten.
        std::fs::write(dir.path().join("credentials.json"), "{nope").expect("write");
        let e = c.add(Provider::DigitalOcean, "w", &Secret::Token("t".into()));
        assert_eq!(e.expect_err("damaged").kind(), ErrorKind::Store);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("credentials.json")).expect("read"),
            "{nope"
        );
    }

    #[test]
    fn resolution_order_account_then_environment_then_the_only_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = creds(dir.path());
        let none = c.resolve(Provider::DigitalOcean, None, NO_ENV);
        assert!(
            none.expect_err("none")
                .hint()
                .unwrap_or("")
                .contains("credentials add")
        );
        c.add(Provider::DigitalOcean, "a", &Secret::Token("ta".into()))
            .expect("add");
        let (s, src) = c
            .resolve(Provider::DigitalOcean, None, NO_ENV)
            .expect("only one");
        assert_eq!(
            (s, src),
            (Secret::Token("ta".into()), Source::Keychain("a".into()))
        );
        let env = |k: &str| (k == "DIGITALOCEAN_ACCESS_TOKEN").then(|| "tenv".to_string());
        let (s, _) = c.resolve(Provider::DigitalOcean, None, &env).expect("env");
        assert_eq!(s, Secret::Token("tenv".into()));
        let (s, _) = c
            .resolve(Provider::DigitalOcean, Some("a"), &env)
            .expect("named");
        assert_eq!(s, Secret::Token("ta".into()));
        c.add(Provider::DigitalOcean, "b", &Secret::Token("tb".into()))
            .expect("add");
        let which = c
            .resolve(Provider::DigitalOcean, None, NO_ENV)
            .expect_err("two");
        assert!(which.hint().unwrap_or("").contains("a, b"), "{which:?}");
    }

    #[test]
    fn aws_environment_and_profiles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = creds(dir.path());
        let file = dir.path().join("aws-credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = sdef\n\n\
             # comment\n[dev]\naws_access_key_id=AKIADEV\naws_secret_access_key=sdev\n\
             aws_session_token = tok\n[half]\naws_access_key_id = AKIAHALF\n",
        )
        .expect("write");
        let f = file.to_string_lossy().to_string();
        let env = |k: &str| match k {
            "AWS_PROFILE" => Some("dev".to_string()),
            "AWS_SHARED_CREDENTIALS_FILE" => Some(f.clone()),
            _ => None,
        };
        let (s, src) = c.resolve(Provider::Aws, None, &env).expect("profile");
        assert_eq!(src, Source::AwsProfile("dev".into()));
        assert_eq!(
            s,
            Secret::AwsKeys {
                access_key_id: "AKIADEV".into(),
                secret_access_key: "sdev".into(),
                session_token: Some("tok".into())
            }
        );
        let half = |k: &str| match k {
            "AWS_PROFILE" => Some("half".to_string()),
            "AWS_SHARED_CREDENTIALS_FILE" => Some(f.clone()),
            _ => None,
        };
        assert!(c.resolve(Provider::Aws, None, &half).is_err());
        let keys = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AKIAENV".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("senv".to_string()),
            "AWS_PROFILE" => Some("dev".to_string()),
            _ => None,
        };
        let (s, src) = c.resolve(Provider::Aws, None, &keys).expect("keys");
        assert_eq!(src, Source::Environment("AWS_ACCESS_KEY_ID"));
        assert!(matches!(s, Secret::AwsKeys { access_key_id, .. } if access_key_id == "AKIAENV"));
    }
}
