//! What several drivers share: host and user name checks, the user's SSH key copy, and TCP
//! reachability.

use std::path::Path;
use std::time::Duration;

use super::MachineState;
use crate::error::{Error, Result};

/// An IP address (IPv6 optionally in brackets) or a DNS host name: nothing that could split
/// a command line or a URL.
pub(crate) fn valid_host(h: &str) -> bool {
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    h.parse::<std::net::IpAddr>().is_ok()
        || (!h.is_empty()
            && h.len() <= 253
            && h.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
            }))
}

/// A POSIX-portable user name (what useradd takes), at most 32 characters.
pub fn valid_user_name(user: &str) -> bool {
    user.len() <= 32
        && user
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A comma-separated option value as its non-empty, trimmed items.
pub(crate) fn split_commas(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks a private key the user named with `--flag`: the file exists and is a key.
pub(crate) fn check_ssh_key_file(path: &Path, flag: &str) -> Result<()> {
    if !path.is_file() {
        return Err(
            Error::invalid(format!("SSH key does not exist: \"{}\"", path.display()))
                .with_hint(format!("pass the private key file with --{flag}")),
        );
    }
    crate::ssh::load_private_key(path)?;
    Ok(())
}

/// The file name of a user's key copied into a machine directory. Fixed, so a key that happens
/// to be called `key.pem`, `server.pem` or `id_ed25519` never collides with Berth's own files.
pub const USER_KEY_COPY: &str = "user-ssh-key";

/// A private copy (0600) of the user's key, and its `.pub` if there is one, in the machine
/// directory, as docker-machine made: the machine keeps working if the original moves.
/// Returns the copy's path.
pub(crate) fn copy_ssh_key(src: &Path, machine_dir: &Path) -> Result<std::path::PathBuf> {
    let dst = machine_dir.join(USER_KEY_COPY);
    crate::fsutil::copy_with_mode(src, &dst, crate::fsutil::SECRET_MODE)?;
    let pubkey = std::path::PathBuf::from(format!("{}.pub", src.display()));
    if pubkey.is_file() {
        crate::fsutil::copy_with_mode(
            &pubkey,
            &machine_dir.join(format!("{USER_KEY_COPY}.pub")),
            crate::fsutil::PUBLIC_MODE,
        )?;
    }
    Ok(dst)
}

/// TCP reachability, the way generic hosts report their state.
pub async fn tcp_state(host: &str, port: u16, timeout: Duration) -> MachineState {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => MachineState::Running,
        Ok(Err(_)) => MachineState::Stopped,
        Err(_) => MachineState::Timeout,
    }
}
