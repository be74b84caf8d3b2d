//! What makes a local VM a place to work: container ports published on this computer's
//! localhost, and this computer's folders mounted in the VM at the same paths. The drivers say
//! how (QEMU: QMP `hostfwd_add` and virtiofs; VirtualBox: NAT rules and shared folders); the
//! port agent (`crate::agent`) decides what, from the machine's Docker events.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A port of the VM (where Docker published a container's port) made reachable on this
/// computer at the same number, on `host_ip` (127.0.0.1 unless the machine opted in to the LAN).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortSpec {
    pub proto: Proto,
    pub host_ip: String,
    pub port: u16,
}

impl PortSpec {
    /// A name unique per port and protocol (VirtualBox NAT rules need one).
    pub fn rule_name(&self) -> String {
        format!("berth-{}-{}", self.proto.as_str(), self.port)
    }
}

/// Fails with a clear reason when another program holds `p` on this computer (checked right
/// before the hypervisor is asked, whose own error would not say so).
pub fn host_port_free(p: &PortSpec) -> Result<()> {
    let addr = (p.host_ip.as_str(), p.port);
    let bound = match p.proto {
        Proto::Tcp => std::net::TcpListener::bind(addr).map(drop),
        Proto::Udp => std::net::UdpSocket::bind(addr).map(drop),
    };
    bound.map_err(|e| bind_error(p, &e))
}

/// Why `p` could not be bound on this computer (another program holding it, said plainly).
pub fn bind_error(p: &PortSpec, e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        Error::invalid(format!(
            "{} port {} is in use on this computer by another program",
            p.proto.as_str(),
            p.port
        ))
    } else {
        Error::io(format!(
            "cannot use {} port {} on {}: {e}",
            p.proto.as_str(),
            p.port,
            p.host_ip
        ))
    }
}

/// A folder of this computer mounted in the VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SharedFolder {
    #[serde(rename = "Host")]
    pub host: String,
    #[serde(rename = "Guest")]
    pub guest: String,
}

/// `HOST:GUEST` or `HOST` (mounted at the same path; on Windows `C:\Users` → `/c/Users`).
/// The host part may hold a drive letter's colon: the split is at the last `:` before a `/`.
/// `what` names the value in errors (a flag, "the folder").
pub fn parse_share(what: &str, value: &str) -> Result<SharedFolder> {
    let v = value.trim();
    let bad = |why: &str| {
        Error::invalid(format!("{what} \"{value}\": {why}"))
            .with_hint("HOST_FOLDER[:GUEST_PATH], e.g. /home/me/src:/src")
    };
    if v.is_empty() || v.chars().any(char::is_control) {
        return Err(bad("empty or has control characters"));
    }
    // The last `:/` that is not a drive letter's (`C:/…`) separates the VM path.
    let split = v
        .rmatch_indices(":/")
        .map(|(i, _)| i)
        .find(|&i| !(i == 1 && v.as_bytes()[0].is_ascii_alphabetic()));
    let (host, guest) = match split {
        Some(i) => (&v[..i], v[i + 1..].to_string()),
        None => (v, guest_path(v)),
    };
    let host_path = std::path::Path::new(host);
    if !host_path.is_absolute() {
        return Err(bad("the host folder must be an absolute path"));
    }
    if !host_path.is_dir() {
        return Err(bad("the host folder does not exist"));
    }
    if !guest.starts_with('/') || guest.contains(['\'', '"', '\\', ' ']) || guest == "/" {
        return Err(bad(
            "the VM path must be absolute, not /, without quotes, spaces or backslashes",
        ));
    }
    Ok(SharedFolder {
        host: host.to_string(),
        guest,
    })
}

/// Where a host folder appears in the VM: the same path, Windows drives as `/c/…` (Docker
/// Toolbox's convention, which `docker run -v` users on Windows already know).
pub fn guest_path(host: &str) -> String {
    let b = host.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        let rest = host[2..].replace('\\', "/");
        return format!(
            "/{}{}",
            (b[0] as char).to_ascii_lowercase(),
            if rest.starts_with('/') {
                rest
            } else {
                format!("/{rest}")
            }
        );
    }
    host.to_string()
}

/// The default: the user's home folder (on Windows all of `C:\Users`, as Docker Toolbox did).
pub fn default_shares() -> Vec<SharedFolder> {
    let home = if cfg!(windows) {
        std::env::var("SystemDrive")
            .map(|d| format!("{d}\\Users"))
            .ok()
    } else {
        std::env::var("HOME").ok()
    };
    home.filter(|h| !h.is_empty() && h != "/" && std::path::Path::new(h).is_dir())
        .map(|h| {
            vec![SharedFolder {
                guest: guest_path(&h),
                host: h,
            }]
        })
        .unwrap_or_default()
}

/// The shares a create asked for: none with `--X-no-share`, the flags' folders if any were
/// given, else the default.
pub fn shares_from_flags(
    flag: &str,
    given: &[String],
    no_share: bool,
) -> Result<Vec<SharedFolder>> {
    if no_share {
        if !given.is_empty() {
            return Err(Error::invalid(format!(
                "--{flag} and --{} contradict each other",
                flag.replace("share-folder", "no-share")
            )));
        }
        return Ok(vec![]);
    }
    if given.is_empty() {
        return Ok(default_shares());
    }
    let shares = given
        .iter()
        .map(|v| parse_share(&format!("--{flag}"), v))
        .collect::<Result<Vec<_>>>()?;
    for (i, s) in shares.iter().enumerate() {
        if shares[..i].iter().any(|o| o.guest == s.guest) {
            return Err(Error::invalid(format!(
                "--{flag}: two folders would be mounted at {}",
                s.guest
            )));
        }
    }
    Ok(shares)
}

/// The name share `i` has between the hypervisor and the guest (a virtiofs tag, a VirtualBox
/// shared folder's name): what the guest mounts.
pub fn share_tag(i: usize) -> String {
    format!("berth{i}")
}

/// The guest mounts of `shares`, each of file system type `fstype`, from its tag.
pub fn guest_mounts(fstype: &'static str, shares: &[SharedFolder]) -> Vec<GuestMount> {
    shares
        .iter()
        .enumerate()
        .map(|(i, s)| GuestMount {
            fstype,
            source: share_tag(i),
            target: s.guest.clone(),
            options: String::new(),
        })
        .collect()
}

/// One mount to make in the guest after it boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestMount {
    pub fstype: &'static str,
    /// The device or tag (virtiofs tag, VirtualBox share name).
    pub source: String,
    pub target: String,
    pub options: String,
}

/// A shell script that mounts each share (idempotent: a mounted target is left alone) and
/// prints `MOUNTED target` or `FAILED target: why` per share. Tags and paths were checked when
/// the machine was created (no quotes, no spaces), and are quoted again here all the same.
pub fn mount_script(mounts: &[GuestMount]) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut s = String::from("set -u\n");
    for m in mounts {
        let opts = if m.options.is_empty() {
            String::new()
        } else {
            format!(" -o {}", q(&m.options))
        };
        s.push_str(&format!(
            "t={target}\n\
             if mountpoint -q \"$t\"; then echo \"MOUNTED $t\"; \
             elif err=$(sudo mkdir -p \"$t\" 2>&1 && sudo mount -t {fstype}{opts} {source} \"$t\" 2>&1); then echo \"MOUNTED $t\"; \
             else echo \"FAILED $t: $(echo $err | tr '\\n' ' ')\"; fi\n",
            target = q(&m.target),
            fstype = m.fstype,
            source = q(&m.source),
        ));
    }
    s
}

/// What a shared folder's mount came to, for `berth ports`/the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ShareStatus {
    pub host: String,
    pub guest: String,
    /// Empty when mounted; else why not.
    pub problem: String,
}

/// Reads the mount script's answer.
pub fn mount_results(shares: &[SharedFolder], out: &str) -> Vec<ShareStatus> {
    shares
        .iter()
        .map(|s| {
            let problem = out
                .lines()
                .find_map(|l| {
                    if l.trim() == format!("MOUNTED {}", s.guest) {
                        Some(String::new())
                    } else {
                        l.strip_prefix(&format!("FAILED {}: ", s.guest))
                            .map(|w| w.trim().to_string())
                    }
                })
                .unwrap_or_else(|| "the VM did not answer for this folder".into());
            ShareStatus {
                host: s.host.clone(),
                guest: s.guest.clone(),
                problem,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_parse_with_and_without_a_guest_path() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let s = parse_share("qemu-share-folder", &d).unwrap();
        assert_eq!(
            (s.host.as_str(), s.guest.as_str()),
            (d.as_str(), d.as_str())
        );
        let s = parse_share("qemu-share-folder", &format!("{d}:/src")).unwrap();
        assert_eq!((s.host.as_str(), s.guest.as_str()), (d.as_str(), "/src"));
        for bad in [
            "relative/dir",
            "/nonexistent-berth-dir",
            &format!("{d}:/a b"),
            &format!("{d}:/"),
            "",
        ] {
            assert!(parse_share("qemu-share-folder", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn windows_folders_appear_under_a_drive_letter_path() {
        assert_eq!(guest_path(r"C:\Users"), "/c/Users");
        assert_eq!(guest_path(r"D:\work\src"), "/d/work/src");
        assert_eq!(guest_path("/home/me"), "/home/me");
    }

    #[test]
    fn no_share_wins_and_contradictions_are_refused() {
        assert!(
            shares_from_flags("qemu-share-folder", &[], true)
                .unwrap()
                .is_empty()
        );
        assert!(shares_from_flags("qemu-share-folder", &["/tmp".into()], true).is_err());
        let twice = ["/tmp:/x".to_string(), "/:/x".to_string()];
        assert!(shares_from_flags("qemu-share-folder", &twice, false).is_err());
    }

    #[test]
    fn the_mount_script_reports_each_share() {
        let m = GuestMount {
            fstype: "virtiofs",
            source: "berth0".into(),
            target: "/home/me".into(),
            options: String::new(),
        };
        let s = mount_script(&[m]);
        assert!(s.contains("sudo mount -t virtiofs 'berth0' \"$t\""), "{s}");
        let shares = [
            SharedFolder {
                host: "/home/me".into(),
                guest: "/home/me".into(),
            },
            SharedFolder {
                host: "/data".into(),
                guest: "/data".into(),
            },
        ];
        let r = mount_results(&shares, "MOUNTED /home/me\nFAILED /data: no such device\n");
        assert_eq!(r[0].problem, "");
        assert_eq!(r[1].problem, "no such device");
    }
}
