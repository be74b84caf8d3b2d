//! What create makes, in order: the image and network it checks, the key pair, the security
//! groups, and RunInstances' parameters.

use super::*;

/// Graviton (arm64) families have a `g` after their generation digit: t4g, m7gd, c6gn, a1.
pub fn architecture(instance_type: &str) -> &'static str {
    let family = instance_type.split('.').next().unwrap_or("");
    let after_digit = family.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = after_digit.trim_start_matches(|c: char| c.is_ascii_digit());
    if family == "a1" || suffix.contains('g') {
        "arm64"
    } else {
        "x86_64"
    }
}

/// The newest Ubuntu LTS release build: `ubuntu/images/<kind>/ubuntu-<name>-<YY.04>-<arch>-server-<date>`
/// with an even YY, highest version, then newest build.
pub fn newest_lts(images: &[Image]) -> Option<&Image> {
    images
        .iter()
        .filter(|i| i.state.is_empty() || i.state == "available")
        .filter_map(|i| {
            let base = i.name.rsplit('/').next()?;
            let mut parts = base.split('-');
            if parts.next()? != "ubuntu" {
                return None;
            }
            let _codename = parts.next()?;
            let version = parts.next()?;
            let (yy, mm) = version.split_once('.')?;
            let yy: u32 = yy.parse().ok()?;
            if mm != "04" || !yy.is_multiple_of(2) {
                return None;
            }
            let build = base.rsplit('-').next().unwrap_or("");
            Some(((yy, build.to_string(), i.creation_date.clone()), i))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, i)| i)
}

impl AmazonEc2 {
    pub(super) async fn find_ami(&self, client: &Client) -> Result<String> {
        if !self.cfg.ami.is_empty() {
            let mut p = Params::new();
            p.list("ImageId", &[&self.cfg.ami]);
            let found = client.images(&p).await.map_err(|e| {
                if e.kind() == ErrorKind::NotFound || e.message().contains("InvalidAMIID") {
                    Error::invalid(format!("AWS has no image {} in {}", self.cfg.ami, self.cfg.region))
                        .with_hint("AMI IDs differ per region; leave --amazonec2-ami out to use the newest Ubuntu LTS")
                } else {
                    e
                }
            })?;
            return match found.iter().find(|i| i.id == self.cfg.ami) {
                Some(i) if i.state.is_empty() || i.state == "available" => Ok(i.id.clone()),
                Some(i) => Err(Error::invalid(format!(
                    "image {} is {}, not available",
                    i.id, i.state
                ))),
                None => Err(Error::invalid(format!(
                    "AWS has no image {} in {}",
                    self.cfg.ami, self.cfg.region
                ))),
            };
        }
        let arch = architecture(&self.cfg.instance_type);
        let arch_in_name = if arch == "arm64" { "arm64" } else { "amd64" };
        let mut p = Params::new();
        p.list("Owner", &[CANONICAL])
            .filter(
                "name",
                &[&format!(
                    "ubuntu/images/hvm-ssd*/ubuntu-*-*.04-{arch_in_name}-server-*"
                )],
            )
            .filter("architecture", &[arch])
            .filter("state", &["available"]);
        let images = client.images(&p).await?;
        newest_lts(&images).map(|i| i.id.clone()).ok_or_else(|| {
            Error::invalid(format!(
                "found no Ubuntu LTS image for {arch} in {}",
                self.cfg.region
            ))
            .with_hint("pass an image with --amazonec2-ami")
        })
    }

    /// The VPC, subnet and zone: the given ones checked, else the default VPC's subnet in the zone.
    pub(super) async fn find_network(&self, client: &Client) -> Result<(String, String, String)> {
        if !self.cfg.subnet_id.is_empty() {
            let mut p = Params::new();
            p.list("SubnetId", &[&self.cfg.subnet_id]);
            let subnet = client
                .subnets(&p)
                .await
                .or_else(|e| {
                    if e.kind() == ErrorKind::NotFound {
                        Ok(vec![])
                    } else {
                        Err(e)
                    }
                })?
                .into_iter()
                .find(|s| s.id == self.cfg.subnet_id)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "AWS has no subnet {} in {}",
                        self.cfg.subnet_id, self.cfg.region
                    ))
                })?;
            if !self.cfg.vpc_id.is_empty() && subnet.vpc_id != self.cfg.vpc_id {
                return Err(Error::invalid(format!(
                    "subnet {} belongs to {}, not to {}",
                    subnet.id, subnet.vpc_id, self.cfg.vpc_id
                )));
            }
            return Ok((subnet.vpc_id, subnet.id, subnet.zone));
        }
        let vpc_id = if self.cfg.vpc_id.is_empty() {
            client.default_vpc().await?.ok_or_else(|| {
                Error::invalid(format!(
                    "the account has no default VPC in {}",
                    self.cfg.region
                ))
                .with_hint("pass --amazonec2-vpc-id or --amazonec2-subnet-id")
            })?
        } else {
            self.cfg.vpc_id.clone()
        };
        let zone = format!("{}{}", self.cfg.region, self.cfg.zone);
        let mut p = Params::new();
        p.filter("vpc-id", &[&vpc_id])
            .filter("availability-zone", &[&zone]);
        let subnets = client.subnets(&p).await?;
        let subnet = subnets
            .iter()
            .find(|s| s.default_for_az)
            .or(subnets.first())
            .ok_or_else(|| {
                Error::invalid(format!("VPC {vpc_id} has no subnet in {zone}"))
                    .with_hint("pass --amazonec2-subnet-id, or another --amazonec2-zone")
            })?;
        Ok((vpc_id, subnet.id.clone(), zone))
    }

    pub(super) async fn key_pair(
        &mut self,
        client: &Client,
        ctx: &DriverContext<'_>,
    ) -> Result<()> {
        if self.cfg.existing_key {
            let copy = crate::drivers::copy_ssh_key(
                Path::new(&self.cfg.ssh_private_key_path),
                ctx.machine_dir,
            )?;
            self.cfg.base.ssh_key_path = copy.display().to_string();
            return Ok(());
        }
        let (path, public) =
            crate::ssh::generate_ed25519(ctx.machine_dir, &format!("berth-{}", ctx.name))?;
        self.cfg.base.ssh_key_path = path.display().to_string();
        let key = client
            .import_key_pair(&self.cfg.key_name, &public, &[self.id_tag()])
            .await?;
        self.cfg.key_imported = true;
        ctx.progress.log(format!(
            "Imported the machine's SSH key as key pair \"{}\" ({})",
            key.name, key.fingerprint
        ));
        Ok(())
    }

    pub(super) fn ingress_rules(&self) -> Vec<IngressRule> {
        let mut ports = vec![
            (self.cfg.base.ssh_port, "tcp".to_string()),
            (2376, "tcp".to_string()),
        ];
        for p in &self.cfg.open_ports {
            if let Ok(pp) = options::parse_port(p)
                && !ports.contains(&pp)
            {
                ports.push(pp);
            }
        }
        ports
            .into_iter()
            .map(|(port, protocol)| IngressRule {
                protocol,
                from: i64::from(port),
                to: i64::from(port),
                cidrs: self.cfg.allowed_cidrs.clone(),
            })
            .collect()
    }

    /// The machine's own group, or the named ones (made when missing); rules added unless read-only.
    pub(super) async fn security_groups(
        &mut self,
        client: &Client,
        vpc_id: &str,
        ctx: &DriverContext<'_>,
    ) -> Result<()> {
        let own = self.cfg.security_group_names.is_empty();
        let names = if own {
            vec![format!("berth-{}", self.cfg.base.machine_name)]
        } else {
            self.cfg.security_group_names.clone()
        };
        let mut p = Params::new();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        p.filter("group-name", &refs).filter("vpc-id", &[vpc_id]);
        let existing = client.security_groups(&p).await?;
        let wanted = self.ingress_rules();
        self.cfg.security_group_ids.clear();
        for name in &names {
            let (id, present) = match existing.iter().find(|g| &g.name == name) {
                Some(g) => (g.id.clone(), g.ingress.clone()),
                None => {
                    let id = client
                        .create_security_group(
                            name,
                            &format!(
                                "Berth machine {}: SSH and Docker (TLS)",
                                self.cfg.base.machine_name
                            ),
                            vpc_id,
                            &[self.id_tag()],
                        )
                        .await?;
                    self.cfg.created_security_group_ids.push(id.clone());
                    ctx.progress
                        .log(format!("Created security group {name} ({id})"));
                    (id, vec![])
                }
            };
            self.cfg.security_group_ids.push(id.clone());
            if self.cfg.security_group_readonly {
                continue;
            }
            let missing: Vec<IngressRule> = wanted
                .iter()
                .filter_map(|r| {
                    let cidrs: Vec<String> = r
                        .cidrs
                        .iter()
                        .filter(|c| {
                            !present.iter().any(|p| {
                                p.protocol == r.protocol
                                    && p.from <= r.from
                                    && p.to >= r.to
                                    && p.cidrs.contains(c)
                            })
                        })
                        .cloned()
                        .collect();
                    (!cidrs.is_empty()).then(|| IngressRule { cidrs, ..r.clone() })
                })
                .collect();
            if !missing.is_empty() {
                until_visible(|| client.authorize_ingress(&id, &missing)).await?;
                let ports: Vec<String> = missing
                    .iter()
                    .map(|r| format!("{}/{}", r.from, r.protocol))
                    .collect();
                ctx.progress.log(format!(
                    "Opened {} in {name} to {}",
                    ports.join(", "),
                    self.cfg.allowed_cidrs.join(", ")
                ));
            }
        }
        Ok(())
    }

    pub(super) fn launch_params(&self, prepared: &Prepared) -> Result<Params> {
        let mut p = Params::new();
        p.set("ImageId", &prepared.ami)
            .set("InstanceType", &self.cfg.instance_type)
            .set("KeyName", &self.cfg.key_name)
            .set("ClientToken", &self.cfg.machine_id)
            .set("Placement.AvailabilityZone", &prepared.zone)
            .set("NetworkInterface.1.DeviceIndex", "0")
            .set("NetworkInterface.1.SubnetId", &prepared.subnet_id)
            .set("NetworkInterface.1.DeleteOnTermination", "true")
            .set(
                "NetworkInterface.1.AssociatePublicIpAddress",
                (!self.cfg.private_ip_only).to_string(),
            );
        let groups: Vec<&str> = self
            .cfg
            .security_group_ids
            .iter()
            .map(String::as_str)
            .collect();
        p.list("NetworkInterface.1.SecurityGroupId", &groups);
        p.set("BlockDeviceMapping.1.DeviceName", &self.cfg.device_name)
            .set(
                "BlockDeviceMapping.1.Ebs.VolumeSize",
                self.cfg.root_size.to_string(),
            )
            .set("BlockDeviceMapping.1.Ebs.VolumeType", &self.cfg.volume_type)
            .set("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true");
        if self.cfg.monitoring {
            p.set("Monitoring.Enabled", "true");
        }
        if self.cfg.use_ebs_optimized {
            p.set("EbsOptimized", "true");
        }
        if !self.cfg.iam_instance_profile.is_empty() {
            p.set("IamInstanceProfile.Name", &self.cfg.iam_instance_profile);
        }
        if let Some(data) = self.user_data()? {
            p.set("UserData", data);
        }
        if self.cfg.request_spot_instance {
            p.set("InstanceMarketOptions.MarketType", "spot")
                .set(
                    "InstanceMarketOptions.SpotOptions.SpotInstanceType",
                    "one-time",
                )
                .set(
                    "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior",
                    "terminate",
                );
            if !self.cfg.spot_price.is_empty() {
                p.set(
                    "InstanceMarketOptions.SpotOptions.MaxPrice",
                    &self.cfg.spot_price,
                );
            }
        }
        for (i, kind) in ["instance", "volume"].iter().enumerate() {
            let pre = format!("TagSpecification.{}", i + 1);
            p.set(format!("{pre}.ResourceType"), *kind)
                .tags(&pre, &self.instance_tags());
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_and_lts_choice() {
        assert_eq!(architecture("t3.micro"), "x86_64");
        assert_eq!(architecture("t4g.small"), "arm64");
        assert_eq!(architecture("m7gd.large"), "arm64");
        assert_eq!(architecture("g4dn.xlarge"), "x86_64");
        assert_eq!(architecture("a1.medium"), "arm64");
        let img = |id: &str, name: &str| Image {
            id: id.into(),
            name: name.into(),
            state: "available".into(),
            creation_date: String::new(),
        };
        let images = vec![
            img(
                "ami-1",
                "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20250101",
            ),
            img(
                "ami-2",
                "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20240901",
            ),
            img(
                "ami-3",
                "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241119",
            ),
            img(
                "ami-4",
                "ubuntu/images/hvm-ssd-gp3/ubuntu-oracular-24.10-amd64-server-20250101",
            ),
            img(
                "ami-5",
                "ubuntu/images/hvm-ssd-gp3/ubuntu-plucky-25.04-amd64-server-20250501",
            ),
        ];
        assert_eq!(newest_lts(&images).map(|i| i.id.as_str()), Some("ami-3"));
        assert!(newest_lts(&images[3..]).is_none());
    }
}
