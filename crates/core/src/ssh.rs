//! SSH client (russh): one connection per operation, many commands over it.
//!
//! The server's host key is pinned at first contact and every later connection must present
//! the same key; a changed key is refused before any secret is sent. RSA user keys sign with
//! SHA-2 (OpenSSH >= 8.8 refuses SHA-1 `ssh-rsa`), keepalives keep long provisioning runs open.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::{self, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};

use crate::error::{Error, ErrorKind, Result};

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to log in.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// A private key file; `None` tries the user's default keys (~/.ssh/id_ed25519, …).
    pub key: Option<PathBuf>,
}

impl SshTarget {
    pub fn describe(&self) -> String {
        format!("{}@{}", self.user, self.address())
    }
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// How to treat the server's host key.
#[derive(Debug, Clone)]
pub enum HostKeyPolicy {
    /// Accept whatever the server presents (first contact); read it back with `host_key()`.
    TrustOnFirstUse,
    /// Only this key (an OpenSSH public key line) is accepted.
    Pinned(String),
}

/// Called with every remote command before it runs (`--debug`).
pub type CommandLog = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// `None` when the command was killed by a signal (see `signal`) or the channel just closed.
    pub status: Option<u32>,
    pub signal: Option<String>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

struct HostKeyCheck {
    pinned: Option<PublicKey>,
    seen: Arc<Mutex<Option<PublicKey>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            keys::PublicKeyOrCertificate::Certificate(cert) => {
                PublicKey::from(cert.public_key().clone())
            }
        };
        let ok = match &self.pinned {
            Some(pinned) => pinned.key_data() == key.key_data(),
            None => true,
        };
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(key);
        }
        Ok(ok)
    }
}

pub struct SshSession {
    handle: Handle<HostKeyCheck>,
    host_key: PublicKey,
    target: SshTarget,
    log: Option<CommandLog>,
}

/// The keys tried when none is configured, in OpenSSH's order.
pub fn default_identity_files() -> Vec<PathBuf> {
    let Some(home) = dirs::home_dir() else {
        return vec![];
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .filter(|p| p.exists())
        .collect()
}

pub fn load_private_key(path: &Path) -> Result<PrivateKey> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::invalid(format!("cannot read SSH key {}: {e}", path.display()))
            .with_hint("pass the path of an existing private key file")
    })?;
    keys::decode_secret_key(&text, None).map_err(|e| match e {
        keys::Error::KeyIsEncrypted => Error::invalid(format!(
            "SSH key {} is protected by a passphrase",
            path.display()
        ))
        .with_hint("give Berth a key without a passphrase (it keeps its own copy, mode 0600)"),
        other => Error::invalid(format!(
            "{} is not a usable SSH private key: {other}",
            path.display()
        ))
        .with_hint("use an OpenSSH, PEM or PuTTY private key (ed25519, ECDSA or RSA)"),
    })
}

/// Creates a new ed25519 key pair for a machine: `dir/id_ed25519` (0600, OpenSSH format) and
/// `dir/id_ed25519.pub`. Returns the public key line to authorize on the machine.
pub fn generate_ed25519(dir: &Path, comment: &str) -> Result<(PathBuf, String)> {
    use keys::ssh_key::{Algorithm, LineEnding};
    let mut key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
        .map_err(|e| Error::io(format!("cannot generate an SSH key: {e}")))?;
    key.set_comment(comment);
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| Error::io(format!("cannot encode the SSH key: {e}")))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| Error::io(format!("cannot encode the SSH key: {e}")))?;
    let path = dir.join("id_ed25519");
    crate::fsutil::atomic_write(&path, private.as_bytes(), crate::fsutil::SECRET_MODE)?;
    crate::fsutil::atomic_write(
        &dir.join("id_ed25519.pub"),
        format!("{public}\n").as_bytes(),
        crate::fsutil::PUBLIC_MODE,
    )?;
    Ok((path, public))
}

/// The OpenSSH public-key line of a key, as stored for pinning.
pub fn public_key_line(key: &PublicKey) -> String {
    key.to_openssh().unwrap_or_default()
}

pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

pub fn parse_public_key_line(line: &str) -> Result<PublicKey> {
    PublicKey::from_openssh(line.trim())
        .map_err(|e| Error::store(format!("stored SSH host key is unreadable ({e})")))
}

fn connect_error(target: &SshTarget, e: &std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    let addr = target.address();
    match e.kind() {
        K::ConnectionRefused => Error::ssh(format!("SSH connection to {addr} was refused: nothing listens on port {}", target.port))
            .with_hint("check the SSH port (for generic machines --generic-ssh-port) and that sshd runs on the host"),
        K::HostUnreachable | K::NetworkUnreachable => Error::ssh(format!("no route to {}: {e}", target.host))
            .with_hint("check the address, and your network or VPN"),
        K::TimedOut => Error::timeout(format!("no answer from {addr}"))
            .with_hint("the host may be down, or a firewall drops SSH packets"),
        _ => Error::ssh(format!("cannot connect to {addr}: {e}")),
    }
}

impl SshSession {
    /// Connects, checks the host key and logs in. One TCP connection; nothing else is tried.
    pub async fn connect(
        target: &SshTarget,
        policy: &HostKeyPolicy,
        timeout: Duration,
        log: Option<CommandLog>,
    ) -> Result<SshSession> {
        let pinned = match policy {
            HostKeyPolicy::Pinned(line) => Some(parse_public_key_line(line)?),
            HostKeyPolicy::TrustOnFirstUse => None,
        };
        let keys: Vec<(PathBuf, PrivateKey)> = match &target.key {
            Some(p) => vec![(p.clone(), load_private_key(p)?)],
            None => {
                let found: Vec<_> = default_identity_files()
                    .into_iter()
                    .filter_map(|p| load_private_key(&p).ok().map(|k| (p, k)))
                    .collect();
                if found.is_empty() {
                    return Err(Error::invalid("no SSH key given and none found in ~/.ssh (id_ed25519, id_ecdsa, id_rsa)")
                        .with_hint("pass the key that logs in to the host, e.g. --generic-ssh-key ~/.ssh/id_ed25519"));
                }
                found
            }
        };

        let addr = (
            target
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            target.port,
        );
        let stream = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr))
            .await
        {
            Err(_) => {
                return Err(Error::timeout(format!(
                    "no answer from {} within {} s",
                    target.address(),
                    timeout.as_secs()
                ))
                .with_hint("the host may be down, or a firewall drops SSH packets"));
            }
            Ok(Err(e))
                if e.kind() == std::io::ErrorKind::Other || e.to_string().contains("lookup") =>
            {
                return Err(
                    Error::ssh(format!("cannot resolve or reach {}: {e}", target.host))
                        .with_hint("check the host name or IP address"),
                );
            }
            Ok(Err(e)) => return Err(connect_error(target, &e)),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);

        let config = Arc::new(client::Config {
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            inactivity_timeout: None,
            nodelay: true,
            ..Default::default()
        });
        let seen = Arc::new(Mutex::new(None));
        let check = HostKeyCheck {
            pinned: pinned.clone(),
            seen: seen.clone(),
        };
        let handshake =
            tokio::time::timeout(timeout, client::connect_stream(config, stream, check)).await;
        let mut handle = match handshake {
            Err(_) => {
                return Err(Error::timeout(format!(
                    "{} accepted the connection but the SSH handshake did not finish within {} s",
                    target.address(),
                    timeout.as_secs()
                ))
                .with_hint("is this port really an SSH server?"));
            }
            Ok(Ok(h)) => h,
            Ok(Err(russh::Error::UnknownKey)) => {
                let seen = seen.lock().ok().and_then(|s| s.clone());
                let expected = pinned.as_ref().map(fingerprint).unwrap_or_default();
                let got = seen.as_ref().map(fingerprint).unwrap_or_else(|| "?".into());
                return Err(Error::new(
                    ErrorKind::HostKeyChanged,
                    format!(
                        "the SSH host key of {} has changed: expected {expected}, got {got}. Either the server was reinstalled or someone is intercepting the connection",
                        target.address()
                    ),
                ));
            }
            Ok(Err(e)) => {
                return Err(Error::ssh(format!(
                    "SSH handshake with {} failed: {e}",
                    target.address()
                ))
                .with_hint("is this port really an SSH server?"));
            }
        };
        let host_key = seen
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| Error::ssh("the server did not present a host key"))?;

        let mut tried = vec![];
        for (path, key) in keys {
            let hash = if key.algorithm().is_rsa() {
                handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten()
                    .or(Some(HashAlg::Sha256))
            } else {
                None
            };
            let res = handle
                .authenticate_publickey(
                    target.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
                .map_err(|e| {
                    Error::ssh(format!(
                        "SSH authentication with {} failed: {e}",
                        target.address()
                    ))
                })?;
            if res.success() {
                return Ok(SshSession {
                    handle,
                    host_key,
                    target: target.clone(),
                    log,
                });
            }
            tried.push(path.display().to_string());
        }
        Err(Error::ssh(format!("{} refused the SSH key {}", target.describe(), tried.join(", "))).with_hint(format!(
            "make sure the key's public half is in ~{}/.ssh/authorized_keys on the host, and the user name is right",
            target.user
        )))
    }

    pub fn host_key(&self) -> &PublicKey {
        &self.host_key
    }
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Runs a command, feeding `stdin` if given, collecting its output.
    pub async fn exec(&self, command: &str, stdin: Option<&[u8]>) -> Result<ExecOutput> {
        let mut out = ExecOutput::default();
        let (status, signal) = self
            .run(command, stdin, &mut |chunk, is_err| {
                if is_err {
                    out.stderr.extend_from_slice(chunk)
                } else {
                    out.stdout.extend_from_slice(chunk)
                }
            })
            .await?;
        out.status = status;
        out.signal = signal;
        Ok(out)
    }

    /// Runs a command, handing every output chunk to `sink` as it arrives (`true` = stderr).
    pub async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        sink: &mut (dyn FnMut(&[u8], bool) + Send),
    ) -> Result<(Option<u32>, Option<String>)> {
        let ssh_err = |e: russh::Error| {
            Error::ssh(format!(
                "SSH session with {} failed: {e}",
                self.target.address()
            ))
        };
        let mut channel = self.open_exec(command).await?;
        if let Some(data) = stdin {
            channel.data(data).await.map_err(ssh_err)?;
        }
        channel.eof().await.map_err(ssh_err)?;
        let (mut status, mut signal) = (None, None);
        // ExitStatus may arrive before the last Data: read until the channel closes.
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => sink(&data, false),
                ChannelMsg::ExtendedData { data, ext: 1 } => sink(&data, true),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    signal = Some(format!("{signal_name:?}"))
                }
                _ => {}
            }
        }
        if status.is_none() && signal.is_none() && self.handle.is_closed() {
            // The channel ended because the connection did: the server stopped answering (or
            // its sshd died). What ran there may have finished or not.
            return Err(Error::ssh(format!(
                "the SSH connection to {} was lost while the command ran",
                self.target.address()
            ))
            .with_hint("check the network and the server, then run the command again"));
        }
        Ok((status, signal))
    }

    /// Starts `command` and hands back its channel, for a caller that talks to it as it runs
    /// (its stdin and stdout carry a protocol, as with the guest's sshfs).
    pub async fn open_exec(&self, command: &str) -> Result<russh::Channel<client::Msg>> {
        if let Some(log) = &self.log {
            log(command);
        }
        let ssh_err = |e: russh::Error| {
            Error::ssh(format!(
                "SSH session with {} failed: {e}",
                self.target.address()
            ))
        };
        let channel = self.handle.channel_open_session().await.map_err(ssh_err)?;
        channel.exec(true, command).await.map_err(ssh_err)?;
        Ok(channel)
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Opens an interactive channel with a terminal: a login shell, or `command` in a PTY.
    pub async fn open_pty(
        &self,
        command: Option<&str>,
        term: &str,
        cols: u32,
        rows: u32,
    ) -> Result<russh::Channel<client::Msg>> {
        let ssh_err = |e: russh::Error| {
            Error::ssh(format!(
                "SSH session with {} failed: {e}",
                self.target.address()
            ))
        };
        let channel = self.handle.channel_open_session().await.map_err(ssh_err)?;
        channel
            .request_pty(true, term, cols, rows, 0, 0, &[])
            .await
            .map_err(ssh_err)?;
        match command {
            Some(c) => {
                if let Some(log) = &self.log {
                    log(c);
                }
                channel.exec(true, c).await.map_err(ssh_err)?
            }
            None => channel.request_shell(true).await.map_err(ssh_err)?,
        }
        Ok(channel)
    }

    /// Writes a file on the host atomically with `mode`, through stdin (never the command line).
    pub async fn upload(&self, path: &str, bytes: &[u8], mode: u32) -> Result<()> {
        let q = sh_quote(path);
        let tmp = sh_quote(&format!("{path}.berth-tmp"));
        let cmd = format!("umask 077 && cat > {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {q}");
        let out = self.exec(&cmd, Some(bytes)).await?;
        if !out.success() {
            return Err(Error::ssh(format!(
                "cannot write {path} on {}: {}",
                self.target.host,
                out.stderr_text().trim()
            )));
        }
        Ok(())
    }

    /// Serves connections to `listener` through the server: each one becomes a `direct-tcpip`
    /// channel to `host:port` as the server sees it (what `ssh -L` does). Runs until the SSH
    /// connection ends; a connection the server refuses (nothing on that port) is closed and
    /// reported, the forward goes on.
    pub async fn forward_local(
        &self,
        listener: tokio::net::TcpListener,
        host: &str,
        port: u16,
        refused: impl Fn(String),
    ) -> Result<()> {
        loop {
            let (mut inbound, peer) = tokio::select! {
                a = listener.accept() => a.map_err(|e| Error::io(format!("cannot accept a connection: {e}")))?,
                () = wait_closed(&self.handle) => {
                    return Err(Error::ssh(format!("the SSH connection to {} ended", self.target.host)));
                }
            };
            let channel = self
                .handle
                .channel_open_direct_tcpip(
                    host,
                    u32::from(port),
                    peer.ip().to_string(),
                    u32::from(peer.port()),
                )
                .await;
            match channel {
                Ok(ch) => {
                    tokio::spawn(async move {
                        let mut stream = ch.into_stream();
                        let _ = inbound.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut stream).await;
                    });
                }
                Err(e) if self.handle.is_closed() => {
                    return Err(Error::ssh(format!(
                        "the SSH connection to {} ended: {e}",
                        self.target.host
                    )));
                }
                Err(e) => refused(format!("{}:{port} on {}: {e}", host, self.target.host)),
            }
        }
    }

    /// Says goodbye to the server; bounded, because a connection that went silent would
    /// otherwise hold the caller until TCP gives up.
    pub async fn close(self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.handle
                .disconnect(russh::Disconnect::ByApplication, "", "en"),
        )
        .await;
    }
}

/// Resolves when the connection has closed (checked twice a second: russh has no event).
async fn wait_closed<H: russh::client::Handler>(h: &Handle<H>) {
    while !h.is_closed() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Quotes a word for POSIX sh.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("/etc/docker/ca.pem"), "/etc/docker/ca.pem");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn generated_keys_load_back_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public) = generate_ed25519(dir.path(), "berth:test").unwrap();
        assert!(
            public.starts_with("ssh-ed25519 ") && public.ends_with("berth:test"),
            "{public}"
        );
        let key = load_private_key(&path).unwrap();
        assert_eq!(public_key_line(key.public_key()), public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // OpenSSH itself reads it.
        if let Ok(out) = crate::child::background("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&path)
            .output()
        {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(public.starts_with(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }

    #[test]
    fn key_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load_private_key(&dir.path().join("nope")).unwrap_err();
        assert!(
            missing.message().contains("cannot read SSH key"),
            "{missing}"
        );
        let junk = dir.path().join("junk");
        std::fs::write(&junk, "hello").unwrap();
        let e = load_private_key(&junk).unwrap_err();
        assert!(e.message().contains("not a usable SSH private key"), "{e}");
    }
}
