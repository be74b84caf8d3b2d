//! Docker contexts, one per machine (`berth-NAME`), written straight into the docker CLI's
//! context store (the format `docker context create` writes) so switching needs no `docker`
//! process and takes a millisecond. The current context lives in config.json, whose other
//! settings are kept as they are.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::userfile::{self, Encoding, UserFile};

pub const PREFIX: &str = "berth-";

/// The docker CLI's configuration directory: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))
}

pub fn context_name(machine: &str) -> String {
    format!("{PREFIX}{machine}")
}

fn digest(name: &str) -> String {
    crate::certs::hex(&Sha256::digest(name.as_bytes()))
}

/// Creates or replaces the context for a machine, with copies of its TLS files.
pub fn write(config_dir: &Path, machine: &str, url: &str, cert_dir: &Path) -> Result<String> {
    let name = context_name(machine);
    let id = digest(&name);
    let meta_dir = config_dir.join("contexts/meta").join(&id);
    let tls_dir = config_dir.join("contexts/tls").join(&id).join("docker");
    fsutil::ensure_private_dir(&meta_dir)?;
    fsutil::ensure_private_dir(&tls_dir)?;
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        fsutil::copy_with_mode(&cert_dir.join(f), &tls_dir.join(f), fsutil::SECRET_MODE)?;
    }
    let meta = serde_json::json!({
        "Name": name,
        "Metadata": { "Description": format!("Berth machine {machine}") },
        "Endpoints": { "docker": { "Host": url, "SkipTLSVerify": false } }
    });
    fsutil::atomic_write(
        &meta_dir.join("meta.json"),
        meta.to_string().as_bytes(),
        fsutil::PUBLIC_MODE,
    )?;
    Ok(name)
}

pub fn remove(config_dir: &Path, machine: &str) -> Result<()> {
    let id = digest(&context_name(machine));
    for d in [
        config_dir.join("contexts/meta").join(&id),
        config_dir.join("contexts/tls").join(&id),
    ] {
        if d.exists() {
            std::fs::remove_dir_all(&d).at("remove", &d)?;
        }
    }
    if current(config_dir).as_deref() == Some(context_name(machine).as_str()) {
        set_current(config_dir, None)?;
    }
    Ok(())
}

pub fn exists(config_dir: &Path, machine: &str) -> bool {
    config_dir
        .join("contexts/meta")
        .join(digest(&context_name(machine)))
        .join("meta.json")
        .is_file()
}

/// The docker CLI's config.json, followed through links (dotfiles managers link it into a
/// repository). A missing or blank file is an empty config; one Berth cannot read or parse
/// is an error, never treated as empty.
fn open_config(
    config_dir: &Path,
) -> Result<(UserFile, serde_json::Map<String, serde_json::Value>)> {
    let file = userfile::open(&config_dir.join("config.json"))?;
    let text = file.text.as_deref().unwrap_or_default();
    if text.trim_ascii().is_empty() {
        return Ok((file, Default::default()));
    }
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => Ok((file, m)),
        _ => Err(
            Error::invalid(format!("{} is not a JSON object", file.name()))
                .with_hint("fix the docker CLI's config.json; Berth will not overwrite it"),
        ),
    }
}

fn read_config(config_dir: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    open_config(config_dir).map(|(_, cfg)| cfg)
}

pub fn current(config_dir: &Path) -> Option<String> {
    read_config(config_dir)
        .ok()?
        .get("currentContext")?
        .as_str()
        .map(str::to_string)
}

/// Sets (or with `None`, clears back to "default") the docker CLI's current context.
pub fn set_current(config_dir: &Path, name: Option<&str>) -> Result<()> {
    let (file, mut cfg) = open_config(config_dir)?;
    match name {
        Some(n) => {
            cfg.insert(
                "currentContext".into(),
                serde_json::Value::String(n.to_string()),
            );
        }
        None => {
            cfg.remove("currentContext");
        }
    }
    // An existing directory keeps its mode: it is the docker CLI's, not Berth's.
    if !config_dir.exists() {
        fsutil::ensure_private_dir(config_dir)?;
    }
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(cfg))
        .map_err(|e| Error::store(format!("cannot encode {}: {e}", file.name())))?;
    text.push('\n');
    // Through a link to its target, in the target's mode; a new file holds secrets (auths).
    file.write(
        text.as_bytes(),
        Encoding::Bytes { utf8_bom: false },
        fsutil::SECRET_MODE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_docker_cli_layout_and_keeps_config() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(certs.join(f), f).unwrap();
        }
        let cfg = dir.path().join("docker");
        std::fs::create_dir(&cfg).unwrap();
        std::fs::write(
            cfg.join("config.json"),
            r#"{"auths":{"r.example":{"auth":"x"}},"currentContext":"mine"}"#,
        )
        .unwrap();
        let name = write(&cfg, "dev", "tcp://1.2.3.4:2376", &certs).unwrap();
        assert_eq!(name, "berth-dev");
        let meta_dir = cfg.join("contexts/meta").join(digest("berth-dev"));
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(meta_dir.join("meta.json")).unwrap())
                .unwrap();
        assert_eq!(meta["Endpoints"]["docker"]["Host"], "tcp://1.2.3.4:2376");
        assert!(exists(&cfg, "dev"));
        set_current(&cfg, Some("berth-dev")).unwrap();
        assert_eq!(current(&cfg).as_deref(), Some("berth-dev"));
        let kept: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(cfg.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(
            kept["auths"]["r.example"]["auth"], "x",
            "other settings survive"
        );
        remove(&cfg, "dev").unwrap();
        assert!(!exists(&cfg, "dev"));
        assert_eq!(
            current(&cfg),
            None,
            "removing the current context falls back to default"
        );
    }

    #[cfg(unix)]
    #[test]
    fn writes_a_linked_config_in_its_target_keeping_its_mode() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/docker-config.json");
        std::fs::create_dir(dir.path().join("dotfiles")).unwrap();
        std::fs::write(&real, r#"{"auths":{}}"#).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let cfg = dir.path().join("docker");
        std::fs::create_dir(&cfg).unwrap();
        symlink("../dotfiles/docker-config.json", cfg.join("config.json")).unwrap();
        set_current(&cfg, Some("berth-dev")).unwrap();
        let link = std::fs::symlink_metadata(cfg.join("config.json")).unwrap();
        assert!(link.file_type().is_symlink(), "the link stays a link");
        assert!(
            std::fs::read_to_string(&real)
                .unwrap()
                .contains("berth-dev")
        );
        assert_eq!(
            std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(current(&cfg).as_deref(), Some("berth-dev"));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_read_only_foreign_or_unreadable_configs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let err = set_current(dir.path(), Some("x")).unwrap_err();
        assert!(err.message().contains("read-only"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Only root can give a file away.
        if std::os::unix::fs::chown(&path, Some(4242), None).is_ok() {
            let err = set_current(dir.path(), Some("x")).unwrap_err();
            assert!(err.message().contains("another user"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(set_current(dir.path(), Some("x")).is_err());
        assert!(path.is_dir());
    }

    #[test]
    fn refuses_to_clobber_a_damaged_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "[1,2").unwrap();
        assert!(set_current(dir.path(), Some("x")).is_err());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("config.json")).unwrap(),
            "[1,2"
        );
    }
}
