//! A driver's option schema (`OptionSpec`, built with setters: bounds, choices, provider
//! lists) and the values given for it (`DriverOptions`, read through the schema so defaults,
//! environment variables and the checks apply the same for CLI flags and GUI forms).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{DriverInfo, catalog, valid_user_name};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum OptionKind {
    String,
    Int,
    Bool,
    /// Repeatable flag.
    StringList,
    /// A local file the user picks.
    Path,
    /// A secret (an API token): accepted on the command line for docker-machine compatibility,
    /// never stored, never shown in the GUI (which offers accounts from the keychain instead).
    Secret,
    /// The name of a stored account of the driver's cloud (`berth credentials ls`).
    Account,
}

/// One option of a driver: the CLI's `--NAME` flag, a field of the GUI's create form, and
/// the rules both check. Built with `OptionSpec::new(name, kind)` and the setters below.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OptionSpec {
    /// Flag name without the dashes, e.g. `generic-ip-address`.
    pub name: &'static str,
    pub kind: OptionKind,
    pub default: Option<&'static str>,
    pub env: Option<&'static str>,
    pub help: &'static str,
    pub required: bool,
    /// A short label for forms.
    pub label: &'static str,
    /// Forms show it under "more options" (it has a sensible default or is rarely needed).
    pub advanced: bool,
    /// Bounds of a whole number option (checked by `int_in_range`, shown by forms and --help).
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// What this computer has (CPUs, memory in MB) for a local VM's size option: the form's
    /// upper bound. The CLI still takes more (overcommitting is the user's call).
    pub host_limit: Option<i64>,
    /// The values a string option takes ("" = not given); empty when any value goes.
    pub choices: &'static [&'static str],
    /// An example value for an empty form field.
    pub placeholder: Option<&'static str>,
    /// The provider lists the values (regions, sizes, images) for the chosen account.
    pub listed: Option<Listing>,
}

/// Lists of values a cloud provider offers for an option (fetched with the chosen account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Listing {
    Regions,
    Sizes,
    Images,
}

impl OptionSpec {
    pub const fn new(name: &'static str, kind: OptionKind) -> OptionSpec {
        OptionSpec {
            name,
            kind,
            default: None,
            env: None,
            help: "",
            required: false,
            label: name,
            advanced: false,
            min: None,
            max: None,
            host_limit: None,
            choices: &[],
            placeholder: None,
            listed: None,
        }
    }
    pub const fn label(mut self, label: &'static str) -> Self {
        self.label = label;
        self
    }
    pub const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }
    pub const fn env(mut self, var: &'static str) -> Self {
        self.env = Some(var);
        self
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn advanced(mut self) -> Self {
        self.advanced = true;
        self
    }
    pub const fn range(mut self, min: i64, max: i64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
    pub const fn host_limit(mut self, limit: Option<i64>) -> Self {
        self.host_limit = limit;
        self
    }
    pub const fn choices(mut self, values: &'static [&'static str]) -> Self {
        self.choices = values;
        self
    }
    pub const fn placeholder(mut self, example: &'static str) -> Self {
        self.placeholder = Some(example);
        self
    }
    pub const fn listed(mut self, what: Listing) -> Self {
        self.listed = Some(what);
        self
    }

    /// What `--help` adds after the help text: default, bounds, choices, where lists come from.
    pub fn help_suffix(&self) -> String {
        let mut parts = vec![];
        if let (Some(lo), Some(hi)) = (self.min, self.max) {
            parts.push(format!("{lo}-{hi}"));
        }
        let named: Vec<&str> = self
            .choices
            .iter()
            .copied()
            .filter(|c| !c.is_empty())
            .collect();
        if !named.is_empty() {
            parts.push(format!("one of: {}", named.join(", ")));
        }
        if self.listed.is_some() {
            parts.push("the app lists the provider's values".into());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join("; "))
        }
    }
}

/// Marks every option not named in `main` as advanced.
pub(crate) fn mark_advanced(options: &mut [OptionSpec], main: &[&str]) {
    for o in options {
        o.advanced = !main.contains(&o.name);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum OptionValue {
    Bool(bool),
    Int(i64),
    List(Vec<String>),
    Str(String),
}

/// Values for a driver's options, by flag name. Missing options take their defaults.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct DriverOptions(pub BTreeMap<String, OptionValue>);

impl DriverOptions {
    pub fn set(&mut self, name: &str, v: OptionValue) {
        self.0.insert(name.to_string(), v);
    }

    fn spec<'a>(&self, info: &'a DriverInfo, name: &str) -> &'a OptionSpec {
        info.options
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("driver {} has no option {name}", info.name))
    }

    /// A string option: the given value, else its environment variable, else its default.
    pub fn string(&self, info: &DriverInfo, name: &str) -> Result<String> {
        let spec = self.spec(info, name);
        let v = match self.0.get(name) {
            Some(OptionValue::Str(s)) => s.clone(),
            Some(other) => {
                return Err(Error::invalid(format!(
                    "--{name} expects a value, got {other:?}"
                )));
            }
            None => spec
                .env
                .and_then(|e| std::env::var(e).ok())
                .or_else(|| spec.default.map(str::to_string))
                .unwrap_or_default(),
        };
        if spec.required && v.trim().is_empty() {
            return Err(
                Error::invalid(format!("the {} driver needs --{name}", info.name))
                    .with_hint(spec.help),
            );
        }
        Ok(v)
    }

    pub fn int(&self, info: &DriverInfo, name: &str) -> Result<i64> {
        match self.0.get(name) {
            Some(OptionValue::Int(i)) => Ok(*i),
            Some(OptionValue::Str(s)) => s
                .trim()
                .parse()
                .map_err(|_| Error::invalid(format!("--{name} must be a number, got \"{s}\""))),
            Some(other) => Err(Error::invalid(format!(
                "--{name} must be a number, got {other:?}"
            ))),
            None => {
                let text = self.string(info, name)?;
                text.trim().parse().map_err(|_| {
                    Error::invalid(format!("--{name} must be a number, got \"{text}\""))
                })
            }
        }
    }

    /// A whole number option within `lo..=hi` (sizes, counts).
    pub fn int_in(&self, info: &DriverInfo, name: &str, lo: i64, hi: i64) -> Result<u32> {
        let v = self.int(info, name)?;
        if !(lo..=hi).contains(&v) || v < 0 {
            return Err(Error::invalid(format!(
                "--{name} must be {lo}-{hi}, got {v}"
            )));
        }
        Ok(v as u32)
    }

    /// A whole number option within the bounds its spec declares.
    pub fn int_in_range(&self, info: &DriverInfo, name: &str) -> Result<u32> {
        let spec = self.spec(info, name);
        let (Some(lo), Some(hi)) = (spec.min, spec.max) else {
            panic!("option {name} of {} declares no range", info.name)
        };
        self.int_in(info, name, lo, hi)
    }

    /// A string option that must be one of its spec's choices.
    pub fn choice(&self, info: &DriverInfo, name: &str) -> Result<String> {
        let v = self.string(info, name)?.trim().to_string();
        let choices = self.spec(info, name).choices;
        if !choices.is_empty() && !choices.contains(&v.as_str()) {
            let named: Vec<&str> = choices.iter().copied().filter(|c| !c.is_empty()).collect();
            return Err(Error::invalid(format!(
                "--{name} must be one of {}, got \"{}\"",
                named.join(", "),
                v.escape_default()
            )));
        }
        Ok(v)
    }

    pub fn port(&self, info: &DriverInfo, name: &str) -> Result<u16> {
        let v = self.int(info, name)?;
        u16::try_from(v).ok().filter(|p| *p > 0).ok_or_else(|| {
            Error::invalid(format!("--{name} must be a port number (1-65535), got {v}"))
        })
    }

    pub fn bool(&self, info: &DriverInfo, name: &str) -> Result<bool> {
        match self.0.get(name) {
            Some(OptionValue::Bool(b)) => Ok(*b),
            Some(OptionValue::Str(s)) => parse_bool(name, s),
            Some(other) => Err(Error::invalid(format!(
                "--{name} is a switch, got {other:?}"
            ))),
            None => match self
                .spec(info, name)
                .env
                .and_then(|e| std::env::var(e).ok())
            {
                Some(s) => parse_bool(name, &s),
                None => Ok(false),
            },
        }
    }

    /// A file path option: `~/` expanded; empty when not given.
    pub fn path(&self, info: &DriverInfo, name: &str) -> Result<String> {
        let v = self.string(info, name)?;
        let v = v.trim();
        Ok(match (v.strip_prefix("~/"), dirs::home_dir()) {
            (Some(rest), Some(home)) => home.join(rest).display().to_string(),
            _ => v.to_string(),
        })
    }

    /// An SSH user name option, checked: it ends up in commands and sudo rules, and a leading
    /// dash would make `ssh`/`scp` read it as an option.
    pub fn ssh_user(&self, info: &DriverInfo, name: &str) -> Result<String> {
        let user = self.string(info, name)?.trim().to_string();
        if !valid_user_name(&user) {
            return Err(Error::invalid(format!(
                "--{name} \"{}\" is not a valid user name",
                user.escape_default()
            ))
            .with_hint("user names use letters, digits, '.', '_' and '-', and start with a letter, digit or '_'"));
        }
        Ok(user)
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(OptionValue::List(v)) => v.clone(),
            Some(OptionValue::Str(s)) if !s.is_empty() => vec![s.clone()],
            _ => vec![],
        }
    }

    /// Fails on options that belong to no option of this driver (a typo, or another driver's).
    pub fn check_known(&self, info: &DriverInfo) -> Result<()> {
        for name in self.0.keys() {
            if !info.options.iter().any(|o| o.name == name) {
                let owner = catalog()
                    .into_iter()
                    .find(|d| d.options.iter().any(|o| o.name == name));
                let msg = match owner {
                    Some(d) => format!(
                        "--{name} belongs to the {} driver, not {}",
                        d.name, info.name
                    ),
                    None => format!("the {} driver has no option --{name}", info.name),
                };
                return Err(Error::invalid(msg));
            }
        }
        Ok(())
    }
}

fn parse_bool(name: &str, s: &str) -> Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid(format!(
            "--{name} must be true or false, got \"{s}\""
        ))),
    }
}
