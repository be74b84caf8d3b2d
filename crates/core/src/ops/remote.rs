//! `ssh` and `scp` through the system's OpenSSH client, held to the host key Berth pinned:
//! a known_hosts file written from machine.json plus StrictHostKeyChecking=yes (docker-machine
//! disabled host key checks altogether).

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::machine::Machine;
use crate::ssh::SshTarget;

use super::Berth;

/// Restarts dockerd as root, under systemd or OpenRC.
pub const RESTART_DOCKER: &str = r#"sh -c 'if [ "$(id -u)" -eq 0 ]; then S=""; else S="sudo -n"; fi; if [ -d /run/systemd/system ]; then $S systemctl restart docker; else $S rc-service docker restart; fi'"#;

/// A machine's SSH endpoint and the host key pinned for it.
pub struct SshEndpoint {
    pub target: SshTarget,
    pub host_key: Option<String>,
}

fn known_hosts_name(t: &SshTarget) -> String {
    let host = t.host.trim_start_matches('[').trim_end_matches(']');
    if t.port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{}", t.port)
    }
}

/// One `-o` pair list shared by ssh and scp.
/// `user@host:path` as scp and sshfs take it (an IPv6 address in brackets).
fn remote_path(ep: &SshEndpoint, path: &str) -> String {
    let host = ep.target.host.trim_start_matches('[').trim_end_matches(']');
    if host.contains(':') {
        format!("{}@[{host}]:{path}", ep.target.user)
    } else {
        format!("{}@{host}:{path}", ep.target.user)
    }
}

fn common_options(known_hosts: &std::path::Path) -> Vec<String> {
    let mut a = vec![];
    if cfg!(unix) {
        a.extend(["-F".into(), "/dev/null".into()]);
    }
    for o in [
        "ConnectionAttempts=3".to_string(),
        "ConnectTimeout=10".into(),
        "ControlMaster=no".into(),
        "ControlPath=none".into(),
        "LogLevel=quiet".into(),
        "PasswordAuthentication=no".into(),
        "ServerAliveInterval=60".into(),
        "StrictHostKeyChecking=yes".into(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
    ] {
        a.push("-o".into());
        a.push(o);
    }
    a
}

impl Berth {
    pub fn ssh_endpoint(&self, name: &str) -> Result<(Machine, SshEndpoint)> {
        let (m, d) = self.load_ready(name)?;
        let target = d.ssh_target().ok_or_else(|| {
            Error::driver(format!(
                "machine \"{name}\" ({} driver) has no SSH access",
                d.name()
            ))
        })?;
        // The record may have been edited by hand: nothing in it may read as an option to the
        // ssh/scp programs or split their arguments.
        let host = target.host.trim_start_matches('[').trim_end_matches(']');
        if !crate::drivers::valid_user_name(&target.user)
            || host.is_empty()
            || host.starts_with('-')
            || host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        {
            return Err(Error::store(format!(
                "the SSH login \"{}@{}\" in the record of \"{name}\" is not valid",
                target.user.escape_default(),
                target.host.escape_default()
            ))
            .with_hint(format!(
                "fix it with `berth provision --generic-ssh-user USER {name}` or remove the machine"
            )));
        }
        let host_key = m.ssh_host_key.clone();
        Ok((m, SshEndpoint { target, host_key }))
    }

    /// Writes a known_hosts file for these endpoints (in the first machine's directory).
    fn known_hosts(&self, dir_of: &str, endpoints: &[&SshEndpoint]) -> Result<PathBuf> {
        let mut text = String::new();
        for e in endpoints {
            let key = e
                .host_key
                .as_deref()
                .ok_or_else(|| Error::ssh("no SSH host key is pinned for this machine yet"))?;
            text.push_str(&format!("{} {}\n", known_hosts_name(&e.target), key.trim()));
        }
        let path = self.store.machine_dir(dir_of).join("known_hosts");
        fsutil::atomic_write(&path, text.as_bytes(), fsutil::SECRET_MODE)?;
        Ok(path)
    }

    /// The argv of `ssh` logging in to the machine (with `-t` for an interactive session),
    /// followed by the remote command words.
    pub fn ssh_argv(&self, name: &str, remote: &[String], tty: bool) -> Result<Vec<String>> {
        let (_, ep) = self.ssh_endpoint(name)?;
        let kh = self.known_hosts(name, &[&ep])?;
        let mut a = vec!["ssh".to_string()];
        a.extend(common_options(&kh));
        if let Some(key) = &ep.target.key {
            a.extend([
                "-o".into(),
                "IdentitiesOnly=yes".into(),
                "-i".into(),
                key.display().to_string(),
            ]);
        }
        a.extend(["-p".into(), ep.target.port.to_string()]);
        if tty {
            a.push("-t".into());
        }
        a.push(format!(
            "{}@{}",
            ep.target.user,
            ep.target.host.trim_start_matches('[').trim_end_matches(']')
        ));
        if !remote.is_empty() {
            a.push("--".into());
            a.extend(remote.iter().cloned());
        }
        Ok(a)
    }

    /// The argv of `sshfs` mounting `NAME:PATH` on `local` (`berth mount`, as docker-machine
    /// had): the machine's key and pinned host key, files shown as the local user's.
    pub fn mount_argv(&self, remote: &str, local: &str) -> Result<Vec<String>> {
        let Some((name, path)) = split_remote(remote) else {
            return Err(Error::invalid(format!("\"{remote}\" is not NAME:PATH"))
                .with_hint("berth mount NAME:/path/in/the/machine LOCAL_DIR"));
        };
        if !std::path::Path::new(local).is_dir() {
            return Err(Error::invalid(format!("{local} is not a folder"))
                .with_hint("make the (empty) folder to mount on first"));
        }
        let (_, ep) = self.ssh_endpoint(name)?;
        let kh = self.known_hosts(name, &[&ep])?;
        let mut a = vec!["sshfs".to_string()];
        a.extend(common_options(&kh));
        if let Some(key) = &ep.target.key {
            a.extend([
                "-o".into(),
                "IdentitiesOnly=yes".into(),
                "-o".into(),
                format!("IdentityFile={}", key.display()),
            ]);
        }
        a.extend([
            "-o".into(),
            "idmap=user".into(),
            "-o".into(),
            "reconnect".into(),
        ]);
        a.extend(["-p".into(), ep.target.port.to_string()]);
        a.push(remote_path(&ep, if path.is_empty() { "." } else { path }));
        a.push(local.to_string());
        Ok(a)
    }

    /// The argv of `rsync` copying only the differences (`scp --delta`): the same endpoints
    /// and ssh options as `scp_argv`, passed through `-e`.
    pub fn rsync_argv(
        &self,
        src: &str,
        dst: &str,
        recursive: bool,
        quiet: bool,
    ) -> Result<Vec<String>> {
        let argv = self.scp_argv(src, dst, recursive, quiet)?;
        // scp's own switches stay behind; its -P (port) is ssh's -p.
        let ssh_opts: Vec<String> = argv[1..argv.len() - 2]
            .iter()
            .filter(|a| *a != "-3" && *a != "-r" && *a != "-q")
            .map(|o| {
                if o == "-P" {
                    "-p".to_string()
                } else {
                    o.clone()
                }
            })
            .collect();
        let mut r = vec![
            "rsync".to_string(),
            "-e".into(),
            format!(
                "ssh {}",
                ssh_opts
                    .iter()
                    .map(|o| crate::ssh::sh_quote(o))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ];
        if recursive {
            r.push("-r".into());
        }
        if !quiet {
            r.push("--progress".into());
        }
        r.extend(argv[argv.len() - 2..].iter().cloned());
        Ok(r)
    }

    /// The argv of `scp` for `[machine:]path` arguments; copies between two machines go
    /// through this computer (`-3`).
    pub fn scp_argv(
        &self,
        src: &str,
        dst: &str,
        recursive: bool,
        quiet: bool,
    ) -> Result<Vec<String>> {
        let mut endpoints: Vec<(String, SshEndpoint)> = vec![];
        let mut resolve = |arg: &str| -> Result<String> {
            match split_remote(arg) {
                None => Ok(arg.to_string()),
                Some((name, path)) => {
                    let (_, ep) = self.ssh_endpoint(name)?;
                    let spec = remote_path(&ep, path);
                    endpoints.push((name.to_string(), ep));
                    Ok(spec)
                }
            }
        };
        let src = resolve(src)?;
        let dst = resolve(dst)?;
        if endpoints.is_empty() {
            return Err(Error::invalid("neither argument names a machine")
                .with_hint("use MACHINE:PATH for the remote side"));
        }
        let ports: std::collections::BTreeSet<u16> =
            endpoints.iter().map(|(_, e)| e.target.port).collect();
        if ports.len() > 1 {
            return Err(Error::invalid(
                "scp between machines with different SSH ports is not supported",
            )
            .with_hint("copy in two steps through this computer"));
        }
        let refs: Vec<&SshEndpoint> = endpoints.iter().map(|(_, e)| e).collect();
        let kh = self.known_hosts(&endpoints[0].0, &refs)?;
        let mut a = vec!["scp".to_string()];
        a.extend(common_options(&kh));
        if endpoints.len() > 1 {
            a.push("-3".into());
        }
        let keys: Vec<_> = refs.iter().filter_map(|e| e.target.key.clone()).collect();
        if keys.len() == refs.len() {
            a.extend(["-o".into(), "IdentitiesOnly=yes".into()]);
        }
        for k in keys {
            a.extend(["-i".into(), k.display().to_string()]);
        }
        a.extend(["-P".into(), endpoints[0].1.target.port.to_string()]);
        if recursive {
            a.push("-r".into());
        }
        if quiet {
            a.push("-q".into());
        }
        a.push(src);
        a.push(dst);
        Ok(a)
    }

    /// The key file (if any) and target of a machine, for the built-in SSH client.
    pub fn ssh_target_of(&self, name: &str) -> Result<SshTarget> {
        self.load_ready(name)?
            .1
            .ssh_target()
            .ok_or_else(|| Error::driver(format!("machine \"{name}\" has no SSH access")))
    }
}

/// `machine:path` → Some((machine, path)); local paths (no colon before any slash, or
/// `localhost:`) → None.
pub fn split_remote(arg: &str) -> Option<(&str, &str)> {
    let (host, path) = arg.split_once(':')?;
    if host.is_empty()
        || host.contains('/')
        || host == "localhost"
        || (cfg!(windows) && host.len() == 1)
    {
        return None;
    }
    Some((host, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_args() {
        assert_eq!(split_remote("dev:/etc/hosts"), Some(("dev", "/etc/hosts")));
        assert_eq!(split_remote("dev:"), Some(("dev", "")));
        assert_eq!(split_remote("./a:b"), None);
        assert_eq!(split_remote("localhost:/x"), None);
        assert_eq!(split_remote("/tmp/file"), None);
    }

    #[test]
    fn known_hosts_names() {
        let t = |h: &str, p| SshTarget {
            host: h.into(),
            port: p,
            user: "root".into(),
            key: None,
        };
        assert_eq!(known_hosts_name(&t("10.0.0.2", 22)), "10.0.0.2");
        assert_eq!(known_hosts_name(&t("10.0.0.2", 2222)), "[10.0.0.2]:2222");
        assert_eq!(known_hosts_name(&t("[::1]", 22)), "::1");
    }
}
