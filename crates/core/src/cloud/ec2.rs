//! The EC2 actions the amazonec2 driver uses, on top of `aws::Client`: Query parameters in,
//! typed values out of the XML. Lists page through `nextToken`.

use roxmltree::{Document, Node};

use super::aws::Client;
use crate::error::{Error, ErrorKind, Result};

/// Query parameters of one action, in EC2's flat `Name.N.Field` form.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn new() -> Params {
        Params::default()
    }
    pub fn set(&mut self, k: impl Into<String>, v: impl Into<String>) -> &mut Params {
        self.0.push((k.into(), v.into()));
        self
    }
    /// `Prefix.1`, `Prefix.2`, … = values.
    pub fn list(&mut self, prefix: &str, values: &[&str]) -> &mut Params {
        for (i, v) in values.iter().enumerate() {
            self.set(format!("{prefix}.{}", i + 1), *v);
        }
        self
    }
    /// Appends `Filter.N.Name` / `Filter.N.Value.M`.
    pub fn filter(&mut self, name: &str, values: &[&str]) -> &mut Params {
        let n = self
            .0
            .iter()
            .filter(|(k, _)| k.starts_with("Filter.") && k.ends_with(".Name"))
            .count()
            + 1;
        self.set(format!("Filter.{n}.Name"), name);
        self.list(&format!("Filter.{n}.Value"), values)
    }
    /// `Prefix.Tag.N.Key/Value` for a `TagSpecification`.
    pub fn tags(&mut self, prefix: &str, tags: &[(String, String)]) -> &mut Params {
        for (i, (k, v)) in tags.iter().enumerate() {
            self.set(format!("{prefix}.Tag.{}.Key", i + 1), k);
            self.set(format!("{prefix}.Tag.{}.Value", i + 1), v);
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub zone: String,
    pub default_for_az: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceType {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub state: String,
    pub creation_date: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyPair {
    pub name: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IngressRule {
    pub protocol: String,
    pub from: i64,
    pub to: i64,
    pub cidrs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    pub ingress: Vec<IngressRule>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Instance {
    pub id: String,
    /// pending, running, stopping, stopped, shutting-down, terminated
    pub state: String,
    pub private_ip: String,
    pub public_ip: String,
    pub lifecycle: String,
    pub tags: Vec<(String, String)>,
}

/// Pages of a list are capped so a misbehaving endpoint cannot loop forever.
const MAX_PAGES: usize = 200;

fn parse<'a>(action: &str, xml: &'a str) -> Result<Document<'a>> {
    Document::parse(xml).map_err(|e| {
        Error::new(
            ErrorKind::Driver,
            format!("AWS answered {action} with something that is not XML: {e}"),
        )
    })
}

fn child<'a, 'i>(n: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(tag))
}

/// The text of a direct child (empty when missing).
fn text(n: Node, tag: &str) -> String {
    child(n, tag)
        .and_then(|c| c.text())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The `<item>`s of every `<set_tag>` in the document.
fn items<'a, 'i>(doc: &'a Document<'i>, set_tag: &str) -> Vec<Node<'a, 'i>> {
    doc.descendants()
        .filter(|n| n.has_tag_name(set_tag))
        .flat_map(|s| s.children().filter(|c| c.has_tag_name("item")))
        .collect()
}

fn set_items<'a, 'i>(n: Node<'a, 'i>, set_tag: &str) -> Vec<Node<'a, 'i>> {
    child(n, set_tag)
        .map(|s| s.children().filter(|c| c.has_tag_name("item")).collect())
        .unwrap_or_default()
}

fn next_token(doc: &Document) -> Option<String> {
    doc.root_element()
        .children()
        .find(|c| c.has_tag_name("nextToken"))
        .and_then(|c| c.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The instances in a RunInstances or DescribeInstances answer.
pub fn parse_instances(doc: &Document) -> Vec<Instance> {
    items(doc, "instancesSet")
        .into_iter()
        .map(|i| Instance {
            id: text(i, "instanceId"),
            state: child(i, "instanceState")
                .map(|s| text(s, "name"))
                .unwrap_or_default(),
            private_ip: text(i, "privateIpAddress"),
            public_ip: text(i, "ipAddress"),
            lifecycle: text(i, "instanceLifecycle"),
            tags: set_items(i, "tagSet")
                .into_iter()
                .map(|t| (text(t, "key"), text(t, "value")))
                .collect(),
        })
        .collect()
}

fn parse_groups(doc: &Document) -> Vec<SecurityGroup> {
    items(doc, "securityGroupInfo")
        .into_iter()
        .map(|g| SecurityGroup {
            id: text(g, "groupId"),
            name: text(g, "groupName"),
            vpc_id: text(g, "vpcId"),
            ingress: set_items(g, "ipPermissions")
                .into_iter()
                .map(|p| IngressRule {
                    protocol: text(p, "ipProtocol"),
                    from: text(p, "fromPort").parse().unwrap_or(-1),
                    to: text(p, "toPort").parse().unwrap_or(-1),
                    cidrs: set_items(p, "ipRanges")
                        .into_iter()
                        .map(|r| text(r, "cidrIp"))
                        .chain(
                            set_items(p, "ipv6Ranges")
                                .into_iter()
                                .map(|r| text(r, "cidrIpv6")),
                        )
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

impl Client {
    /// Calls a list action page by page (`MaxResults`/`NextToken`) and parses each page.
    pub async fn paged<T>(
        &self,
        action: &str,
        params: &Params,
        page_size: Option<u32>,
        mut each: impl FnMut(&Document) -> Vec<T>,
    ) -> Result<Vec<T>> {
        let mut out = vec![];
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut p = params.clone();
            if let Some(n) = page_size {
                p.set("MaxResults", n.to_string());
            }
            if let Some(t) = &token {
                p.set("NextToken", t.clone());
            }
            let xml = self.call(action, &p.0).await?;
            let doc = parse(action, &xml)?;
            out.extend(each(&doc));
            token = next_token(&doc);
            if token.is_none() {
                return Ok(out);
            }
        }
        Err(Error::driver(format!(
            "AWS kept paging {action} past {MAX_PAGES} pages"
        )))
    }

    /// The region's default VPC (the `is-default` filter; docker-machine asked
    /// DescribeAccountAttributes, which emulators answer wrongly).
    pub async fn default_vpc(&self) -> Result<Option<String>> {
        let mut p = Params::new();
        p.filter("is-default", &["true"]);
        let vpcs = self
            .paged("DescribeVpcs", &p, None, |d| {
                items(d, "vpcSet")
                    .into_iter()
                    .map(|v| text(v, "vpcId"))
                    .collect()
            })
            .await?;
        Ok(vpcs.into_iter().find(|v| !v.is_empty()))
    }

    pub async fn subnets(&self, params: &Params) -> Result<Vec<Subnet>> {
        self.paged("DescribeSubnets", params, None, |d| {
            items(d, "subnetSet")
                .into_iter()
                .map(|s| Subnet {
                    id: text(s, "subnetId"),
                    vpc_id: text(s, "vpcId"),
                    zone: text(s, "availabilityZone"),
                    default_for_az: text(s, "defaultForAz") == "true",
                })
                .collect()
        })
        .await
    }

    pub async fn images(&self, params: &Params) -> Result<Vec<Image>> {
        self.paged("DescribeImages", params, None, |d| {
            items(d, "imagesSet")
                .into_iter()
                .map(|i| Image {
                    id: text(i, "imageId"),
                    name: text(i, "name"),
                    state: text(i, "imageState"),
                    creation_date: text(i, "creationDate"),
                })
                .collect()
        })
        .await
    }

    /// The instance types EC2 offers in this region, current generation only.
    pub async fn instance_types(&self) -> Result<Vec<InstanceType>> {
        let mut p = Params::new();
        p.filter("current-generation", &["true"]);
        self.paged("DescribeInstanceTypes", &p, Some(100), |d| {
            items(d, "instanceTypeSet")
                .into_iter()
                .map(|i| InstanceType {
                    name: text(i, "instanceType"),
                    vcpus: child(i, "vCpuInfo")
                        .map(|v| text(v, "defaultVCpus"))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                    memory_mib: child(i, "memoryInfo")
                        .map(|m| text(m, "sizeInMiB"))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                })
                .filter(|t| !t.name.is_empty())
                .collect()
        })
        .await
    }

    /// Whether EC2 offers the instance type in this region (an unknown type is an error).
    pub async fn check_instance_type(&self, instance_type: &str) -> Result<()> {
        let mut p = Params::new();
        p.list("InstanceType", &[instance_type]);
        self.call("DescribeInstanceTypes", &p.0).await.map(|_| ())
    }

    pub async fn key_pair(&self, name: &str) -> Result<Option<KeyPair>> {
        let mut p = Params::new();
        p.list("KeyName", &[name]);
        match self.call("DescribeKeyPairs", &p.0).await {
            Ok(xml) => {
                let doc = parse("DescribeKeyPairs", &xml)?;
                Ok(items(&doc, "keySet")
                    .into_iter()
                    .map(|k| KeyPair {
                        name: text(k, "keyName"),
                        fingerprint: text(k, "keyFingerprint"),
                    })
                    .find(|k| k.name == name))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the key pair `name` exists and carries the tag `key` = `value`.
    pub async fn key_pair_tagged(&self, name: &str, key: &str, value: &str) -> Result<bool> {
        let mut p = Params::new();
        p.list("KeyName", &[name])
            .filter(&format!("tag:{key}"), &[value]);
        match self.call("DescribeKeyPairs", &p.0).await {
            Ok(xml) => {
                let doc = parse("DescribeKeyPairs", &xml)?;
                Ok(items(&doc, "keySet")
                    .into_iter()
                    .any(|k| text(k, "keyName") == name))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn import_key_pair(
        &self,
        name: &str,
        public_key: &str,
        tags: &[(String, String)],
    ) -> Result<KeyPair> {
        use base64::Engine;
        let mut p = Params::new();
        p.set("KeyName", name).set(
            "PublicKeyMaterial",
            base64::engine::general_purpose::STANDARD.encode(public_key.trim()),
        );
        p.set("TagSpecification.1.ResourceType", "key-pair")
            .tags("TagSpecification.1", tags);
        let xml = self.call("ImportKeyPair", &p.0).await?;
        let doc = parse("ImportKeyPair", &xml)?;
        let root = doc.root_element();
        Ok(KeyPair {
            name: text(root, "keyName"),
            fingerprint: text(root, "keyFingerprint"),
        })
    }

    pub async fn delete_key_pair(&self, name: &str) -> Result<()> {
        let mut p = Params::new();
        p.set("KeyName", name);
        self.call("DeleteKeyPair", &p.0).await.map(|_| ())
    }

    pub async fn security_groups(&self, params: &Params) -> Result<Vec<SecurityGroup>> {
        self.paged("DescribeSecurityGroups", params, None, parse_groups)
            .await
    }

    pub async fn create_security_group(
        &self,
        name: &str,
        description: &str,
        vpc_id: &str,
        tags: &[(String, String)],
    ) -> Result<String> {
        let mut p = Params::new();
        p.set("GroupName", name)
            .set("GroupDescription", description)
            .set("VpcId", vpc_id)
            .set("TagSpecification.1.ResourceType", "security-group")
            .tags("TagSpecification.1", tags);
        let xml = self.call("CreateSecurityGroup", &p.0).await?;
        let doc = parse("CreateSecurityGroup", &xml)?;
        let id = text(doc.root_element(), "groupId");
        if id.is_empty() {
            return Err(Error::driver(
                "AWS created a security group but gave no ID for it",
            ));
        }
        Ok(id)
    }

    /// Opens the rules' ports to their CIDRs (IPv4 and IPv6).
    pub async fn authorize_ingress(&self, group_id: &str, rules: &[IngressRule]) -> Result<()> {
        let mut p = Params::new();
        p.set("GroupId", group_id);
        for (i, r) in rules.iter().enumerate() {
            let pre = format!("IpPermissions.{}", i + 1);
            p.set(format!("{pre}.IpProtocol"), &r.protocol)
                .set(format!("{pre}.FromPort"), r.from.to_string())
                .set(format!("{pre}.ToPort"), r.to.to_string());
            let (v6, v4): (Vec<&String>, Vec<&String>) =
                r.cidrs.iter().partition(|c| c.contains(':'));
            for (j, c) in v4.iter().enumerate() {
                p.set(format!("{pre}.IpRanges.{}.CidrIp", j + 1), c.as_str())
                    .set(format!("{pre}.IpRanges.{}.Description", j + 1), "Berth");
            }
            for (j, c) in v6.iter().enumerate() {
                p.set(format!("{pre}.Ipv6Ranges.{}.CidrIpv6", j + 1), c.as_str())
                    .set(format!("{pre}.Ipv6Ranges.{}.Description", j + 1), "Berth");
            }
        }
        self.call("AuthorizeSecurityGroupIngress", &p.0)
            .await
            .map(|_| ())
    }

    pub async fn delete_security_group(&self, group_id: &str) -> Result<()> {
        let mut p = Params::new();
        p.set("GroupId", group_id);
        self.call("DeleteSecurityGroup", &p.0).await.map(|_| ())
    }

    /// RunInstances with the given parameters (MinCount/MaxCount 1 are added); the instance.
    pub async fn run_instance(&self, params: &Params) -> Result<Instance> {
        let mut p = params.clone();
        p.set("MinCount", "1").set("MaxCount", "1");
        let xml = self.call("RunInstances", &p.0).await?;
        let doc = parse("RunInstances", &xml)?;
        parse_instances(&doc)
            .into_iter()
            .next()
            .filter(|i| !i.id.is_empty())
            .ok_or_else(|| Error::driver("AWS answered RunInstances without an instance"))
    }

    pub async fn instances(&self, params: &Params) -> Result<Vec<Instance>> {
        self.paged("DescribeInstances", params, Some(50), parse_instances)
            .await
    }

    pub async fn instance(&self, id: &str) -> Result<Instance> {
        let mut p = Params::new();
        p.list("InstanceId", &[id]);
        // DescribeInstances by ID takes no MaxResults.
        let xml = self.call("DescribeInstances", &p.0).await?;
        let doc = parse("DescribeInstances", &xml)?;
        parse_instances(&doc)
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| Error::not_found(format!("AWS has no instance {id}")))
    }

    /// StartInstances, StopInstances, RebootInstances, TerminateInstances on one instance.
    pub async fn instance_action(&self, action: &str, id: &str, force: bool) -> Result<()> {
        let mut p = Params::new();
        p.list("InstanceId", &[id]);
        if force {
            p.set("Force", "true");
        }
        self.call(action, &p.0).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_number_filters_and_tags() {
        let mut p = Params::new();
        p.filter("vpc-id", &["vpc-1"])
            .filter("availability-zone", &["us-east-1a", "us-east-1b"])
            .tags("TagSpecification.1", &[("Name".into(), "m".into())]);
        let flat: Vec<String> = p.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            flat,
            [
                "Filter.1.Name=vpc-id",
                "Filter.1.Value.1=vpc-1",
                "Filter.2.Name=availability-zone",
                "Filter.2.Value.1=us-east-1a",
                "Filter.2.Value.2=us-east-1b",
                "TagSpecification.1.Tag.1.Key=Name",
                "TagSpecification.1.Tag.1.Value=m",
            ]
        );
    }

    #[test]
    fn instances_and_groups_parse() {
        let xml = r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<reservationSet><item><reservationId>r-1</reservationId><instancesSet><item>
<instanceId>i-1</instanceId><instanceState><code>16</code><name>running</name></instanceState>
<privateIpAddress>10.0.0.5</privateIpAddress><ipAddress>198.51.100.7</ipAddress>
<instanceLifecycle>spot</instanceLifecycle>
<groupSet><item><groupId>sg-1</groupId></item></groupSet>
<tagSet><item><key>Name</key><value>web</value></item></tagSet>
</item></instancesSet></item></reservationSet><nextToken>abc</nextToken></DescribeInstancesResponse>"#;
        let doc = Document::parse(xml).unwrap();
        let i = &parse_instances(&doc)[0];
        assert_eq!(
            (
                i.id.as_str(),
                i.state.as_str(),
                i.private_ip.as_str(),
                i.public_ip.as_str()
            ),
            ("i-1", "running", "10.0.0.5", "198.51.100.7")
        );
        assert_eq!(i.lifecycle, "spot");
        assert_eq!(i.tags, vec![("Name".to_string(), "web".to_string())]);
        assert_eq!(next_token(&doc).as_deref(), Some("abc"));

        let xml = r#"<DescribeSecurityGroupsResponse><securityGroupInfo><item>
<groupId>sg-9</groupId><groupName>berth-m</groupName><vpcId>vpc-1</vpcId>
<ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort>
<ipRanges><item><cidrIp>192.0.2.0/24</cidrIp></item></ipRanges>
<ipv6Ranges><item><cidrIpv6>2001:db8::/32</cidrIpv6></item></ipv6Ranges></item></ipPermissions>
</item></securityGroupInfo></DescribeSecurityGroupsResponse>"#;
        let doc = Document::parse(xml).unwrap();
        let g = &parse_groups(&doc)[0];
        assert_eq!(g.ingress[0].from, 22);
        assert_eq!(g.ingress[0].cidrs, vec!["192.0.2.0/24", "2001:db8::/32"]);
        assert!(next_token(&doc).is_none());
    }
}
