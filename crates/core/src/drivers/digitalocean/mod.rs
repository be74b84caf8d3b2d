//! `digitalocean`: a droplet made through DigitalOcean's API v2. docker-machine's flags and
//! stored fields, with current defaults; the API token is never stored (docker-machine kept it
//! in plain text in config.json): it comes from an account in the OS keychain, the environment,
//! or, for this one command, `--digitalocean-access-token`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;

mod options;

pub use options::{DEFAULT_IMAGE, DEFAULT_REGION, DEFAULT_SIZE, DigitalOceanConfig, info};
use options::{valid_slug, valid_tag};

use super::{Driver, DriverContext, DriverInfo, DriverOptions, MachineState};
use crate::cloud::digitalocean::{Client, Droplet, DropletRequest};
use crate::credentials::{Credentials, Provider, Secret, Source};
use crate::error::{Error, ErrorKind, Result};
use crate::ssh::SshTarget;

/// How long a new droplet gets to become active with an address, and its sshd to answer.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a power action gets to complete.
const ACTION_TIMEOUT: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_secs(1);
/// DigitalOcean's limit on user data.
const MAX_USER_DATA: u64 = 64 * 1024;

/// This driver's registry entry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "digitalocean",
    features: crate::drivers::Features::CLOUD,
    info,
    availability: super::registry::always_available,
    create: |name, info, o| Ok(Box::new(DigitalOcean::from_options(name, info, o)?)),
    load: |v, root| Ok(Box::new(DigitalOcean::from_config(v, root)?)),
};

pub struct DigitalOcean {
    cfg: DigitalOceanConfig,
    /// `--digitalocean-access-token`: used by this process only, never written anywhere.
    flag_token: Option<String>,
    store_root: Option<PathBuf>,
    /// The token the pre-create check found, for create (one keychain read per create).
    checked_token: std::sync::Mutex<Option<(String, Source)>>,
}

/// The tag every droplet of a machine carries, for the user to find it in DigitalOcean's
/// control panel. Never used to delete: another store's machine of the same name has it too.
/// Tags allow letters, digits, `:`, `-` and `_`.
pub fn machine_tag(name: &str) -> String {
    format!("berth:{}", name.replace('.', "_"))
}

/// The tag that says which create made a droplet (see `DigitalOceanConfig::machine_id`).
pub fn id_tag(machine_id: &str) -> String {
    format!("berth-id:{machine_id}")
}

/// The name of the SSH key Berth uploads for a machine: DigitalOcean keys have no tags, so the
/// machine's ID goes into the name.
pub fn key_name(machine: &str, machine_id: &str) -> String {
    if machine_id.is_empty() {
        format!("berth-{machine}")
    } else {
        format!("berth-{machine}-{machine_id}")
    }
}

impl DigitalOcean {
    pub fn from_options(name: &str, info: &DriverInfo, o: &DriverOptions) -> Result<Self> {
        let slug = |flag: &str| -> Result<String> {
            let v = o.string(info, flag)?.trim().to_string();
            if valid_slug(&v) {
                Ok(v)
            } else {
                Err(
                    Error::invalid(format!("--{flag} \"{v}\" is not a DigitalOcean slug"))
                        .with_hint("slugs look like nyc3, s-1vcpu-1gb, ubuntu-24-04-x64"),
                )
            }
        };
        let tags = super::split_commas(&o.string(info, "digitalocean-tags")?);
        if let Some(bad) = tags.iter().find(|t| !valid_tag(t)) {
            return Err(Error::invalid(format!(
                "--digitalocean-tags: \"{bad}\" is not a valid tag"
            ))
            .with_hint("tags use letters, digits, ':', '-' and '_'"));
        }
        let user = o.ssh_user(info, "digitalocean-ssh-user")?;
        let account = o.string(info, "digitalocean-account")?.trim().to_string();
        // Only an explicit flag: the environment variable is read by the credential lookup,
        // which also reports where the token came from.
        let flag_token = match o.0.get("digitalocean-access-token") {
            Some(super::OptionValue::Str(t)) if !t.trim().is_empty() => Some(t.trim().to_string()),
            _ => None,
        };
        Ok(DigitalOcean {
            cfg: DigitalOceanConfig {
                base: super::cloud::BaseFields {
                    machine_name: name.to_string(),
                    ssh_user: user,
                    ssh_port: o.port(info, "digitalocean-ssh-port")?,
                    ..Default::default()
                },
                account,
                image: slug("digitalocean-image")?,
                region: slug("digitalocean-region")?,
                size: slug("digitalocean-size")?,
                ipv6: o.bool(info, "digitalocean-ipv6")?,
                backups: o.bool(info, "digitalocean-backups")?,
                private_networking: o.bool(info, "digitalocean-private-networking")?,
                monitoring: o.bool(info, "digitalocean-monitoring")?,
                tags: tags.join(","),
                user_data_file: o.path(info, "digitalocean-userdata")?,
                ssh_key_fingerprint: o
                    .string(info, "digitalocean-ssh-key-fingerprint")?
                    .trim()
                    .to_string(),
                ssh_key: o.path(info, "digitalocean-ssh-key-path")?,
                machine_id: super::cloud::new_machine_id(),
                ..Default::default()
            },
            flag_token,
            store_root: None,
            checked_token: Default::default(),
        })
    }

    pub fn from_config(v: serde_json::Value, store_root: &Path) -> serde_json::Result<Self> {
        Ok(DigitalOcean {
            cfg: serde_json::from_value(v)?,
            flag_token: None,
            store_root: Some(store_root.to_path_buf()),
            checked_token: Default::default(),
        })
    }

    /// The API token and where it came from (never the token in any message).
    fn token(&self, store_root: Option<&Path>) -> Result<(String, Source)> {
        if let Some(t) = &self.flag_token {
            return Ok((t.clone(), Source::Flag("digitalocean-access-token")));
        }
        let root = store_root
            .or(self.store_root.as_deref())
            .ok_or_else(|| Error::driver("no store to look up DigitalOcean credentials in"))?;
        let account = (!self.cfg.account.is_empty()).then_some(self.cfg.account.as_str());
        let (secret, source) =
            Credentials::os(root)
                .resolve(Provider::DigitalOcean, account, &|k| std::env::var(k).ok())?;
        match secret {
            Secret::Token(t) => Ok((t, source)),
            Secret::AwsKeys { .. } => Err(Error::store(
                "the DigitalOcean account holds AWS keys; remove and add it again",
            )),
        }
    }

    fn client(&self, store_root: Option<&Path>) -> Result<Client> {
        Client::new(&self.token(store_root)?.0)
    }

    fn tags(&self) -> Vec<String> {
        let mut tags = super::split_commas(&self.cfg.tags);
        tags.push(machine_tag(&self.cfg.base.machine_name));
        tags.push(id_tag(&self.cfg.machine_id));
        tags
    }

    fn user_data(&self) -> Result<Option<String>> {
        let Some(bytes) = super::cloud::read_user_data(
            &self.cfg.user_data_file,
            MAX_USER_DATA,
            "DigitalOcean",
            "digitalocean-userdata",
        )?
        else {
            return Ok(None);
        };
        String::from_utf8(bytes).map(Some).map_err(|e| {
            Error::invalid(format!(
                "user-data file \"{}\" is not text: {e}",
                self.cfg.user_data_file
            ))
        })
    }

    async fn upload_or_find_key(
        &mut self,
        client: &Client,
        ctx: &DriverContext<'_>,
    ) -> Result<i64> {
        if !self.cfg.ssh_key_fingerprint.is_empty() {
            let key = client
                .key(&self.cfg.ssh_key_fingerprint)
                .await
                .map_err(|e| {
                    if e.kind() == ErrorKind::NotFound {
                        Error::invalid(format!(
                            "your DigitalOcean account has no SSH key with fingerprint {}",
                            self.cfg.ssh_key_fingerprint
                        ))
                        .with_hint("the fingerprints are listed under Settings → Security in DigitalOcean's control panel")
                    } else {
                        e
                    }
                })?;
            if !self.cfg.ssh_key.is_empty() {
                let copy = super::copy_ssh_key(Path::new(&self.cfg.ssh_key), ctx.machine_dir)?;
                self.cfg.base.ssh_key_path = copy.display().to_string();
            } else {
                ctx.progress
                    .log("Using your SSH agent or default keys to log in to the droplet");
            }
            return Ok(key.id);
        }
        let name = key_name(ctx.name, &self.cfg.machine_id);
        let (path, public) = crate::ssh::generate_ed25519(ctx.machine_dir, &name)?;
        self.cfg.base.ssh_key_path = path.display().to_string();
        let key = client.create_key(&name, &public).await?;
        ctx.progress.log(format!(
            "Uploaded the machine's SSH key ({})",
            key.fingerprint
        ));
        self.cfg.ssh_key_id = key.id;
        // On disk before the droplet is asked for: a create killed now leaves no unknown key.
        ctx.checkpoint(self.config()?)?;
        Ok(key.id)
    }

    /// Polls until the droplet is active with its public IPv4 (and private one, if asked for).
    async fn wait_active(&mut self, client: &Client, ctx: &DriverContext<'_>) -> Result<()> {
        ctx.progress
            .log("Waiting for the droplet to become active with an IP address...");
        let deadline = Instant::now() + ACTIVE_TIMEOUT;
        loop {
            let d = client.droplet(self.cfg.droplet_id).await?;
            if let Some(ip) = ready_address(&d, self.cfg.private_networking) {
                self.cfg.base.ip_address = ip.to_string();
                self.cfg.private_ip_address = d.ipv4("private").unwrap_or("").to_string();
                ctx.progress.log(format!(
                    "Droplet {} is active at {}",
                    d.id, self.cfg.base.ip_address
                ));
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::timeout(format!(
                    "droplet {} did not become active with an address in {} s (status \"{}\")",
                    d.id,
                    ACTIVE_TIMEOUT.as_secs(),
                    d.status
                ))
                .with_hint("DigitalOcean may be busy in this region; try again or pick another --digitalocean-region"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A new droplet's sshd starts a little after the API calls it active.
    async fn wait_ssh(&self, ctx: &DriverContext<'_>) -> Result<()> {
        super::cloud::wait_ssh(
            &self.cfg.base.ip_address,
            self.cfg.base.ssh_port,
            "droplet",
            "check the image boots with sshd and that a firewall allows the port",
            ctx,
        )
        .await
    }

    async fn act(&mut self, ctx: &DriverContext<'_>, kind: &str, doing: &str) -> Result<()> {
        self.need_droplet()?;
        let client = self.client(Some(ctx.store_root))?;
        let mut action = client.droplet_action(self.cfg.droplet_id, kind).await?;
        ctx.progress
            .log(format!("{doing} droplet {}...", self.cfg.droplet_id));
        let deadline = Instant::now() + ACTION_TIMEOUT;
        while action.status == "in-progress" {
            if Instant::now() > deadline {
                return Err(Error::timeout(format!(
                    "DigitalOcean's {kind} of droplet {} did not finish in {} s",
                    self.cfg.droplet_id,
                    ACTION_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
            action = client.action(action.id).await?;
        }
        if action.status != "completed" {
            return Err(Error::driver(format!(
                "DigitalOcean's {kind} of droplet {} ended \"{}\"",
                self.cfg.droplet_id, action.status
            )));
        }
        Ok(())
    }

    fn need_droplet(&self) -> Result<()> {
        if self.cfg.droplet_id == 0 {
            return Err(Error::driver(
                "this machine has no droplet (its create did not get that far)",
            )
            .with_hint("remove it with `berth rm` and create it again"));
        }
        Ok(())
    }
}

/// The address to use once the droplet is ready: active, with a public IPv4 (and a private
/// one when private networking was asked for).
fn ready_address(d: &Droplet, want_private: bool) -> Option<&str> {
    if d.status != "active" || (want_private && d.ipv4("private").is_none()) {
        return None;
    }
    d.ipv4("public")
}

fn state_of(status: &str) -> MachineState {
    match status {
        "new" => MachineState::Starting,
        "active" => MachineState::Running,
        "off" | "archive" => MachineState::Stopped,
        _ => MachineState::None,
    }
}

use super::cloud::gone_is_fine;

#[async_trait]
impl Driver for DigitalOcean {
    fn name(&self) -> &'static str {
        "digitalocean"
    }
    fn config(&self) -> Result<serde_json::Value> {
        super::config_value(self.name(), &self.cfg)
    }
    fn address(&self) -> Result<String> {
        self.cfg.base.address("droplet")
    }
    fn ssh_target(&self) -> Option<SshTarget> {
        Some(self.cfg.base.ssh_target())
    }
    fn extra_sans(&self) -> Vec<String> {
        if self.cfg.private_ip_address.is_empty() {
            vec![]
        } else {
            vec![self.cfg.private_ip_address.clone()]
        }
    }

    async fn pre_create_check(&self, ctx: &DriverContext<'_>) -> Result<()> {
        self.user_data()?;
        if !self.cfg.ssh_key.is_empty() {
            if self.cfg.ssh_key_fingerprint.is_empty() {
                return Err(Error::invalid(format!(
                    "--digitalocean-ssh-key-path \"{}\" needs --digitalocean-ssh-key-fingerprint",
                    self.cfg.ssh_key
                ))
                .with_hint("give the fingerprint of that key as DigitalOcean lists it"));
            }
            super::check_ssh_key_file(Path::new(&self.cfg.ssh_key), "digitalocean-ssh-key-path")?;
        }
        let (token, source) = self.token(Some(ctx.store_root))?;
        ctx.progress
            .log(format!("Using the DigitalOcean token from {source}"));
        if let Ok(mut slot) = self.checked_token.lock() {
            *slot = Some((token.clone(), source));
        }
        let client = Client::new(&token)?;
        let regions = client.regions().await?;
        let Some(region) = regions.iter().find(|r| r.slug == self.cfg.region) else {
            let mut slugs: Vec<&str> = regions
                .iter()
                .filter(|r| r.available)
                .map(|r| r.slug.as_str())
                .collect();
            slugs.sort();
            return Err(Error::invalid(format!(
                "DigitalOcean has no region \"{}\"",
                self.cfg.region
            ))
            .with_hint(format!("regions: {}", slugs.join(", "))));
        };
        if !region.available {
            return Err(Error::invalid(format!(
                "DigitalOcean's region {} does not take new droplets now",
                region.slug
            ))
            .with_hint("pick another --digitalocean-region"));
        }
        if !region.sizes.is_empty() && !region.sizes.contains(&self.cfg.size) {
            return Err(Error::invalid(format!(
                "size {} is not offered in {}",
                self.cfg.size, region.slug
            ))
            .with_hint(format!("sizes there: {}", region.sizes.join(", "))));
        }
        Ok(())
    }

    async fn create(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        let checked = self.checked_token.lock().ok().and_then(|mut t| t.take());
        let (token, source) = match checked {
            Some(t) => t,
            None => self.token(Some(ctx.store_root))?,
        };
        if let Source::Keychain(name) = &source {
            self.cfg.account = name.clone();
        } else if self.flag_token.is_some() {
            ctx.progress.warn(
                "The token from --digitalocean-access-token is not stored: later commands for this \
                 machine need $DIGITALOCEAN_ACCESS_TOKEN or an account (`berth credentials add digitalocean`)",
            );
        }
        let client = Client::new(&token)?;
        let key_id = self.upload_or_find_key(&client, ctx).await?;
        let droplet = client
            .create_droplet(&DropletRequest {
                name: ctx.name.to_string(),
                region: self.cfg.region.clone(),
                size: self.cfg.size.clone(),
                image: self.cfg.image.clone(),
                ssh_keys: vec![key_id],
                backups: self.cfg.backups,
                ipv6: self.cfg.ipv6,
                monitoring: self.cfg.monitoring,
                private_networking: self.cfg.private_networking,
                tags: self.tags(),
                user_data: self.user_data()?,
                vpc_uuid: None,
            })
            .await?;
        self.cfg.droplet_id = droplet.id;
        ctx.checkpoint(self.config()?)?;
        ctx.progress.log(format!(
            "Created droplet {} ({}, {}, {})",
            droplet.id, self.cfg.region, self.cfg.size, self.cfg.image
        ));
        self.wait_active(&client, ctx).await?;
        self.wait_ssh(ctx).await
    }

    async fn state(&self, timeout: Duration) -> MachineState {
        if self.cfg.droplet_id == 0 {
            return MachineState::Error;
        }
        let Ok(client) = self.client(None) else {
            return MachineState::Error;
        };
        match tokio::time::timeout(timeout, client.droplet(self.cfg.droplet_id)).await {
            Ok(Ok(d)) => state_of(&d.status),
            Ok(Err(e)) if e.kind() == ErrorKind::NotFound => MachineState::NotFound,
            Ok(Err(_)) => MachineState::Error,
            Err(_) => MachineState::Timeout,
        }
    }

    async fn start(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.act(ctx, "power_on", "Powering on").await
    }
    async fn stop(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.act(ctx, "shutdown", "Shutting down").await
    }
    async fn kill(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.act(ctx, "power_off", "Powering off").await
    }
    async fn restart(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.act(ctx, "reboot", "Rebooting").await
    }

    async fn remove(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        let client = self.client(Some(ctx.store_root))?;
        for id in self.own_droplets(&client, ctx).await? {
            gone_is_fine(client.delete_droplet(id).await)?;
            ctx.progress.log(format!("Deleted droplet {id}"));
        }
        self.cfg.droplet_id = 0;
        for id in self.own_keys(&client).await? {
            gone_is_fine(client.delete_key(id).await)?;
            ctx.progress
                .log("Deleted the machine's SSH key from the account");
        }
        self.cfg.ssh_key_id = 0;
        Ok(())
    }
}

impl DigitalOcean {
    /// The droplets this machine made: the recorded one, and any carrying its ID tag (create
    /// may have been cut short between making a droplet and recording it). Nothing is ever
    /// chosen by name: another store's machine of the same name is not ours to delete.
    async fn own_droplets(&self, client: &Client, ctx: &DriverContext<'_>) -> Result<Vec<i64>> {
        let mut ids = vec![];
        if self.cfg.droplet_id != 0 {
            ids.push(self.cfg.droplet_id);
        }
        if self.cfg.machine_id.is_empty() {
            if self.cfg.droplet_id == 0 {
                ctx.progress.warn(format!(
                    "this machine's record has no droplet ID and predates Berth's machine IDs: \
                     if a droplet was made, find it under the tag {} and delete it yourself",
                    machine_tag(&self.cfg.base.machine_name)
                ));
            }
            return Ok(ids);
        }
        for d in client
            .droplets_tagged(&id_tag(&self.cfg.machine_id))
            .await?
        {
            if !ids.contains(&d.id) {
                ids.push(d.id);
            }
        }
        Ok(ids)
    }

    /// The keys this machine uploaded: the recorded one, and any with its ID in the name.
    async fn own_keys(&self, client: &Client) -> Result<Vec<i64>> {
        let mut ids = vec![];
        if self.cfg.ssh_key_id != 0 {
            ids.push(self.cfg.ssh_key_id);
        }
        if !self.cfg.machine_id.is_empty() {
            let name = key_name(&self.cfg.base.machine_name, &self.cfg.machine_id);
            for k in client.keys().await? {
                if k.name == name && !ids.contains(&k.id) {
                    ids.push(k.id);
                }
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::drivers::cloud::test_options as opts;

    #[test]
    fn defaults_and_validation() {
        let info = info();
        let d = DigitalOcean::from_options("web.1", &info, &opts(&[])).unwrap();
        assert_eq!(
            (
                d.cfg.image.as_str(),
                d.cfg.region.as_str(),
                d.cfg.size.as_str()
            ),
            (DEFAULT_IMAGE, DEFAULT_REGION, DEFAULT_SIZE)
        );
        assert_eq!(d.cfg.base.ssh_user, "root");
        assert_eq!(d.cfg.machine_id.len(), 24);
        assert_eq!(
            d.tags(),
            vec!["berth:web_1".to_string(), id_tag(&d.cfg.machine_id)]
        );
        let other = DigitalOcean::from_options("web.1", &info, &opts(&[])).unwrap();
        assert_ne!(other.cfg.machine_id, d.cfg.machine_id, "one ID per create");
        let d =
            DigitalOcean::from_options("m", &info, &opts(&[("digitalocean-tags", " a, ,b:c ,")]))
                .unwrap();
        assert_eq!(d.cfg.tags, "a,b:c");
        for bad in [
            ("digitalocean-tags", "ok,no spaces"),
            ("digitalocean-region", "nyc3; rm"),
            ("digitalocean-size", ""),
            ("digitalocean-ssh-user", "a b"),
            ("digitalocean-ssh-port", "0"),
        ] {
            assert!(
                DigitalOcean::from_options("m", &info, &opts(&[bad])).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_token_is_never_stored() {
        let info = info();
        let d = DigitalOcean::from_options(
            "m",
            &info,
            &opts(&[("digitalocean-access-token", "dop_v1_secret")]),
        )
        .unwrap();
        let stored = d.config().unwrap().to_string();
        assert!(!stored.contains("dop_v1_secret"), "{stored}");
        assert_eq!(d.config().unwrap()["AccessToken"], "");
    }

    #[test]
    fn readiness_and_states() {
        let droplet = |status: &str, v4: serde_json::Value| -> Droplet {
            serde_json::from_value(serde_json::json!({
                "id": 1, "name": "m", "status": status, "networks": {"v4": v4}
            }))
            .unwrap()
        };
        let both = serde_json::json!([
            {"ip_address": "10.0.0.5", "type": "private"},
            {"ip_address": "192.0.2.5", "type": "public"}
        ]);
        assert_eq!(ready_address(&droplet("new", both.clone()), false), None);
        assert_eq!(
            ready_address(&droplet("active", both), true),
            Some("192.0.2.5")
        );
        let public_only = serde_json::json!([{"ip_address": "192.0.2.5", "type": "public"}]);
        assert_eq!(ready_address(&droplet("active", public_only), true), None);
        assert_eq!(state_of("off"), MachineState::Stopped);
        assert_eq!(state_of("new"), MachineState::Starting);
        assert_eq!(state_of("weird"), MachineState::None);
    }
}
