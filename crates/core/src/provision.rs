//! Provisioning: one script, fed over one SSH connection, installs Docker when needed, writes
//! the TLS files (0600, through stdin: never on a command line) and dockerd's configuration,
//! and restarts dockerd. Berth then checks the TLS endpoint itself through the Docker API.

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::daemon_config;
use crate::error::{Error, ErrorKind, Result};
use crate::machine::{EngineOptions, HostFacts};
use crate::progress::Progress;
use crate::ssh::{SshSession, sh_quote};

const PROVISION_SH: &str = include_str!("scripts/provision.sh");
const DEPROVISION_SH: &str = include_str!("scripts/deprovision.sh");

/// Runs stdin as a script as root: directly for root, through `sudo -n` otherwise.
const AS_ROOT: &str =
    r#"sh -c 'if [ "$(id -u)" -eq 0 ]; then exec sh -s; else exec sudo -n sh -s; fi'"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Install Docker if missing, then configure (create, provision).
    Full,
    /// Docker must already be there: replace certificates and configuration (regenerate-certs).
    CertsOnly,
}

pub struct TlsFiles<'a> {
    pub ca_pem: &'a str,
    pub server_pem: &'a str,
    pub server_key_pem: &'a str,
}

pub struct ProvisionSpec<'a> {
    pub machine: &'a str,
    pub driver_name: &'a str,
    pub engine: &'a EngineOptions,
    pub engine_port: u16,
    pub tls: TlsFiles<'a>,
    pub ca_fingerprint: &'a str,
    pub mode: Mode,
    /// `set -x` in the script: its trace comes back on stderr (--debug).
    pub trace: bool,
}

fn b64_lines(pem: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
    encoded
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fills `@@NAME@@` placeholders in one pass over the template: a value is never scanned
/// again, so a user's value that contains `@@CA_PEM@@` (an engine option, a path) stays text.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 4096);
    let mut rest = template;
    while let Some(start) = rest.find("@@") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let filled = after.find("@@").and_then(|end| {
            let key = &after[..end];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (v, end))
        });
        match filled {
            Some((v, end)) => {
                out.push_str(v);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("@@");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The provisioning script. With `redact`, the key material is replaced by a placeholder
/// (what --debug prints).
pub fn render(spec: &ProvisionSpec, redact: bool) -> Result<String> {
    daemon_config::validate(spec.engine)?;
    let args = daemon_config::dockerd_args(spec.engine, spec.driver_name, spec.engine_port);
    // OpenRC cannot carry quoted words; only refuse such options when the host turns out to use
    // OpenRC, so systemd hosts keep full expressiveness.
    let openrc_args = daemon_config::openrc_opts(&args).unwrap_or_default();
    let openrc_env = spec
        .engine
        .env
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            format!("export {k}={}", sh_quote(v))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let live_restore =
        spec.engine.live_restore && !daemon_config::user_sets_live_restore(spec.engine);
    let secret = |pem: &str| {
        if redact {
            "<redacted>".to_string()
        } else {
            b64_lines(pem)
        }
    };
    Ok(fill(
        PROVISION_SH,
        &[
            (
                "TRACE",
                if spec.trace {
                    "set -x".into()
                } else {
                    String::new()
                },
            ),
            ("MACHINE", sh_quote(spec.machine)),
            (
                "MODE",
                if spec.mode == Mode::Full {
                    "full".into()
                } else {
                    "certs".into()
                },
            ),
            ("INSTALL_URL", sh_quote(&spec.engine.install_url)),
            ("STORAGE", sh_quote(&spec.engine.storage_driver)),
            (
                "LIVE_RESTORE",
                if live_restore { "1".into() } else { "0".into() },
            ),
            ("CA_FP", sh_quote(spec.ca_fingerprint)),
            (
                "SYSTEMD_ARGS",
                sh_quote(&daemon_config::systemd_exec_args(&args)),
            ),
            (
                "SYSTEMD_ENV",
                sh_quote(&daemon_config::systemd_environment(&spec.engine.env)),
            ),
            ("OPENRC_ARGS", sh_quote(&openrc_args)),
            ("OPENRC_ENV", sh_quote(&openrc_env)),
            ("CA_PEM", b64_lines(spec.tls.ca_pem)),
            ("SERVER_PEM", b64_lines(spec.tls.server_pem)),
            ("SERVER_KEY", secret(spec.tls.server_key_pem)),
        ],
    ))
}

pub fn render_deprovision(machine: &str, ca_fingerprint: &str, trace: bool) -> String {
    fill(
        DEPROVISION_SH,
        &[
            (
                "TRACE",
                if trace {
                    "set -x".into()
                } else {
                    String::new()
                },
            ),
            ("MACHINE", sh_quote(machine)),
            ("CA_FP", sh_quote(ca_fingerprint)),
        ],
    )
}

/// What a script reported.
#[derive(Debug, Default)]
pub struct ScriptReport {
    pub facts: BTreeMap<String, String>,
}

impl ScriptReport {
    pub fn host_facts(&self, ca_fingerprint: &str) -> HostFacts {
        let f = |k: &str| self.facts.get(k).cloned().unwrap_or_default();
        HostFacts {
            os: f("os"),
            os_id: f("os_id"),
            init: f("init"),
            dockerd: f("dockerd"),
            installed_docker: self.facts.contains_key("installed_docker"),
            storage_driver: f("storage"),
            docker_version: String::new(),
            ca_fingerprint: ca_fingerprint.to_string(),
        }
    }
}

fn step_title(step: &str) -> String {
    match step {
        "detect" => "Detecting the operating system".into(),
        "install" => "Installing Docker".into(),
        "tls" => "Installing TLS certificates".into(),
        "configure" => "Configuring the Docker daemon".into(),
        "restart" => "Restarting the Docker daemon".into(),
        "deconfigure" => "Removing Berth's Docker configuration".into(),
        other => other.to_string(),
    }
}

fn script_error(code: &str, text: &str, host: &str) -> Error {
    let e = Error::provision(format!("{host}: {text}"));
    match code {
        "install-failed" | "no-package" => e.with_hint(
            "install Docker on the host yourself, or pass --engine-install-url with an install script the host can download (for example https://get.docker.com)",
        ),
        "docker-missing" => e.with_hint("run `berth provision NAME` to install Docker again"),
        "no-init" => e.with_hint("Berth configures dockerd through systemd or OpenRC"),
        "no-unit" => e.with_hint("install Docker with its systemd unit (the distribution package or get.docker.com)"),
        "dockerd-failed" => e.with_hint("check the --engine-* options; the host keeps its previous Docker configuration"),
        _ => e.with_hint("check free disk space and permissions on the host"),
    }
}

/// Runs a rendered script as root over the session and parses its report. Steps go to
/// `progress`; stderr (the script's trace with --debug) to its debug log.
pub async fn run_script(
    session: &SshSession,
    script: &str,
    progress: &dyn Progress,
) -> Result<ScriptReport> {
    let host = session.target().host.clone();
    let mut report = ScriptReport::default();
    let mut error: Option<(String, String)> = None;
    let mut done = false;
    let mut stderr_tail: Vec<String> = vec![];
    let mut out_buf = Vec::new();
    let mut err_buf = Vec::new();
    let mut on_line = |line: &str, is_err: bool| {
        if is_err {
            progress.debug(format!("({host}) {line}"));
            stderr_tail.push(line.to_string());
            if stderr_tail.len() > 8 {
                stderr_tail.remove(0);
            }
            return;
        }
        let Some(msg) = line.strip_prefix("@@berth ") else {
            progress.debug(format!("({host}) {line}"));
            return;
        };
        let (word, rest) = msg.split_once(' ').unwrap_or((msg, ""));
        match word {
            "step" => progress.step(rest, step_title(rest)),
            "fact" => {
                if let Some((k, v)) = rest.split_once('=') {
                    report.facts.insert(k.to_string(), v.to_string());
                }
            }
            "error" => {
                let (code, text) = rest.split_once(' ').unwrap_or((rest, ""));
                error = Some((code.to_string(), text.trim().to_string()));
            }
            "done" => done = true,
            _ => progress.debug(format!("({host}) {line}")),
        }
    };
    let (status, signal) = session
        .run(AS_ROOT, Some(script.as_bytes()), &mut |chunk, is_err| {
            let buf = if is_err { &mut err_buf } else { &mut out_buf };
            buf.extend_from_slice(chunk);
            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                on_line(
                    String::from_utf8_lossy(&line[..line.len() - 1]).trim_end_matches('\r'),
                    is_err,
                );
            }
        })
        .await?;
    for (buf, is_err) in [(out_buf, false), (err_buf, true)] {
        if !buf.is_empty() {
            on_line(&String::from_utf8_lossy(&buf), is_err);
        }
    }
    if let Some((code, text)) = error {
        return Err(script_error(&code, &text, &host));
    }
    if status == Some(0) && done {
        return Ok(report);
    }
    let user = &session.target().user;
    let tail = stderr_tail.join(" ").trim().to_string();
    if tail.contains("a password is required") || tail.contains("a terminal is required") {
        return Err(Error::provision(format!("{user}@{host} cannot use sudo without a password")).with_hint(format!(
            "allow passwordless sudo for {user} (a line \"{user} ALL=(ALL) NOPASSWD:ALL\" in /etc/sudoers.d/berth), or log in as root"
        )));
    }
    if tail.contains("sudo: not found") || tail.contains("sudo: command not found") {
        return Err(Error::provision(format!(
            "{user}@{host} is not root and sudo is not installed"
        ))
        .with_hint("install sudo on the host, or log in as root"));
    }
    let how = match (status, signal) {
        (_, Some(sig)) => format!("was killed by signal {sig}"),
        (Some(code), None) => format!("exited with status {code}"),
        (None, None) => "ended without an exit status".to_string(),
    };
    Err(Error::new(
        ErrorKind::Provision,
        format!(
            "the provisioning script on {host} {how}{}",
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        ),
    )
    .with_hint("run again with --debug to see every command"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(engine: &'a EngineOptions, mode: Mode) -> ProvisionSpec<'a> {
        ProvisionSpec {
            machine: "dev",
            driver_name: "generic",
            engine,
            engine_port: 2376,
            tls: TlsFiles {
                ca_pem: "CA PEM",
                server_pem: "SERVER PEM",
                server_key_pem: "SECRET KEY PEM",
            },
            ca_fingerprint: "sha256:abc",
            mode,
            trace: false,
        }
    }

    #[test]
    fn script_has_no_placeholders_and_is_valid_sh() {
        let e = EngineOptions {
            env: vec!["HTTP_PROXY=http://p:3128".into(), "X=a b".into()],
            ..Default::default()
        };
        let s = render(&spec(&e, Mode::Full), false).unwrap();
        assert!(
            !s.contains("@@") || s.matches("@@").count() == s.matches("@@berth").count(),
            "unfilled placeholder"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.sh");
        std::fs::write(&p, &s).unwrap();
        let st = std::process::Command::new("sh")
            .arg("-n")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        assert!(s.contains(&b64_lines("SECRET KEY PEM")));
        assert!(s.contains("Environment=HTTP_PROXY=http://p:3128 \"X=a b\""));
    }

    #[test]
    fn placeholders_inside_values_stay_text() {
        let e = EngineOptions {
            env: vec!["X=@@SERVER_KEY@@".into()],
            labels: vec!["a=@@CA_PEM@@".into()],
            ..Default::default()
        };
        let s = render(&spec(&e, Mode::Full), false).unwrap();
        assert!(s.contains("X=@@SERVER_KEY@@"), "{s}");
        assert!(s.contains("a=@@CA_PEM@@"), "{s}");
        // The key appears once: where the script puts it, not inside the user's values.
        assert_eq!(s.matches(&b64_lines("SECRET KEY PEM")).count(), 1);
        assert_eq!(
            fill(
                "@@A@@ @@B@@ @@ x@@",
                &[("A", "@@B@@".into()), ("B", "b".into())]
            ),
            "@@B@@ b @@ x@@"
        );
    }

    #[test]
    fn redacted_script_hides_the_key_only() {
        let e = EngineOptions::default();
        let s = render(&spec(&e, Mode::CertsOnly), true).unwrap();
        assert!(!s.contains(&b64_lines("SECRET KEY PEM")));
        assert!(s.contains(&b64_lines("SERVER PEM")));
        assert!(s.contains("MODE=certs"));
    }

    #[test]
    fn invalid_engine_options_never_render() {
        let e = EngineOptions {
            labels: vec!["oops".into()],
            ..Default::default()
        };
        assert_eq!(
            render(&spec(&e, Mode::Full), false).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }

    #[cfg(unix)]
    /// Runs `script` with sh as an unprivileged user (root here drops to nobody first, so a
    /// script that did run could not touch this machine); returns its stdout.
    fn run_unprivileged(script: &str) -> String {
        use std::io::Write;
        let root = unsafe { libc::geteuid() } == 0;
        let mut cmd = if root {
            let mut c = std::process::Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                "/bin/sh",
                "-s",
            ]);
            c
        } else {
            let mut c = std::process::Command::new("/bin/sh");
            c.arg("-s");
            c
        };
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sh");
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes());
        let out = child.wait_with_output().expect("sh output");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A script cut short in transit (the connection dropped while it was sent) must not run
    /// at all: no half of it may reach the host's shell.
    #[cfg(unix)]
    #[test]
    fn a_script_cut_short_runs_nothing() {
        let e = EngineOptions::default();
        let full = render(&spec(&e, Mode::Full), false).unwrap();
        let deprov = render_deprovision("dev", "sha256:x", false);
        for script in [&full, &deprov] {
            // The whole script does run (as nobody it fails early, but it says so).
            assert!(run_unprivileged(script).contains("@@berth"), "{script}");
            let len = script.len();
            let mut cuts: Vec<usize> = (1..40).map(|i| len * i / 40).collect();
            cuts.extend(script.match_indices('\n').map(|(i, _)| i).take(25));
            // Up to the last line, `berth_main` itself: cut inside it, nothing is called.
            cuts.extend(len.saturating_sub(12)..len - 1);
            for cut in cuts {
                if !script.is_char_boundary(cut) {
                    continue;
                }
                let out = run_unprivileged(&script[..cut]);
                assert!(
                    !out.contains("@@berth"),
                    "a script cut at byte {cut} of {len} ran: {out}"
                );
            }
        }
    }

    #[test]
    fn deprovision_is_valid_sh() {
        let s = render_deprovision("it's", "sha256:x", true);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.sh");
        std::fs::write(&p, &s).unwrap();
        assert!(
            std::process::Command::new("sh")
                .arg("-n")
                .arg(&p)
                .status()
                .unwrap()
                .success()
        );
        assert!(s.contains(r"MACHINE='it'\''s'"));
    }
}
