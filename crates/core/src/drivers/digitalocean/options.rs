//! The digitalocean driver's options and what machine.json stores for it.

use serde::{Deserialize, Serialize};

use crate::drivers::{DriverInfo, DriverKind, OptionKind, OptionSpec};

pub const DEFAULT_IMAGE: &str = "ubuntu-24-04-x64";
pub const DEFAULT_REGION: &str = "nyc3";
pub const DEFAULT_SIZE: &str = "s-1vcpu-1gb";

pub fn info() -> DriverInfo {
    let mut info = schema();
    // The wizard shows these first; the rest have defaults and go under "more options".
    crate::drivers::mark_advanced(
        &mut info.options,
        &[
            "digitalocean-account",
            "digitalocean-region",
            "digitalocean-size",
            "digitalocean-image",
        ],
    );
    info
}

fn schema() -> DriverInfo {
    use OptionKind::*;
    DriverInfo {
        name: "digitalocean",
        title: "DigitalOcean",
        description: "A droplet in your DigitalOcean account, made and removed by Berth. Needs an API token with write access.",
        kind: DriverKind::Cloud,
        features: super::REGISTRATION.features,
        options: vec![
            OptionSpec::new("digitalocean-account", Account)
.label("Account")
.help("account whose token to use (`berth credentials ls`); default: $DIGITALOCEAN_ACCESS_TOKEN, else your only account")
.env("BERTH_DIGITALOCEAN_ACCOUNT"),
            OptionSpec::new("digitalocean-access-token", Secret)
.label("API token")
.help("API token for this command only (visible to other users in the process list: prefer `berth credentials add digitalocean`)")
.env("DIGITALOCEAN_ACCESS_TOKEN"),
            OptionSpec::new("digitalocean-image", String)
.listed(crate::drivers::Listing::Images)
.label("Image")
.help("image slug")
.default(DEFAULT_IMAGE)
.env("DIGITALOCEAN_IMAGE"),
            OptionSpec::new("digitalocean-region", String)
.listed(crate::drivers::Listing::Regions)
.label("Region")
.help("region slug")
.default(DEFAULT_REGION)
.env("DIGITALOCEAN_REGION"),
            OptionSpec::new("digitalocean-size", String)
.listed(crate::drivers::Listing::Sizes)
.label("Size")
.help("droplet size slug")
.default(DEFAULT_SIZE)
.env("DIGITALOCEAN_SIZE"),
            OptionSpec::new("digitalocean-ipv6", Bool)
.label("IPv6")
.help("enable IPv6")
.env("DIGITALOCEAN_IPV6"),
            OptionSpec::new("digitalocean-private-networking", Bool)
.label("Private networking")
.help("enable private networking")
.env("DIGITALOCEAN_PRIVATE_NETWORKING"),
            OptionSpec::new("digitalocean-backups", Bool)
.label("Backups")
.help("enable weekly backups (billed)")
.env("DIGITALOCEAN_BACKUPS"),
            OptionSpec::new("digitalocean-monitoring", Bool)
.label("Monitoring")
.help("install the monitoring agent")
.env("DIGITALOCEAN_MONITORING"),
            OptionSpec::new("digitalocean-tags", String)
.label("Tags")
.help("comma-separated tags for the droplet")
.env("DIGITALOCEAN_TAGS"),
            OptionSpec::new("digitalocean-userdata", Path)
.label("User data")
.help("cloud-init file to pass to the droplet")
.env("DIGITALOCEAN_USERDATA"),
            OptionSpec::new("digitalocean-ssh-user", String)
.label("SSH user")
.help("SSH user")
.default("root")
.env("DIGITALOCEAN_SSH_USER"),
            OptionSpec::new("digitalocean-ssh-port", Int)
.range(1, 65535)
.label("SSH port")
.help("SSH port")
.default("22")
.env("DIGITALOCEAN_SSH_PORT"),
            OptionSpec::new("digitalocean-ssh-key-fingerprint", String)
.label("Existing key fingerprint")
.help("use this key of your account instead of uploading a new one")
.env("DIGITALOCEAN_SSH_KEY_FINGERPRINT"),
            OptionSpec::new("digitalocean-ssh-key-path", Path)
.label("Existing key file")
.help("private key of --digitalocean-ssh-key-fingerprint (default: your SSH agent's or default keys)")
.env("DIGITALOCEAN_SSH_KEY_PATH"),
        ],
    }
}

/// Stored as docker-machine's digitalocean driver stored itself, plus `Account`; `AccessToken`
/// stays empty.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct DigitalOceanConfig {
    /// docker-machine's BaseDriver fields, at the top level as it stored them.
    #[serde(flatten)]
    pub base: crate::drivers::cloud::BaseFields,
    #[serde(rename = "AccessToken", default)]
    pub access_token: String,
    /// The keychain account the droplet was made with; empty = the environment / only account.
    #[serde(rename = "Account", default)]
    pub account: String,
    /// Random, per machine, chosen before anything is made: the droplet carries it as the tag
    /// `berth-id:ID` and the uploaded key in its name, so rollback and `rm` delete what this
    /// machine made and nothing else. Empty in records from before it existed.
    #[serde(rename = "MachineId", default)]
    pub machine_id: String,
    #[serde(rename = "DropletID", default)]
    pub droplet_id: i64,
    #[serde(rename = "DropletName", default)]
    pub droplet_name: String,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "Region")]
    pub region: String,
    /// The key Berth uploaded (0 when an existing key was used).
    #[serde(rename = "SSHKeyID", default)]
    pub ssh_key_id: i64,
    #[serde(rename = "SSHKeyFingerprint", default)]
    pub ssh_key_fingerprint: String,
    #[serde(rename = "SSHKey", default)]
    pub ssh_key: String,
    #[serde(rename = "Size")]
    pub size: String,
    #[serde(rename = "IPv6", default)]
    pub ipv6: bool,
    #[serde(rename = "Backups", default)]
    pub backups: bool,
    #[serde(rename = "PrivateNetworking", default)]
    pub private_networking: bool,
    #[serde(rename = "UserDataFile", default)]
    pub user_data_file: String,
    #[serde(rename = "Monitoring", default)]
    pub monitoring: bool,
    #[serde(rename = "Tags", default)]
    pub tags: String,
    #[serde(rename = "PrivateIPAddress", default)]
    pub private_ip_address: String,
}
pub(super) fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 255
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_".contains(c))
}

pub(super) fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}
