//! The docker client's view of a machine: env variables, `config` flags, the active host.
//! These run with no network access in the common case (≈ 2 ms); only a certificate that no
//! longer fits the machine's address triggers a repair over SSH.

use crate::certs;
use crate::contexts;
use crate::error::{Error, Result};
use crate::settings::{Settings, SwitchMode};
use crate::shellenv::{self, ActiveFiles};

use super::{Berth, ProgressRef};

impl Berth {
    /// Checks the server certificate locally and, if the machine's address moved or the
    /// certificate is about to expire, issues and installs a new one (dockerd restarts with
    /// live-restore: containers keep running).
    pub async fn ensure_certs(&self, name: &str, progress: &ProgressRef) -> Result<()> {
        let (_, d) = self.load_ready(name)?;
        let dir = self.store.machine_dir(name);
        if certs::check_client_copy(&dir).is_some() {
            let _lock = self.lock(name).await?;
            self.repair_client_copy(name, progress)?;
        }
        if !d.features().provisions {
            return Ok(());
        }
        if let Some(problem) = certs::check_server_cert(&dir, &d.address()?) {
            progress.warn(format!("{}: issuing a new one", problem.describe(name)));
            self.regenerate_certs(name, false, progress).await?;
        }
        Ok(())
    }

    /// The machine's copy of the client certificate (what `DOCKER_CERT_PATH` and its docker
    /// context hold) is checked like `server.pem`: unreadable, not its key's, not issued by
    /// the machine's CA, or expiring within 30 days → the store's (renewed) one is copied
    /// again. The caller holds the machine's lock.
    pub(crate) fn repair_client_copy(&self, name: &str, progress: &ProgressRef) -> Result<()> {
        let dir = self.store.machine_dir(name);
        // A machine without any certificate set gets a whole one from provisioning.
        if !dir.join("ca.pem").exists() {
            return Ok(());
        }
        let Some(problem) = certs::check_client_copy(&dir) else {
            return Ok(());
        };
        if !certs::recopy_client(&self.store, name)? {
            return Err(Error::store(format!(
                "the client certificate of \"{name}\" cannot be used: {problem}"
            ))
            .with_hint(format!(
                "the machine trusts another CA than the store's now: run `berth regenerate-certs {name}`"
            )));
        }
        progress.warn(format!(
            "the client certificate of \"{name}\" could not be used ({problem}): copied the store's again"
        ));
        self.refresh_context(name, progress);
        Ok(())
    }

    /// What the app's "Open terminal" (the machine's env set) and "SSH" (`berth ssh NAME` with
    /// the CLI at `cli`) actions launch. The name is checked first: it ends up on a command line.
    pub async fn terminal_launch(
        &self,
        name: &str,
        ssh: bool,
        cli: Option<&std::path::Path>,
        progress: &ProgressRef,
    ) -> Result<crate::terminal::Launch> {
        crate::names::validate_machine_name(name)?;
        let (mut env, command) = if ssh {
            self.ssh_endpoint(name)?;
            let cli = cli.ok_or_else(|| {
                Error::invalid("the berth command was not found")
                    .with_hint("install the berth CLI next to the app or on PATH")
            })?;
            (
                vec![],
                vec![cli.display().to_string(), "ssh".into(), name.to_string()],
            )
        } else {
            (self.env_vars(name, false, progress).await?, vec![])
        };
        env.push((
            "BERTH_STORAGE_PATH".into(),
            self.store.root().display().to_string(),
        ));
        crate::terminal::launch_for(env, command)
    }

    /// A terminal running a shell in container `id` of the machine (`docker exec -it`, with the
    /// machine's environment set; bash where the image has it, else sh).
    pub async fn container_shell_launch(
        &self,
        name: &str,
        id: &str,
        progress: &ProgressRef,
    ) -> Result<crate::terminal::Launch> {
        crate::containers::check_reference(id)?;
        let env = if name == super::containers::LOCAL_DOCKER {
            // Whatever machine the user's shells point at: this computer's Docker.
            vec![
                ("DOCKER_HOST".into(), crate::engine::Endpoint::local().url()),
                ("DOCKER_TLS_VERIFY".into(), String::new()),
                ("DOCKER_CERT_PATH".into(), String::new()),
            ]
        } else {
            crate::names::validate_machine_name(name)?;
            self.env_vars(name, false, progress).await?
        };
        crate::terminal::launch_for(env, container_shell_command(id))
    }

    /// Rewrites the machine's docker context, if it has one, so its copies of the TLS files
    /// follow the machine's.
    pub(crate) fn refresh_context(&self, name: &str, progress: &ProgressRef) {
        if let Some(d) = contexts::docker_config_dir()
            && contexts::exists(&d, name)
            && let Err(e) = self.sync_context(name, true)
        {
            progress.warn(format!("could not update the docker context: {e}"));
        }
    }

    /// The variables `env` prints, in docker-machine's order.
    pub async fn env_vars(
        &self,
        name: &str,
        no_proxy: bool,
        progress: &ProgressRef,
    ) -> Result<Vec<(String, String)>> {
        self.ensure_certs(name, progress).await?;
        let (_, d) = self.load_ready(name)?;
        let mut vars = shellenv::docker_env(&d.engine_url()?, &self.store.machine_dir(name), name);
        if no_proxy {
            vars.push(shellenv::no_proxy_var(&d.address()?));
        }
        shellenv::check_values(&vars)?;
        Ok(vars)
    }

    /// `config`: the docker CLI flags for this machine, one per line.
    pub async fn config_flags(&self, name: &str, progress: &ProgressRef) -> Result<String> {
        self.ensure_certs(name, progress).await?;
        let (_, d) = self.load_ready(name)?;
        let dir = self.store.machine_dir(name);
        let q = |f: &str| go_quote(&dir.join(f).display().to_string());
        Ok(format!(
            "--tlsverify\n--tlscacert={}\n--tlscert={}\n--tlskey={}\n-H={}\n",
            q("ca.pem"),
            q("cert.pem"),
            q("key.pem"),
            d.engine_url()?
        ))
    }

    /// Makes `name` the active host (`None`: the local Docker). In env mode the files in
    /// `<store>/active/` (what shell profiles source) carry DOCKER_HOST & co.; in context mode
    /// the docker CLI's current context switches and the files clear DOCKER_HOST so it applies
    /// in every terminal, open ones included.
    pub async fn use_machine(&self, name: Option<&str>, progress: &ProgressRef) -> Result<()> {
        let settings = Settings::load(&self.store);
        let active = ActiveFiles::in_store(self.store.root());
        let docker_dir = contexts::docker_config_dir();
        match name {
            None => {
                active.write(None, &[])?;
                if settings.switch_mode == SwitchMode::Context
                    && let Some(d) = &docker_dir
                    && contexts::current(d).is_some_and(|c| c.starts_with(contexts::PREFIX))
                {
                    contexts::set_current(d, None)?;
                }
                Ok(())
            }
            Some(n) => {
                let vars = self.env_vars(n, false, progress).await?;
                match settings.switch_mode {
                    SwitchMode::Env => active.write(Some(n), &vars),
                    SwitchMode::Context => {
                        let d = docker_dir.ok_or_else(|| {
                            Error::invalid("cannot find the docker CLI's configuration directory")
                                .with_hint("set DOCKER_CONFIG")
                        })?;
                        let context = self
                            .sync_context(n, true)?
                            .unwrap_or_else(|| contexts::context_name(n));
                        contexts::set_current(&d, Some(&context))?;
                        active.write(Some(n), &[])
                    }
                }
            }
        }
    }

    /// Writes the machine's docker context when contexts are on (or `force`d).
    pub fn sync_context(&self, name: &str, force: bool) -> Result<Option<String>> {
        if !(force || Settings::load(&self.store).docker_contexts) {
            return Ok(None);
        }
        let Some(dir) = contexts::docker_config_dir() else {
            return Ok(None);
        };
        let (_, d) = self.load_ready(name)?;
        contexts::write(&dir, name, &d.engine_url()?, &self.store.machine_dir(name)).map(Some)
    }

    /// The active host: the machine whose URL is `$DOCKER_HOST` (docker-machine's rule), or
    /// when DOCKER_HOST is unset, the one chosen with `berth use`.
    pub fn active(&self) -> Result<String> {
        match std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
            Some(host) => {
                for name in self.store.names()? {
                    if self.url(&name).is_ok_and(|u| u == host) {
                        return Ok(name);
                    }
                }
                Err(Error::not_found(format!(
                    "No active host found (DOCKER_HOST={host} is not a Berth machine)"
                )))
            }
            None => ActiveFiles::in_store(self.store.root())
                .current()
                .filter(|n| self.store.exists(n))
                .ok_or_else(|| {
                    Error::not_found("No active host found")
                        .with_hint("choose one with `berth use NAME`")
                }),
        }
    }
}

/// Go's %q for paths (docker-machine printed config paths that way).
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `docker exec -it ID sh -c '…'`: bash when the image has it, else sh.
pub fn container_shell_command(id: &str) -> Vec<String> {
    [
        "docker",
        "exec",
        "-it",
        id,
        "sh",
        "-c",
        "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi",
    ]
    .map(String::from)
    .to_vec()
}

#[cfg(test)]
mod tests {
    /// The app's "SSH" action puts the name on a command line: it is checked first.
    #[tokio::test]
    async fn terminal_launch_refuses_a_name_that_is_not_a_machine_name() {
        let dir = tempfile::tempdir().unwrap();
        let berth = super::Berth::new(crate::Store::at(dir.path()));
        let quiet: super::ProgressRef = std::sync::Arc::new(crate::progress::Silent);
        for name in ["-oProxyCommand=id", "a;b", "../x", "dev\n"] {
            let e = berth
                .terminal_launch(name, true, Some(std::path::Path::new("/bin/berth")), &quiet)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{name}: {e}");
        }
        let e = berth
            .terminal_launch(
                "nosuch",
                true,
                Some(std::path::Path::new("/bin/berth")),
                &quiet,
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
    }

    #[test]
    fn go_quoting() {
        assert_eq!(
            super::go_quote("C:\\Users\\a b\\\"x\""),
            "\"C:\\\\Users\\\\a b\\\\\\\"x\\\"\""
        );
        assert_eq!(super::go_quote("/home/u/.berth"), "\"/home/u/.berth\"");
    }
}
