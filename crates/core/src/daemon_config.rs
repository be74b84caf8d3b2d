//! dockerd's command line from a machine's engine options: validated here, with clear errors,
//! before anything touches the host, and rendered for a systemd unit (exact quoting) and for
//! OpenRC's conf.d (plain words).

use crate::error::{Error, Result};
use crate::machine::EngineOptions;

/// Where provisioning puts the TLS files on the host.
pub const REMOTE_TLS_DIR: &str = "/etc/docker/berth";

fn is_flag_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn no_control(what: &str, v: &str) -> Result<()> {
    if v.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(format!(
            "{what} \"{}\" contains control characters",
            v.escape_default()
        )));
    }
    Ok(())
}

/// Checks every engine option; the first problem is reported with the flag that caused it.
pub fn validate(e: &EngineOptions) -> Result<()> {
    for l in &e.labels {
        no_control("--engine-label", l)?;
        let Some((k, _)) = l.split_once('=') else {
            return Err(Error::invalid(format!(
                "--engine-label \"{l}\" is not key=value"
            )));
        };
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(Error::invalid(format!(
                "--engine-label \"{l}\" has an invalid key"
            )));
        }
    }
    for v in &e.env {
        no_control("--engine-env", v)?;
        match v.split_once('=') {
            Some((k, _)) if is_env_name(k) => {}
            _ => return Err(Error::invalid(format!("--engine-env \"{v}\" is not NAME=value"))
                .with_hint("names are letters, digits and _; for example --engine-env HTTP_PROXY=http://proxy:3128")),
        }
    }
    for o in &e.arbitrary_flags {
        no_control("--engine-opt", o)?;
        let name = o.trim_start_matches('-').split('=').next().unwrap_or("");
        if !is_flag_name(name) {
            return Err(
                Error::invalid(format!("--engine-opt \"{o}\" is not flag or flag=value"))
                    .with_hint("for example --engine-opt dns=8.8.8.8 or --engine-opt debug"),
            );
        }
    }
    for r in e.insecure_registry.iter().chain(&e.registry_mirror) {
        no_control("registry", r)?;
        if r.is_empty() || r.contains(char::is_whitespace) {
            return Err(Error::invalid(format!(
                "registry \"{r}\" is not a host[:port], CIDR or URL"
            )));
        }
    }
    for m in &e.registry_mirror {
        if !(m.starts_with("http://") || m.starts_with("https://")) {
            return Err(Error::invalid(format!(
                "--engine-registry-mirror \"{m}\" must be an http:// or https:// URL"
            )));
        }
    }
    if !e.storage_driver.is_empty() && !is_flag_name(&e.storage_driver) {
        return Err(Error::invalid(format!(
            "--engine-storage-driver \"{}\" is not a storage driver name",
            e.storage_driver
        )));
    }
    if !e.install_url.is_empty() {
        no_control("--engine-install-url", &e.install_url)?;
        if !(e.install_url.starts_with("http://") || e.install_url.starts_with("https://"))
            || e.install_url.contains(char::is_whitespace)
        {
            return Err(Error::invalid(format!(
                "--engine-install-url \"{}\" must be an http:// or https:// URL",
                e.install_url
            )));
        }
    }
    Ok(())
}

/// The dockerd arguments Berth manages, without the binary path. Provisioning appends what
/// only the host knows: `--containerd=…` when a system containerd runs, the storage driver
/// already in use, `--live-restore` unless swarm mode is active.
pub fn dockerd_args(e: &EngineOptions, driver_name: &str, port: u16) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-H".into(),
        "unix:///var/run/docker.sock".into(),
        "-H".into(),
        format!("tcp://0.0.0.0:{port}"),
        "--tlsverify".into(),
        "--tlscacert".into(),
        format!("{REMOTE_TLS_DIR}/ca.pem"),
        "--tlscert".into(),
        format!("{REMOTE_TLS_DIR}/server.pem"),
        "--tlskey".into(),
        format!("{REMOTE_TLS_DIR}/server-key.pem"),
    ];
    if !e.storage_driver.is_empty() {
        a.push("--storage-driver".into());
        a.push(e.storage_driver.clone());
    }
    for l in &e.labels {
        a.push("--label".into());
        a.push(l.clone());
    }
    a.push("--label".into());
    a.push(format!("provider={driver_name}"));
    for r in &e.insecure_registry {
        a.push("--insecure-registry".into());
        a.push(r.clone());
    }
    for m in &e.registry_mirror {
        a.push("--registry-mirror".into());
        a.push(m.clone());
    }
    for o in &e.arbitrary_flags {
        a.push(format!("--{}", o.trim_start_matches('-')));
    }
    a
}

/// Whether the user's own flags already decide live-restore.
pub fn user_sets_live_restore(e: &EngineOptions) -> bool {
    e.arbitrary_flags
        .iter()
        .any(|o| o.trim_start_matches('-').starts_with("live-restore"))
}

/// Quotes one word for a systemd unit (systemd.syntax(7) "Quoting"): a double-quoted word with
/// C escapes for `\` and `"`, and `%` doubled because specifiers are expanded in every setting.
/// `dollar` is what a `$` becomes: the settings differ there.
fn systemd_word(word: &str, dollar: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c));
    if plain {
        return word.to_string();
    }
    let mut s = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '$' => s.push_str(dollar),
            '%' => s.push_str("%%"),
            _ => s.push(c),
        }
    }
    s.push('"');
    s
}

/// One ExecStart= argument. systemd expands `$VAR`/`${VAR}` when it runs the command and turns
/// `$$` into `$` (systemd.service(5) "Command lines"), so `$` is doubled.
pub fn systemd_exec_quote(word: &str) -> String {
    systemd_word(word, "$$")
}

/// One Environment= assignment. systemd does no variable expansion there and `$` has no special
/// meaning (systemd.exec(5)): a doubled `$` would reach the process as `$$`.
pub fn systemd_env_quote(word: &str) -> String {
    systemd_word(word, "$")
}

/// dockerd's arguments for ExecStart=, each one a single word.
pub fn systemd_exec_args(args: &[String]) -> String {
    args.iter()
        .map(|a| systemd_exec_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Environment=` line for a drop-in, or an empty string when there is nothing to set.
pub fn systemd_environment(env: &[String]) -> String {
    if env.is_empty() {
        return String::new();
    }
    format!(
        "Environment={}",
        env.iter()
            .map(|v| systemd_env_quote(v))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// OpenRC's init script word-splits DOCKER_OPTS, so arguments must be plain words.
pub fn openrc_opts(args: &[String]) -> Result<String> {
    for a in args {
        if a.chars()
            .any(|c| c.is_whitespace() || "\"'\\$`".contains(c))
        {
            return Err(Error::invalid(format!(
                "engine option \"{a}\" contains spaces or quotes, which OpenRC hosts cannot pass to dockerd"
            )));
        }
    }
    Ok(args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_flags_in_docker_machine_order() {
        let e = EngineOptions {
            labels: vec!["env=dev".into()],
            insecure_registry: vec!["10.0.0.5:5000".into()],
            registry_mirror: vec!["https://mirror.example".into()],
            arbitrary_flags: vec!["dns=8.8.8.8".into(), "--debug".into()],
            storage_driver: "vfs".into(),
            ..Default::default()
        };
        validate(&e).unwrap();
        let a = dockerd_args(&e, "generic", 2376).join(" ");
        assert!(
            a.starts_with("-H unix:///var/run/docker.sock -H tcp://0.0.0.0:2376 --tlsverify"),
            "{a}"
        );
        assert!(a.contains("--storage-driver vfs --label env=dev --label provider=generic --insecure-registry 10.0.0.5:5000 --registry-mirror https://mirror.example --dns=8.8.8.8 --debug"), "{a}");
    }

    #[test]
    fn rejects_bad_options() {
        let bad = [
            EngineOptions {
                labels: vec!["novalue".into()],
                ..Default::default()
            },
            EngineOptions {
                env: vec!["1X=y".into()],
                ..Default::default()
            },
            EngineOptions {
                env: vec!["NOEQ".into()],
                ..Default::default()
            },
            EngineOptions {
                arbitrary_flags: vec!["--".into()],
                ..Default::default()
            },
            EngineOptions {
                arbitrary_flags: vec!["a b=c".into()],
                ..Default::default()
            },
            EngineOptions {
                registry_mirror: vec!["mirror.example".into()],
                ..Default::default()
            },
            EngineOptions {
                storage_driver: "vfs; rm -rf /".into(),
                ..Default::default()
            },
            EngineOptions {
                install_url: "file:///etc/passwd".into(),
                ..Default::default()
            },
            EngineOptions {
                labels: vec!["a=b\nExecStart=/bin/evil".into()],
                ..Default::default()
            },
        ];
        for e in bad {
            assert!(validate(&e).is_err(), "{e:?} accepted");
        }
    }

    #[test]
    fn systemd_quoting_is_exact() {
        assert_eq!(systemd_exec_quote("--label"), "--label");
        assert_eq!(systemd_exec_quote("a b"), "\"a b\"");
        assert_eq!(systemd_exec_quote(""), "\"\"");
        assert_eq!(
            systemd_exec_quote("x=$HOME\"q\"\\%n"),
            "\"x=$$HOME\\\"q\\\"\\\\%%n\""
        );
        assert_eq!(
            systemd_env_quote("x=$HOME\"q\"\\%n"),
            "\"x=$HOME\\\"q\\\"\\\\%%n\""
        );
        assert_eq!(
            systemd_environment(&["A=1".into(), "B=two words".into()]),
            "Environment=A=1 \"B=two words\""
        );
        assert_eq!(systemd_environment(&[]), "");
    }

    #[test]
    fn environment_keeps_dollar_signs_single() {
        // systemd.exec(5): no variable expansion in Environment=, so `$$` would stay `$$`.
        assert_eq!(
            systemd_environment(&["HTTP_PROXY=http://u:pa$s@p:3128".into()]),
            "Environment=\"HTTP_PROXY=http://u:pa$s@p:3128\""
        );
        assert_eq!(systemd_env_quote("X_PCT=50%done"), "\"X_PCT=50%%done\"");
        assert_eq!(
            systemd_exec_quote("--label=cost=$5"),
            "\"--label=cost=$$5\""
        );
    }

    /// systemd's reading of one word we wrote: extract-word.c (EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE),
    /// then specifier.c (`%%`), then for ExecStart= env-util.c's replace_env_argv() (`$$`).
    /// Strict: anything systemd would expand or reject fails the test.
    fn systemd_reads(quoted: &str, exec: bool) -> String {
        let mut word = String::new();
        let (mut it, mut quote) = (quoted.chars(), None);
        while let Some(c) = it.next() {
            match (c, quote) {
                ('\\', _) => match it.next() {
                    Some(e @ ('\\' | '"')) => word.push(e),
                    e => panic!("escape {e:?} in {quoted}"),
                },
                ('"' | '\'', None) => quote = Some(c),
                (c, Some(q)) if c == q => quote = None,
                (c, None) if c.is_whitespace() => panic!("more than one word: {quoted}"),
                _ => word.push(c),
            }
        }
        assert!(quote.is_none(), "unbalanced quoting: {quoted}");
        let word = undouble(&word, '%');
        if exec { undouble(&word, '$') } else { word }
    }

    /// `%%` → `%` (or `$$` → `$`); a single one would be expanded by systemd.
    fn undouble(s: &str, special: char) -> String {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c == special {
                let next = it.next();
                assert_eq!(next, Some(special), "{special} expanded in {s}");
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn systemd_reads_back_every_word_exactly() {
        let words = [
            "--label",
            "",
            "a b",
            "HTTP_PROXY=http://u:pa$s@proxy.invalid:3128",
            "X_PCT=50%done",
            "X_QUOTE=a\"b\\c",
            "it's",
            "$HOME",
            "${HOME}",
            "$$",
            "%n%%",
            ";",
            "ünïcode=✓",
        ];
        for w in words {
            assert_eq!(systemd_reads(&systemd_exec_quote(w), true), w, "ExecStart");
            assert_eq!(
                systemd_reads(&systemd_env_quote(w), false),
                w,
                "Environment"
            );
        }
    }

    #[test]
    fn openrc_refuses_words_it_would_split() {
        assert!(openrc_opts(&["--label".into(), "a=b c".into()]).is_err());
        assert_eq!(
            openrc_opts(&["--label".into(), "a=b".into()]).unwrap(),
            "--label a=b"
        );
    }
}
