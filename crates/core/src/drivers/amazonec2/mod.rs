//! `amazonec2`: an EC2 instance made through the EC2 Query API. docker-machine's flags and stored
//! field names, with current defaults (a current Ubuntu LTS AMI looked up at create, t3.micro,
//! gp3). Differences that fix docker-machine's problems: the keys are never stored (they come
//! from a keychain account, the environment or ~/.aws/credentials); the default security group
//! is the machine's own, opens SSH and the engine port only to `--amazonec2-allowed-cidr`, and
//! is deleted with the machine; everything Berth makes carries a `berth-machine-id` tag, so `rm`
//! finds it even when create was cut short.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{
    Driver, DriverContext, DriverInfo, DriverKind, DriverOptions, MachineState, OptionKind,
};
use crate::cloud::aws::{self, Client};
use crate::cloud::ec2::{Image, IngressRule, Instance, Params};
use crate::credentials::{Credentials, Provider, Secret, Source};
use crate::error::{Error, ErrorKind, Result};
use crate::ssh::SshTarget;

mod launch;
mod options;

pub use launch::{architecture, newest_lts};
pub use options::{AmazonConfig, info};

const RUNNING_TIMEOUT: Duration = Duration::from_secs(300);
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(300);
/// After its instances are gone a group can stay "in use" for a few seconds (the network
/// interface detaches late); longer means another instance uses it.
const GROUP_RELEASE_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_secs(2);
/// EC2's limit on user data (before base64).
const MAX_USER_DATA: u64 = 16 * 1024;
/// Canonical's AWS account: the owner of the official Ubuntu images.
pub const CANONICAL: &str = "099720109477";
pub const ID_TAG: &str = "berth-machine-id";

pub const DEFAULT_INSTANCE_TYPE: &str = "t3.micro";

/// What the pre-create check found out, reused by create (one credential lookup, one AMI search).
#[derive(Clone)]
struct Prepared {
    secret: Secret,
    source: Source,
    ami: String,
    vpc_id: String,
    subnet_id: String,
    zone: String,
}

/// This driver's registry entry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "amazonec2",
    features: crate::drivers::Features::CLOUD,
    info,
    availability: super::registry::always_available,
    create: |name, info, o| Ok(Box::new(AmazonEc2::from_options(name, info, o)?)),
    load: |v, root| Ok(Box::new(AmazonEc2::from_config(v, root)?)),
};

pub struct AmazonEc2 {
    cfg: AmazonConfig,
    /// Keys from the command line: used by this process only, never written anywhere.
    flag_keys: Option<Secret>,
    store_root: Option<PathBuf>,
    prepared: Mutex<Option<Prepared>>,
}

fn state_of(ec2_state: &str) -> MachineState {
    match ec2_state {
        "pending" => MachineState::Starting,
        "running" => MachineState::Running,
        "stopping" | "shutting-down" => MachineState::Stopping,
        "stopped" => MachineState::Stopped,
        "terminated" => MachineState::Error,
        _ => MachineState::None,
    }
}

use super::cloud::gone_is_fine;

/// Retries a call that fails with "not found" for up to 20 s: EC2 makes new key pairs, groups
/// and instances visible to other calls a moment after it created them.
pub(super) async fn until_visible<T, F, Fut>(mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match call().await {
            Err(e) if e.kind() == ErrorKind::NotFound && Instant::now() < deadline => {
                tokio::time::sleep(POLL).await;
            }
            other => return other,
        }
    }
}

impl AmazonEc2 {
    pub fn from_config(v: serde_json::Value, store_root: &Path) -> serde_json::Result<Self> {
        Ok(AmazonEc2 {
            cfg: serde_json::from_value(v)?,
            flag_keys: None,
            store_root: Some(store_root.to_path_buf()),
            prepared: Mutex::new(None),
        })
    }

    /// The keys and where they came from (never a key in any message).
    fn keys(&self, store_root: Option<&Path>) -> Result<(Secret, Source)> {
        if let Some(k) = &self.flag_keys {
            return Ok((k.clone(), Source::Flag("amazonec2-secret-key")));
        }
        let root = store_root
            .or(self.store_root.as_deref())
            .ok_or_else(|| Error::driver("no store to look up AWS credentials in"))?;
        let account = (!self.cfg.account.is_empty()).then_some(self.cfg.account.as_str());
        Credentials::os(root).resolve(Provider::Aws, account, &|k| std::env::var(k).ok())
    }

    fn client_with(&self, secret: &Secret) -> Result<Client> {
        Client::with_endpoint(secret, &self.cfg.region, &self.cfg.endpoint)
    }

    fn client(&self, store_root: Option<&Path>) -> Result<Client> {
        self.client_with(&self.keys(store_root)?.0)
    }

    fn id_tag(&self) -> (String, String) {
        (ID_TAG.to_string(), self.cfg.machine_id.clone())
    }

    fn instance_tags(&self) -> Vec<(String, String)> {
        let mut tags = vec![
            ("Name".to_string(), self.cfg.base.machine_name.clone()),
            self.id_tag(),
        ];
        tags.extend(options::parse_tags(&self.cfg.tags).unwrap_or_default());
        tags
    }

    /// The user-data file, base64 as RunInstances takes it.
    fn user_data(&self) -> Result<Option<String>> {
        use base64::Engine;
        Ok(super::cloud::read_user_data(
            &self.cfg.user_data_file,
            MAX_USER_DATA,
            "EC2",
            "amazonec2-userdata",
        )?
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b)))
    }

    fn address_of<'a>(&self, i: &'a Instance) -> &'a str {
        if self.cfg.use_private_ip {
            &i.private_ip
        } else {
            &i.public_ip
        }
    }

    /// Everything create needs to know before it makes anything; errors here leave nothing.
    async fn prepare(
        &self,
        store_root: &Path,
        ctx: Option<&DriverContext<'_>>,
    ) -> Result<Prepared> {
        let log = |s: String| {
            if let Some(c) = ctx {
                c.progress.log(s);
            }
        };
        self.user_data()?;
        if !self.cfg.ssh_private_key_path.is_empty() {
            super::check_ssh_key_file(
                Path::new(&self.cfg.ssh_private_key_path),
                "amazonec2-ssh-keypath",
            )?;
        }
        let (secret, source) = self.keys(Some(store_root))?;
        log(format!("Using the AWS keys from {source}"));
        let client = self.client_with(&secret)?;

        let regions = client.describe_regions().await?;
        if !regions.is_empty() && !regions.contains(&self.cfg.region) {
            let mut r = regions.clone();
            r.sort();
            return Err(Error::invalid(format!(
                "AWS has no region \"{}\" for this account",
                self.cfg.region
            ))
            .with_hint(format!("regions: {}", r.join(", "))));
        }
        client
            .check_instance_type(&self.cfg.instance_type)
            .await
            .map_err(|e| {
                if e.message().contains("InvalidInstanceType") {
                    Error::invalid(format!(
                        "EC2 has no instance type \"{}\" in {}",
                        self.cfg.instance_type, self.cfg.region
                    ))
                    .with_hint("see the instance types in the EC2 console, e.g. t3.micro")
                } else {
                    e
                }
            })?;

        let ami = self.find_ami(&client).await?;
        log(format!("Image: {ami}"));
        let (vpc_id, subnet_id, zone) = self.find_network(&client).await?;
        log(format!("Network: {vpc_id}, {subnet_id} ({zone})"));

        let key = client.key_pair(&self.cfg.key_name).await?;
        match (self.cfg.existing_key, key) {
            (true, None) => {
                return Err(Error::invalid(format!(
                    "AWS has no key pair \"{}\" in {}",
                    self.cfg.key_name, self.cfg.region
                ))
                .with_hint("check --amazonec2-keypair-name (key pairs are per region)"));
            }
            (false, Some(_)) => {
                return Err(Error::invalid(format!(
                    "AWS already has a key pair named \"{}\" in {}",
                    self.cfg.key_name, self.cfg.region
                ))
                .with_hint("remove that key pair, use another machine name, or pass it with --amazonec2-keypair-name and --amazonec2-ssh-keypath"));
            }
            _ => {}
        }
        if self.cfg.security_group_readonly {
            let mut p = Params::new();
            let names: Vec<&str> = self
                .cfg
                .security_group_names
                .iter()
                .map(String::as_str)
                .collect();
            p.filter("group-name", &names).filter("vpc-id", &[&vpc_id]);
            let found = client.security_groups(&p).await?;
            if let Some(missing) = names.iter().find(|n| !found.iter().any(|g| g.name == **n)) {
                return Err(Error::invalid(format!(
                    "VPC {vpc_id} has no security group \"{missing}\" (and --amazonec2-security-group-readonly forbids making it)"
                )));
            }
        }
        Ok(Prepared {
            secret,
            source,
            ami,
            vpc_id,
            subnet_id,
            zone,
        })
    }

    /// Polls until the instance runs and has the address Berth will use; records both IPs.
    async fn wait_running(&mut self, client: &Client, ctx: &DriverContext<'_>) -> Result<()> {
        ctx.progress.log(format!(
            "Waiting for instance {} to run with an IP address...",
            self.cfg.instance_id
        ));
        let deadline = Instant::now() + RUNNING_TIMEOUT;
        loop {
            // EC2 is eventually consistent: a new instance can be "not found" for a moment.
            let i = match client.instance(&self.cfg.instance_id).await {
                Ok(i) => i,
                Err(e) if e.kind() == ErrorKind::NotFound && Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if matches!(i.state.as_str(), "shutting-down" | "terminated") {
                return Err(Error::driver(format!(
                    "instance {} ended ({}) before it ran",
                    i.id, i.state
                ))
                .with_hint("see the instance's state reason in the EC2 console (capacity, spot price, limits)"));
            }
            let address = self.address_of(&i).to_string();
            if i.state == "running" && !address.is_empty() {
                self.cfg.base.ip_address = address;
                self.cfg.private_ip_address = i.private_ip.clone();
                ctx.progress.log(format!(
                    "Instance {} is running at {}",
                    i.id, self.cfg.base.ip_address
                ));
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::timeout(format!(
                    "instance {} did not run with an address in {} s (state \"{}\")",
                    i.id,
                    RUNNING_TIMEOUT.as_secs(),
                    i.state
                ))
                .with_hint(if self.cfg.use_private_ip {
                    "check the instance in the EC2 console"
                } else {
                    "the subnet may give no public IPs: use --amazonec2-use-private-address from inside the VPC"
                }));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_ssh(&self, ctx: &DriverContext<'_>) -> Result<()> {
        super::cloud::wait_ssh(
            &self.cfg.base.ip_address,
            self.cfg.base.ssh_port,
            "instance",
            "check that --amazonec2-allowed-cidr includes your address and the AMI runs sshd",
            ctx,
        )
        .await
    }

    fn need_instance(&self) -> Result<()> {
        if self.cfg.instance_id.is_empty() {
            return Err(Error::driver(
                "this machine has no instance (its create did not get that far)",
            )
            .with_hint("remove it with `berth rm` and create it again"));
        }
        Ok(())
    }

    /// Instances of this machine still alive: the recorded one, and any found by its ID tag.
    async fn live_instances(&self, client: &Client) -> Result<Vec<String>> {
        let mut ids = vec![];
        if !self.cfg.instance_id.is_empty() {
            ids.push(self.cfg.instance_id.clone());
        }
        if !self.cfg.machine_id.is_empty() {
            let mut p = Params::new();
            p.filter(&format!("tag:{ID_TAG}"), &[&self.cfg.machine_id])
                .filter(
                    "instance-state-name",
                    &["pending", "running", "stopping", "stopped"],
                );
            for i in client.instances(&p).await? {
                if !ids.contains(&i.id) {
                    ids.push(i.id);
                }
            }
        }
        Ok(ids)
    }

    async fn wait_terminated(
        &self,
        client: &Client,
        ids: &[String],
        ctx: &DriverContext<'_>,
    ) -> Result<()> {
        let deadline = Instant::now() + TERMINATE_TIMEOUT;
        for id in ids {
            loop {
                match client.instance(id).await {
                    Ok(i) if i.state != "terminated" => {}
                    Ok(_) => break,
                    Err(e) if e.kind() == ErrorKind::NotFound => break,
                    Err(e) => return Err(e),
                }
                if Instant::now() > deadline {
                    return Err(Error::timeout(format!(
                        "instance {id} did not terminate in {} s",
                        TERMINATE_TIMEOUT.as_secs()
                    )));
                }
                ctx.progress
                    .log(format!("Waiting for instance {id} to terminate..."));
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(())
    }

    async fn delete_group(&self, client: &Client, id: &str, ctx: &DriverContext<'_>) -> Result<()> {
        let deadline = Instant::now() + GROUP_RELEASE_TIMEOUT;
        loop {
            match client.delete_security_group(id).await {
                Ok(()) => {
                    ctx.progress.log(format!("Deleted security group {id}"));
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e)
                    if e.message().contains("DependencyViolation") && Instant::now() < deadline =>
                {
                    tokio::time::sleep(POLL).await;
                }
                Err(e) if e.message().contains("DependencyViolation") => {
                    ctx.progress.warn(format!(
                        "Kept security group {id}: other instances still use it"
                    ));
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl Driver for AmazonEc2 {
    fn name(&self) -> &'static str {
        "amazonec2"
    }
    fn config(&self) -> Result<serde_json::Value> {
        super::config_value(self.name(), &self.cfg)
    }
    fn address(&self) -> Result<String> {
        self.cfg.base.address("instance")
    }
    fn ssh_target(&self) -> Option<SshTarget> {
        Some(self.cfg.base.ssh_target())
    }
    fn extra_sans(&self) -> Vec<String> {
        if self.cfg.private_ip_address.is_empty()
            || self.cfg.private_ip_address == self.cfg.base.ip_address
        {
            vec![]
        } else {
            vec![self.cfg.private_ip_address.clone()]
        }
    }

    async fn pre_create_check(&self, ctx: &DriverContext<'_>) -> Result<()> {
        let prepared = self.prepare(ctx.store_root, Some(ctx)).await?;
        if let Ok(mut slot) = self.prepared.lock() {
            *slot = Some(prepared);
        }
        Ok(())
    }

    async fn create(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        let ready = self.prepared.lock().ok().and_then(|mut s| s.take());
        let prepared = match ready {
            Some(p) => p,
            None => self.prepare(ctx.store_root, Some(ctx)).await?,
        };
        if let Source::Keychain(name) = &prepared.source {
            self.cfg.account = name.clone();
        } else if self.flag_keys.is_some() {
            ctx.progress.warn(
                "The keys from --amazonec2-access-key/--amazonec2-secret-key are not stored: later \
                 commands for this machine need them in the environment or an account (`berth credentials add amazonec2`)",
            );
        }
        self.cfg.ami = prepared.ami.clone();
        self.cfg.vpc_id = prepared.vpc_id.clone();
        self.cfg.subnet_id = prepared.subnet_id.clone();
        let client = self.client_with(&prepared.secret)?;
        // Each thing made is on disk before the next is asked for (they also carry the
        // machine's ID tag, which finds them if even that write was cut short).
        self.key_pair(&client, ctx).await?;
        ctx.checkpoint(self.config()?)?;
        let vpc = prepared.vpc_id.clone();
        self.security_groups(&client, &vpc, ctx).await?;
        ctx.checkpoint(self.config()?)?;
        let params = self.launch_params(&prepared)?;
        // The key pair and group just made may not be visible to RunInstances yet.
        let instance = until_visible(|| client.run_instance(&params)).await?;
        self.cfg.instance_id = instance.id.clone();
        ctx.checkpoint(self.config()?)?;
        ctx.progress.log(format!(
            "Launched {}instance {} ({}, {}, {})",
            if self.cfg.request_spot_instance {
                "spot "
            } else {
                ""
            },
            instance.id,
            self.cfg.instance_type,
            self.cfg.ami,
            prepared.zone
        ));
        self.wait_running(&client, ctx).await?;
        self.wait_ssh(ctx).await
    }

    async fn state(&self, timeout: Duration) -> MachineState {
        if self.cfg.instance_id.is_empty() {
            return MachineState::Error;
        }
        let Ok(client) = self.client(None) else {
            return MachineState::Error;
        };
        match tokio::time::timeout(timeout, client.instance(&self.cfg.instance_id)).await {
            Ok(Ok(i)) => state_of(&i.state),
            Ok(Err(e)) if e.kind() == ErrorKind::NotFound => MachineState::NotFound,
            Ok(Err(_)) => MachineState::Error,
            Err(_) => MachineState::Timeout,
        }
    }

    async fn start(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.need_instance()?;
        let client = self.client(Some(ctx.store_root))?;
        client
            .instance_action("StartInstances", &self.cfg.instance_id, false)
            .await?;
        // A public IP changes on every start; the certificate is repaired after boot.
        self.wait_running(&client, ctx).await
    }
    async fn stop(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.need_instance()?;
        let client = self.client(Some(ctx.store_root))?;
        client
            .instance_action("StopInstances", &self.cfg.instance_id, false)
            .await
    }
    async fn kill(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.need_instance()?;
        let client = self.client(Some(ctx.store_root))?;
        client
            .instance_action("StopInstances", &self.cfg.instance_id, true)
            .await
    }
    async fn restart(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        self.need_instance()?;
        let client = self.client(Some(ctx.store_root))?;
        client
            .instance_action("RebootInstances", &self.cfg.instance_id, false)
            .await
    }

    async fn remove(&mut self, ctx: &DriverContext<'_>) -> Result<()> {
        let client = self.client(Some(ctx.store_root))?;
        let ids = self.live_instances(&client).await?;
        for id in &ids {
            match client.instance_action("TerminateInstances", id, false).await {
                Ok(()) => ctx.progress.log(format!("Terminated instance {id}")),
                Err(e) if e.kind() == ErrorKind::NotFound => ctx.progress.warn(format!(
                    "AWS does not know instance {id} with these keys: it was terminated already, or the keys belong to another account than the one that made it"
                )),
                Err(e) => return Err(e),
            }
        }
        let mut groups = self.cfg.created_security_group_ids.clone();
        if !self.cfg.machine_id.is_empty() {
            let mut p = Params::new();
            p.filter(&format!("tag:{ID_TAG}"), &[&self.cfg.machine_id]);
            for g in client.security_groups(&p).await? {
                if !groups.contains(&g.id) {
                    groups.push(g.id);
                }
            }
        }
        if !groups.is_empty() {
            // A group cannot be deleted while an instance still uses it.
            self.wait_terminated(&client, &ids, ctx).await?;
            for g in &groups {
                self.delete_group(&client, g, ctx).await?;
            }
        }
        self.cfg.created_security_group_ids.clear();
        self.cfg.instance_id.clear();
        if !self.cfg.existing_key && !self.cfg.key_name.is_empty() {
            // Only a pair Berth imported: tagged with this machine's ID.
            let mine = self.cfg.key_imported
                || client
                    .key_pair_tagged(&self.cfg.key_name, ID_TAG, &self.cfg.machine_id)
                    .await?;
            if mine {
                gone_is_fine(client.delete_key_pair(&self.cfg.key_name).await)?;
                ctx.progress
                    .log(format!("Deleted key pair \"{}\"", self.cfg.key_name));
                self.cfg.key_imported = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_like_docker_machine() {
        assert_eq!(state_of("pending"), MachineState::Starting);
        assert_eq!(state_of("shutting-down"), MachineState::Stopping);
        assert_eq!(state_of("stopped"), MachineState::Stopped);
        assert_eq!(state_of("terminated"), MachineState::Error);
    }
}
