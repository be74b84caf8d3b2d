//! amazonec2's options: the schema (flags and form), what machine.json stores, and the checks
//! that turn flags into a configuration.

use super::*;

use crate::drivers::OptionSpec;

/// EBS volume types.
const VOLUME_TYPES: &[&str] = &["gp3", "gp2", "io1", "io2", "st1", "sc1", "standard"];

pub fn info() -> DriverInfo {
    let mut info = schema();
    // The wizard shows these first; the rest have defaults and go under "more options".
    crate::drivers::mark_advanced(
        &mut info.options,
        &[
            "amazonec2-account",
            "amazonec2-region",
            "amazonec2-instance-type",
            "amazonec2-root-size",
            "amazonec2-allowed-cidr",
        ],
    );
    info
}

fn schema() -> DriverInfo {
    use OptionKind::*;
    DriverInfo {
        name: "amazonec2",
        title: "AWS EC2",
        description: "An EC2 instance in your AWS account, made and removed by Berth, with its own security group and key pair.",
        kind: DriverKind::Cloud,
        features: super::REGISTRATION.features,
        options: vec![
            OptionSpec::new("amazonec2-account", Account)
.label("Account")
.help("account whose keys to use (`berth credentials ls`); default: $AWS_ACCESS_KEY_ID, $AWS_PROFILE / ~/.aws/credentials, else your only account")
.env("BERTH_AMAZONEC2_ACCOUNT"),
            OptionSpec::new("amazonec2-access-key", Secret)
.label("Access key ID")
.help("access key ID for this command only (prefer `berth credentials add amazonec2`)"),
            OptionSpec::new("amazonec2-secret-key", Secret)
.label("Secret access key")
.help("secret key for this command only (visible in the process list: prefer `berth credentials add amazonec2`)"),
            OptionSpec::new("amazonec2-session-token", Secret)
.label("Session token")
.help("session token for this command only"),
            OptionSpec::new("amazonec2-region", String)
.listed(crate::drivers::Listing::Regions)
.label("Region")
.help("region")
.default(aws::DEFAULT_REGION)
.env("AWS_DEFAULT_REGION"),
            OptionSpec::new("amazonec2-ami", String)
.label("AMI")
.help("image ID (default: the newest Ubuntu LTS from Canonical for the instance type's architecture)")
.env("AWS_AMI"),
            OptionSpec::new("amazonec2-instance-type", String)
.listed(crate::drivers::Listing::Sizes)
.label("Instance type")
.help("instance type")
.default(DEFAULT_INSTANCE_TYPE)
.env("AWS_INSTANCE_TYPE"),
            OptionSpec::new("amazonec2-root-size", Int)
.range(1, 16384)
.label("Root disk (GB)")
.help("root disk size in GB")
.default("16")
.env("AWS_ROOT_SIZE"),
            OptionSpec::new("amazonec2-volume-type", String)
.choices(VOLUME_TYPES)
.label("Volume type")
.help("root disk type (gp3, gp2, io1, io2, st1, sc1, standard)")
.default("gp3")
.env("AWS_VOLUME_TYPE"),
            OptionSpec::new("amazonec2-device-name", String)
.label("Root device")
.help("the AMI's root device name")
.default("/dev/sda1")
.env("AWS_DEVICE_NAME"),
            OptionSpec::new("amazonec2-vpc-id", String)
.label("VPC")
.help("VPC (default: the region's default VPC)")
.env("AWS_VPC_ID"),
            OptionSpec::new("amazonec2-subnet-id", String)
.label("Subnet")
.help("subnet (default: the VPC's default subnet in the zone)")
.env("AWS_SUBNET_ID"),
            OptionSpec::new("amazonec2-zone", String)
.label("Zone")
.help("availability zone letter")
.default("a")
.env("AWS_ZONE"),
            OptionSpec::new("amazonec2-security-group", StringList)
.label("Security groups")
.help("existing or new security groups by name, repeatable (default: a group of the machine's own, deleted with it)")
.env("AWS_SECURITY_GROUP"),
            OptionSpec::new("amazonec2-security-group-readonly", Bool)
.label("Do not change groups")
.help("use the named security groups as they are (add no rules)")
.env("AWS_SECURITY_GROUP_READONLY"),
            OptionSpec::new("amazonec2-allowed-cidr", String)
.label("Allowed from")
.help("comma-separated networks that may reach SSH, the engine port and --amazonec2-open-port (the engine needs Berth's client certificate either way)")
.default("0.0.0.0/0")
.env("AWS_ALLOWED_CIDR"),
            OptionSpec::new("amazonec2-open-port", StringList)
.label("Open ports")
.help("more ports to open, port[/tcp|udp], repeatable"),
            OptionSpec::new("amazonec2-tags", String)
.label("Tags")
.help("extra instance tags: key1,value1,key2,value2")
.env("AWS_TAGS"),
            OptionSpec::new("amazonec2-iam-instance-profile", String)
.label("IAM instance profile")
.help("instance profile name")
.env("AWS_INSTANCE_PROFILE"),
            OptionSpec::new("amazonec2-userdata", Path)
.label("User data")
.help("cloud-init file to pass to the instance")
.env("AWS_USERDATA"),
            OptionSpec::new("amazonec2-ssh-user", String)
.label("SSH user")
.help("SSH user")
.default("ubuntu")
.env("AWS_SSH_USER"),
            OptionSpec::new("amazonec2-ssh-port", Int)
.range(1, 65535)
.label("SSH port")
.help("SSH port")
.default("22")
.env("AWS_SSH_PORT"),
            OptionSpec::new("amazonec2-keypair-name", String)
.label("Existing key pair")
.help("use this key pair of your account instead of importing a new one (needs --amazonec2-ssh-keypath)")
.env("AWS_KEYPAIR_NAME"),
            OptionSpec::new("amazonec2-ssh-keypath", Path)
.label("Existing key file")
.help("private key of --amazonec2-keypair-name")
.env("AWS_SSH_KEYPATH"),
            OptionSpec::new("amazonec2-use-private-address", Bool)
.label("Use private address")
.help("reach the instance at its private IP (from inside the VPC or over a VPN)"),
            OptionSpec::new("amazonec2-private-address-only", Bool)
.label("Private address only")
.help("give the instance no public IP (implies --amazonec2-use-private-address)"),
            OptionSpec::new("amazonec2-request-spot-instance", Bool)
.label("Spot instance")
.help("run as a spot instance"),
            OptionSpec::new("amazonec2-spot-price", String)
.label("Maximum spot price")
.help("in USD per hour (default: the on-demand price)"),
            OptionSpec::new("amazonec2-monitoring", Bool)
.label("Detailed monitoring")
.help("enable CloudWatch detailed monitoring (billed)"),
            OptionSpec::new("amazonec2-use-ebs-optimized-instance", Bool)
.label("EBS-optimized")
.help("launch EBS-optimized"),
            OptionSpec::new("amazonec2-endpoint", String)
.label("Endpoint")
.help("EC2 API endpoint URL, for EC2-compatible clouds (https, or http on this computer only)")
.env("AWS_ENDPOINT"),
        ],
    }
}

/// Stored with docker-machine's field names; the key fields stay empty.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct AmazonConfig {
    /// docker-machine's BaseDriver fields, at the top level as it stored them.
    #[serde(flatten)]
    pub base: crate::drivers::cloud::BaseFields,
    #[serde(rename = "AccessKey", default)]
    pub access_key: String,
    #[serde(rename = "SecretKey", default)]
    pub secret_key: String,
    #[serde(rename = "SessionToken", default)]
    pub session_token: String,
    /// The keychain account used; empty = the environment / AWS profile / only account.
    #[serde(rename = "Account", default)]
    pub account: String,
    /// Random, per machine: tagged on everything created, and RunInstances' ClientToken.
    #[serde(rename = "MachineId", default)]
    pub machine_id: String,
    #[serde(rename = "Region")]
    pub region: String,
    #[serde(rename = "Endpoint", default)]
    pub endpoint: String,
    #[serde(rename = "AMI", default)]
    pub ami: String,
    #[serde(rename = "InstanceId", default)]
    pub instance_id: String,
    #[serde(rename = "InstanceType")]
    pub instance_type: String,
    #[serde(rename = "PrivateIPAddress", default)]
    pub private_ip_address: String,
    #[serde(rename = "KeyName", default)]
    pub key_name: String,
    /// The key pair is the user's (`--amazonec2-keypair-name`): never deleted.
    #[serde(rename = "ExistingKey", default)]
    pub existing_key: bool,
    /// Berth imported `KeyName` (it deletes it on rm).
    #[serde(rename = "KeyImported", default)]
    pub key_imported: bool,
    #[serde(rename = "SecurityGroupNames", default)]
    pub security_group_names: Vec<String>,
    #[serde(rename = "SecurityGroupIds", default)]
    pub security_group_ids: Vec<String>,
    /// The groups Berth created (deleted on rm).
    #[serde(rename = "CreatedSecurityGroupIds", default)]
    pub created_security_group_ids: Vec<String>,
    #[serde(rename = "SecurityGroupReadOnly", default)]
    pub security_group_readonly: bool,
    #[serde(rename = "AllowedCIDRs", default)]
    pub allowed_cidrs: Vec<String>,
    #[serde(rename = "OpenPorts", default)]
    pub open_ports: Vec<String>,
    #[serde(rename = "Tags", default)]
    pub tags: String,
    #[serde(rename = "Zone")]
    pub zone: String,
    #[serde(rename = "VpcId", default)]
    pub vpc_id: String,
    #[serde(rename = "SubnetId", default)]
    pub subnet_id: String,
    #[serde(rename = "DeviceName")]
    pub device_name: String,
    #[serde(rename = "RootSize")]
    pub root_size: i64,
    #[serde(rename = "VolumeType")]
    pub volume_type: String,
    #[serde(rename = "IamInstanceProfile", default)]
    pub iam_instance_profile: String,
    #[serde(rename = "RequestSpotInstance", default)]
    pub request_spot_instance: bool,
    #[serde(rename = "SpotPrice", default)]
    pub spot_price: String,
    #[serde(rename = "UsePrivateIP", default)]
    pub use_private_ip: bool,
    #[serde(rename = "PrivateIPOnly", default)]
    pub private_ip_only: bool,
    #[serde(rename = "Monitoring", default)]
    pub monitoring: bool,
    #[serde(rename = "UseEbsOptimizedInstance", default)]
    pub use_ebs_optimized: bool,
    #[serde(rename = "UserDataFile", default)]
    pub user_data_file: String,
    #[serde(rename = "SSHPrivateKeyPath", default)]
    pub ssh_private_key_path: String,
}

/// `k1,v1,k2,v2` → pairs.
pub(super) fn parse_tags(s: &str) -> Result<Vec<(String, String)>> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if s.trim().is_empty() {
        return Ok(vec![]);
    }
    if !parts.len().is_multiple_of(2) {
        return Err(Error::invalid(format!(
            "--amazonec2-tags \"{s}\" has an odd number of items"
        ))
        .with_hint("give key,value pairs: owner,me,project,web"));
    }
    let mut out = vec![];
    for kv in parts.chunks(2) {
        let (k, v) = (kv[0], kv[1]);
        if k.is_empty()
            || k.len() > 128
            || v.len() > 256
            || k.to_ascii_lowercase().starts_with("aws:")
        {
            return Err(Error::invalid(format!(
                "--amazonec2-tags: \"{k}\" is not a tag key you can set"
            ))
            .with_hint("keys are 1-128 characters and may not start with aws:"));
        }
        if k == "Name" || k == ID_TAG {
            return Err(Error::invalid(format!(
                "--amazonec2-tags: \"{k}\" is set by Berth"
            )));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// A network in CIDR form, IPv4 or IPv6.
fn valid_cidr(c: &str) -> bool {
    let Some((addr, bits)) = c.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

/// `port[/proto]` → (port, proto).
pub(super) fn parse_port(p: &str) -> Result<(u16, String)> {
    let (port, proto) = p.trim().split_once('/').unwrap_or((p.trim(), "tcp"));
    let proto = proto.to_ascii_lowercase();
    match (port.parse::<u16>(), proto.as_str()) {
        (Ok(n), "tcp" | "udp") if n > 0 => Ok((n, proto)),
        _ => Err(Error::invalid(format!(
            "--amazonec2-open-port \"{p}\" is not port[/tcp|udp]"
        ))),
    }
}

fn valid_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn check_endpoint(endpoint: &str) -> Result<()> {
    if endpoint.is_empty() {
        return Ok(());
    }
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| Error::invalid(format!("--amazonec2-endpoint \"{endpoint}\": {e}")))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        _ => Err(Error::invalid(format!(
            "--amazonec2-endpoint \"{endpoint}\" must use https (http only on this computer)"
        ))),
    }
}

/// `--amazonec2-access-key` + `--amazonec2-secret-key` (+ session token): both or neither.
fn flag_keys(o: &DriverOptions) -> Result<Option<Secret>> {
    let get = |k: &str| match o.0.get(k) {
        Some(crate::drivers::OptionValue::Str(s)) if !s.trim().is_empty() => {
            Some(s.trim().to_string())
        }
        _ => None,
    };
    match (get("amazonec2-access-key"), get("amazonec2-secret-key")) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(Secret::AwsKeys {
            access_key_id,
            secret_access_key,
            session_token: get("amazonec2-session-token"),
        })),
        (None, None) => Ok(None),
        _ => Err(
            Error::invalid("--amazonec2-access-key and --amazonec2-secret-key go together")
                .with_hint("better: store them with `berth credentials add amazonec2`"),
        ),
    }
}

impl AmazonEc2 {
    pub fn from_options(name: &str, info: &DriverInfo, o: &DriverOptions) -> Result<Self> {
        let word = |flag: &str| -> Result<String> {
            let v = o.string(info, flag)?.trim().to_string();
            if v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                Ok(v)
            } else {
                Err(Error::invalid(format!("--{flag} \"{v}\" is not valid")))
            }
        };
        let region = word("amazonec2-region")?;
        if region.is_empty() {
            return Err(Error::invalid("--amazonec2-region is empty").with_hint("e.g. us-east-1"));
        }
        let instance_type = word("amazonec2-instance-type")?;
        if instance_type.is_empty() || !instance_type.contains('.') {
            return Err(Error::invalid(format!(
                "--amazonec2-instance-type \"{instance_type}\" is not an instance type"
            ))
            .with_hint("instance types look like t3.micro or m7g.large"));
        }
        let ami = word("amazonec2-ami")?;
        if !ami.is_empty() && !valid_id(&ami, "ami-") {
            return Err(
                Error::invalid(format!("--amazonec2-ami \"{ami}\" is not an AMI ID"))
                    .with_hint("AMI IDs look like ami-0abcdef1234567890"),
            );
        }
        let vpc_id = word("amazonec2-vpc-id")?;
        if !vpc_id.is_empty() && !valid_id(&vpc_id, "vpc-") {
            return Err(Error::invalid(format!(
                "--amazonec2-vpc-id \"{vpc_id}\" is not a VPC ID"
            )));
        }
        let subnet_id = word("amazonec2-subnet-id")?;
        if !subnet_id.is_empty() && !valid_id(&subnet_id, "subnet-") {
            return Err(Error::invalid(format!(
                "--amazonec2-subnet-id \"{subnet_id}\" is not a subnet ID"
            )));
        }
        let zone = word("amazonec2-zone")?;
        if zone.len() != 1 || !zone.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(Error::invalid(format!(
                "--amazonec2-zone \"{zone}\" is not a zone letter"
            ))
            .with_hint("the letter after the region, e.g. a for us-east-1a"));
        }
        let root_size = o.int(info, "amazonec2-root-size")?;
        if !(1..=16384).contains(&root_size) {
            return Err(Error::invalid(format!(
                "--amazonec2-root-size must be 1-16384 GB, got {root_size}"
            )));
        }
        let volume_type = word("amazonec2-volume-type")?;
        if !VOLUME_TYPES.contains(&volume_type.as_str()) {
            return Err(Error::invalid(format!(
                "--amazonec2-volume-type \"{volume_type}\" is not an EBS volume type"
            ))
            .with_hint("gp3, gp2, io1, io2, st1, sc1 or standard"));
        }
        let device_name = o.string(info, "amazonec2-device-name")?.trim().to_string();
        if !device_name.starts_with("/dev/") && !device_name.starts_with("xvd") {
            return Err(Error::invalid(format!(
                "--amazonec2-device-name \"{device_name}\" is not a device name"
            )));
        }
        let allowed_cidrs =
            crate::drivers::split_commas(&o.string(info, "amazonec2-allowed-cidr")?);
        if allowed_cidrs.is_empty() {
            return Err(Error::invalid("--amazonec2-allowed-cidr is empty")
                .with_hint("give a network such as 203.0.113.0/24, or 0.0.0.0/0 for anywhere"));
        }
        if let Some(bad) = allowed_cidrs.iter().find(|c| !valid_cidr(c)) {
            return Err(Error::invalid(format!(
                "--amazonec2-allowed-cidr: \"{bad}\" is not a network"
            ))
            .with_hint("write networks as address/bits, e.g. 203.0.113.7/32"));
        }
        let open_ports = o.list("amazonec2-open-port");
        for p in &open_ports {
            parse_port(p)?;
        }
        let tags = o.string(info, "amazonec2-tags")?;
        parse_tags(&tags)?;
        let groups: Vec<String> = o
            .list("amazonec2-security-group")
            .iter()
            .flat_map(|g| crate::drivers::split_commas(g))
            .collect();
        if let Some(bad) = groups
            .iter()
            .find(|g| g.len() > 255 || g.starts_with("sg-") || !g.is_ascii())
        {
            return Err(Error::invalid(format!(
                "--amazonec2-security-group \"{bad}\" is not a group name"
            ))
            .with_hint("give group names, not IDs"));
        }
        let readonly = o.bool(info, "amazonec2-security-group-readonly")?;
        if readonly && groups.is_empty() {
            return Err(Error::invalid(
                "--amazonec2-security-group-readonly needs --amazonec2-security-group",
            ));
        }
        let keypair = o.string(info, "amazonec2-keypair-name")?.trim().to_string();
        let keypath = o.path(info, "amazonec2-ssh-keypath")?;
        if keypair.is_empty() != keypath.is_empty() {
            return Err(Error::invalid(
                "--amazonec2-keypair-name and --amazonec2-ssh-keypath go together",
            )
            .with_hint("name the existing key pair and give its private key file"));
        }
        let endpoint = o.string(info, "amazonec2-endpoint")?.trim().to_string();
        check_endpoint(&endpoint)?;
        let private_only = o.bool(info, "amazonec2-private-address-only")?;
        let spot_price = o.string(info, "amazonec2-spot-price")?.trim().to_string();
        if !spot_price.is_empty() && spot_price.parse::<f64>().map_or(true, |p| p <= 0.0) {
            return Err(Error::invalid(format!(
                "--amazonec2-spot-price \"{spot_price}\" is not a price"
            ))
            .with_hint("USD per hour, e.g. 0.02"));
        }
        let profile = o
            .string(info, "amazonec2-iam-instance-profile")?
            .trim()
            .to_string();
        let flag_keys = flag_keys(o)?;
        Ok(AmazonEc2 {
            cfg: AmazonConfig {
                base: crate::drivers::cloud::BaseFields {
                    machine_name: name.to_string(),
                    ssh_user: o.ssh_user(info, "amazonec2-ssh-user")?,
                    ssh_port: o.port(info, "amazonec2-ssh-port")?,
                    ..Default::default()
                },
                account: o.string(info, "amazonec2-account")?.trim().to_string(),
                machine_id: crate::drivers::cloud::new_machine_id(),
                region,
                endpoint,
                ami,
                instance_type,
                key_name: if keypair.is_empty() {
                    name.to_string()
                } else {
                    keypair.clone()
                },
                existing_key: !keypair.is_empty(),
                ssh_private_key_path: keypath,
                security_group_names: groups,
                security_group_readonly: readonly,
                allowed_cidrs,
                open_ports,
                tags,
                zone,
                vpc_id,
                subnet_id,
                device_name,
                root_size,
                volume_type,
                iam_instance_profile: profile,
                request_spot_instance: o.bool(info, "amazonec2-request-spot-instance")?,
                spot_price,
                use_private_ip: private_only || o.bool(info, "amazonec2-use-private-address")?,
                private_ip_only: private_only,
                monitoring: o.bool(info, "amazonec2-monitoring")?,
                use_ebs_optimized: o.bool(info, "amazonec2-use-ebs-optimized-instance")?,
                user_data_file: o.path(info, "amazonec2-userdata")?,
                ..Default::default()
            },
            flag_keys,
            store_root: None,
            prepared: Mutex::new(None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::drivers::cloud::test_options as opts;

    #[test]
    fn defaults_validation_and_no_stored_keys() {
        let info = info();
        let d = AmazonEc2::from_options(
            "web",
            &info,
            &opts(&[
                ("amazonec2-access-key", "AKIAEXAMPLE"),
                ("amazonec2-secret-key", "s3cr3t/key"),
                ("amazonec2-tags", "team,web,env,prod"),
            ]),
        )
        .unwrap();
        assert_eq!(d.cfg.instance_type, DEFAULT_INSTANCE_TYPE);
        assert_eq!(
            (d.cfg.base.ssh_user.as_str(), d.cfg.root_size),
            ("ubuntu", 16)
        );
        assert_eq!(d.cfg.key_name, "web");
        assert_eq!(d.cfg.machine_id.len(), 24);
        let stored = d.config().unwrap().to_string();
        assert!(
            !stored.contains("s3cr3t") && !stored.contains("AKIAEXAMPLE"),
            "{stored}"
        );
        let tags = d.instance_tags();
        assert_eq!(tags[0], ("Name".into(), "web".into()));
        assert_eq!(tags[2], ("team".into(), "web".into()));
        let rules = d.ingress_rules();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].from, 2376);
        assert_eq!(rules[1].cidrs, vec!["0.0.0.0/0"]);
        for bad in [
            &[("amazonec2-tags", "a,b,c")][..],
            &[("amazonec2-tags", "aws:x,1")],
            &[("amazonec2-allowed-cidr", "10.0.0.1")],
            &[("amazonec2-allowed-cidr", "10.0.0.0/33")],
            &[("amazonec2-open-port", "80/icmp")],
            &[("amazonec2-ami", "ubuntu")],
            &[("amazonec2-instance-type", "big")],
            &[("amazonec2-root-size", "0")],
            &[("amazonec2-volume-type", "ssd")],
            &[("amazonec2-zone", "ab")],
            &[("amazonec2-keypair-name", "mine")],
            &[("amazonec2-access-key", "AKIA")],
            &[("amazonec2-endpoint", "http://ec2.example.com")],
            &[("amazonec2-security-group-readonly", "true")],
            &[("amazonec2-spot-price", "-1")],
            &[("amazonec2-region", "us east")],
        ] {
            assert!(
                AmazonEc2::from_options("m", &info, &opts(bad)).is_err(),
                "{bad:?}"
            );
        }
        let d = AmazonEc2::from_options(
            "m",
            &info,
            &opts(&[
                ("amazonec2-allowed-cidr", "203.0.113.0/24, 2001:db8::/32"),
                ("amazonec2-open-port", "8080/udp"),
                ("amazonec2-private-address-only", "true"),
            ]),
        )
        .unwrap();
        assert!(d.cfg.use_private_ip);
        let rules = d.ingress_rules();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[2].protocol, "udp");
        assert_eq!(rules[0].cidrs.len(), 2);
    }
}
