//! What a cloud offers for a create option (regions, sizes with what they cost, images),
//! listed with the chosen account for the app's create form, and kept a while: these lists
//! change rarely and each listing is an API call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{aws, digitalocean};
use crate::credentials::{Provider, Secret};
use crate::drivers::Listing;
use crate::error::{Error, Result};

/// How long a fetched list is reused.
pub const KEEP: Duration = Duration::from_secs(15 * 60);

/// One value a form can offer: what is stored, and what the user reads.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// The provider's values for `listing` (sizes offered in `region` when one is given).
pub async fn fetch(
    provider: Provider,
    secret: &Secret,
    listing: Listing,
    region: &str,
) -> Result<Vec<Choice>> {
    match provider {
        Provider::DigitalOcean => {
            let Secret::Token(token) = secret else {
                return Err(Error::invalid("DigitalOcean needs an API token"));
            };
            let c = digitalocean::Client::new(token)?;
            Ok(match listing {
                Listing::Regions => c
                    .regions()
                    .await?
                    .into_iter()
                    .filter(|r| r.available)
                    .map(|r| Choice {
                        label: format!("{} — {}", r.slug, r.name),
                        value: r.slug,
                    })
                    .collect(),
                Listing::Sizes => c
                    .sizes()
                    .await?
                    .into_iter()
                    .filter(|s| {
                        s.available && (region.is_empty() || s.regions.iter().any(|r| r == region))
                    })
                    .map(|s| Choice {
                        label: droplet_size_label(&s),
                        value: s.slug,
                    })
                    .collect(),
                Listing::Images => c
                    .distribution_images()
                    .await?
                    .into_iter()
                    .filter_map(|i| {
                        let slug = i.slug?;
                        Some(Choice {
                            label: format!("{slug} — {} {}", i.distribution, i.name),
                            value: slug,
                        })
                    })
                    .collect(),
            })
        }
        Provider::Aws => {
            let region = if region.is_empty() {
                aws::DEFAULT_REGION
            } else {
                region
            };
            let c = aws::Client::new(secret, region)?;
            match listing {
                Listing::Regions => Ok(c
                    .describe_regions()
                    .await?
                    .into_iter()
                    .map(|r| Choice {
                        label: r.clone(),
                        value: r,
                    })
                    .collect()),
                Listing::Sizes => {
                    let mut types = c.instance_types().await?;
                    types.sort_by(|a, b| {
                        (a.vcpus, a.memory_mib, &a.name).cmp(&(b.vcpus, b.memory_mib, &b.name))
                    });
                    Ok(types
                        .into_iter()
                        .map(|t| Choice {
                            label: format!(
                                "{} — {} vCPU, {} (price: see AWS pricing; the EC2 API has none)",
                                t.name,
                                t.vcpus,
                                mib(t.memory_mib)
                            ),
                            value: t.name,
                        })
                        .collect())
                }
                Listing::Images => Err(Error::invalid(
                    "EC2 images are not listed: Berth picks the newest Ubuntu LTS AMI unless --amazonec2-ami names one",
                )),
            }
        }
    }
}

/// "s-1vcpu-1gb — 1 vCPU, 1 GB, 25 GB disk, $6.00/month ($0.00893/hour)".
pub fn droplet_size_label(s: &digitalocean::Size) -> String {
    format!(
        "{} — {} vCPU, {}, {} GB disk, ${:.2}/month (${:.5}/hour)",
        s.slug,
        s.vcpus,
        mib(s.memory as u64),
        s.disk,
        s.price_monthly,
        s.price_hourly
    )
}

fn mib(m: u64) -> String {
    if m >= 1024 && m.is_multiple_of(1024) {
        format!("{} GB", m / 1024)
    } else {
        format!("{m} MB")
    }
}

type Key = (Provider, String, Listing, String);

/// Fetched lists by provider, account, listing and region, each kept for `KEEP`.
#[derive(Default)]
pub struct ChoiceCache {
    lists: Mutex<HashMap<Key, (Instant, Vec<Choice>)>>,
}

impl ChoiceCache {
    /// The list, from the cache when it is fresh, else fetched (and kept) with `secret`.
    pub async fn get(
        &self,
        provider: Provider,
        account: &str,
        secret: &Secret,
        listing: Listing,
        region: &str,
    ) -> Result<Vec<Choice>> {
        let key = (provider, account.to_string(), listing, region.to_string());
        if let Some((at, list)) = self.lists.lock().ok().and_then(|l| l.get(&key).cloned())
            && at.elapsed() < KEEP
        {
            return Ok(list);
        }
        let list = fetch(provider, secret, listing, region).await?;
        if let Ok(mut l) = self.lists.lock() {
            l.insert(key, (Instant::now(), list.clone()));
        }
        Ok(list)
    }
}

/// The values the provider of `driver` offers for its option `option` (one the schema marks
/// `listed`), with `account`'s secret (else the environment's, or the only stored account).
pub async fn for_option(
    cache: &ChoiceCache,
    store_root: &std::path::Path,
    driver: &str,
    option: &str,
    account: Option<&str>,
    region: &str,
) -> Result<Vec<Choice>> {
    let info = crate::drivers::driver_info(driver)?;
    let listing = info
        .options
        .iter()
        .find(|o| o.name == option)
        .and_then(|o| o.listed)
        .ok_or_else(|| {
            Error::invalid(format!(
                "--{option} of the {driver} driver has no list of values"
            ))
        })?;
    let provider = Provider::parse(driver)?;
    let account = account.filter(|a| !a.trim().is_empty());
    let (secret, source) =
        crate::credentials::Credentials::os(store_root)
            .resolve(provider, account, &|k| std::env::var(k).ok())?;
    let who = match &source {
        crate::credentials::Source::Keychain(name) => name.clone(),
        other => format!("{other:?}"),
    };
    cache.get(provider, &who, &secret, listing, region).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_say_what_they_cost() {
        let s = digitalocean::Size {
            slug: "s-1vcpu-1gb".into(),
            memory: 1024,
            vcpus: 1,
            disk: 25,
            price_monthly: 6.0,
            price_hourly: 0.00893,
            regions: vec!["nyc3".into()],
            available: true,
        };
        assert_eq!(
            droplet_size_label(&s),
            "s-1vcpu-1gb — 1 vCPU, 1 GB, 25 GB disk, $6.00/month ($0.00893/hour)"
        );
        assert_eq!(mib(512), "512 MB");
    }
}
