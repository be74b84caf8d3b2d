//! QMP, QEMU's JSON control protocol: the VM's run state, an ACPI power button press (a clean
//! shutdown), and quit (pulling the plug). Over a Unix socket in the machine directory where
//! there is one; on Windows over 127.0.0.1 TCP, because QEMU's Windows named-pipe chardev takes
//! a single client for its lifetime and Berth connects once per status check.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::error::{Error, ErrorKind, Result};

/// Where a VM's QMP server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// A port on 127.0.0.1.
    Tcp(u16),
}

impl Endpoint {
    /// The `-qmp` argument that makes QEMU serve QMP here (clients may come and go).
    pub fn qemu_arg(&self) -> String {
        match self {
            // QEMU splits option values at commas; a comma in a path is written twice.
            Endpoint::Unix(p) => format!(
                "unix:{},server=on,wait=off",
                p.display().to_string().replace(',', ",,")
            ),
            Endpoint::Tcp(port) => format!("tcp:127.0.0.1:{port},server=on,wait=off"),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
            Endpoint::Tcp(port) => write!(f, "127.0.0.1:{port}"),
        }
    }
}

type Reader = BufReader<Box<dyn AsyncRead + Unpin + Send>>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

pub struct Qmp {
    reader: Reader,
    writer: Writer,
}

fn qmp_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Driver, format!("QMP {what}: {e}"))
}

/// A reset connection is QEMU closing it (over TCP, `quit` often ends that way).
fn io_error(what: &str, e: std::io::Error) -> Error {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
            qmp_error(what, "the socket closed")
        }
        _ => qmp_error(what, e),
    }
}

async fn open(at: &Endpoint) -> std::io::Result<(Reader, Writer)> {
    match at {
        #[cfg(unix)]
        Endpoint::Unix(p) => {
            let (r, w) = tokio::net::UnixStream::connect(p).await?.into_split();
            Ok((BufReader::new(Box::new(r)), Box::new(w)))
        }
        #[cfg(not(unix))]
        Endpoint::Unix(_) => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "Unix sockets are not available here",
        )),
        Endpoint::Tcp(port) => {
            let (r, w) = tokio::net::TcpStream::connect(("127.0.0.1", *port))
                .await?
                .into_split();
            Ok((BufReader::new(Box::new(r)), Box::new(w)))
        }
    }
}

impl Qmp {
    /// Connects and leaves capabilities negotiation mode.
    pub async fn connect(at: &Endpoint, timeout: Duration) -> Result<Qmp> {
        let (reader, writer) = tokio::time::timeout(timeout, open(at))
            .await
            .map_err(|_| Error::timeout(format!("the VM's QMP endpoint {at} did not answer")))?
            .map_err(|e| qmp_error(&format!("connect {at}"), e))?;
        let mut q = Qmp { reader, writer };
        // The greeting, then capabilities.
        q.read_message(timeout).await?;
        q.execute("qmp_capabilities", None, timeout).await?;
        Ok(q)
    }

    async fn read_message(&mut self, timeout: Duration) -> Result<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(timeout, self.reader.read_line(&mut line))
            .await
            .map_err(|_| Error::timeout("QEMU did not answer on QMP"))?
            .map_err(|e| io_error("read", e))?;
        if n == 0 {
            return Err(qmp_error("read", "the socket closed"));
        }
        serde_json::from_str(&line).map_err(|e| qmp_error("answer", e))
    }

    /// Runs a command; its `return` value (events that arrive meanwhile are skipped).
    pub async fn execute(
        &mut self,
        command: &str,
        args: Option<Value>,
        timeout: Duration,
    ) -> Result<Value> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = args {
            msg["arguments"] = a;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .await
            .map_err(|e| io_error("write", e))?;
        loop {
            let m = self.read_message(timeout).await?;
            if let Some(r) = m.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = m.get("error") {
                return Err(qmp_error(
                    command,
                    e.get("desc").and_then(Value::as_str).unwrap_or("failed"),
                ));
            }
        }
    }

    /// `running`, `paused`, `shutdown`, … (QEMU's RunState).
    pub async fn status(&mut self, timeout: Duration) -> Result<String> {
        let r = self.execute("query-status", None, timeout).await?;
        Ok(r.get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string())
    }

    /// The VM's `-name`.
    pub async fn name(&mut self, timeout: Duration) -> Result<String> {
        let r = self.execute("query-name", None, timeout).await?;
        Ok(r.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// Presses the ACPI power button: the guest shuts down cleanly.
    pub async fn powerdown(&mut self, timeout: Duration) -> Result<()> {
        self.execute("system_powerdown", None, timeout)
            .await
            .map(|_| ())
    }

    /// Stops QEMU at once (the guest gets no chance to shut down).
    pub async fn quit(&mut self, timeout: Duration) -> Result<()> {
        // QEMU may close the socket before or after answering.
        match self.execute("quit", None, timeout).await {
            Ok(_) => Ok(()),
            Err(e) if e.message().contains("closed") => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn reset(&mut self, timeout: Duration) -> Result<()> {
        self.execute("system_reset", None, timeout)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::qemu::{accel, process};
    use std::time::Instant;

    const T: Duration = Duration::from_secs(5);

    /// QEMU runs in its own session: a failed assertion must not leave it running.
    struct KillOnDrop(std::process::Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Each endpoint against a real QEMU without a guest (`-machine none`), started the way the
    /// driver starts it; TCP is what Windows uses. Skipped without QEMU (scripts/test.sh
    /// installs it).
    #[tokio::test]
    async fn qemu_serves_qmp_to_one_client_after_another_and_quits() {
        let Some(qemu) = accel::qemu_for_tests() else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::drivers::qemu::free_port().expect("a free port");
        let mut endpoints = vec![Endpoint::Tcp(port)];
        if cfg!(unix) {
            endpoints.push(Endpoint::Unix(dir.path().join("q,mp.sock")));
        }
        for at in endpoints {
            let log = dir.path().join("qemu.log");
            let mut cmd = std::process::Command::new(&qemu);
            cmd.args(["-machine", "none", "-nodefaults", "-display", "none"])
                .args(["-name", "berth-probe", "-qmp", &at.qemu_arg()]);
            let mut guard = KillOnDrop(process::spawn(cmd, &log).expect("spawn QEMU"));
            let child = &mut guard.0;
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut q = loop {
                match Qmp::connect(&at, T).await {
                    Ok(q) => break q,
                    Err(e) => {
                        let exited = child.try_wait().expect("wait").is_some();
                        if exited || Instant::now() > deadline {
                            panic!(
                                "{at}: {e}; QEMU said: {}",
                                std::fs::read_to_string(&log).unwrap_or_default()
                            );
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            };
            assert_eq!(q.name(T).await.expect("name"), "berth-probe");
            assert_eq!(q.status(T).await.expect("status"), "running");
            let err = q.execute("no-such-command", None, T).await.unwrap_err();
            assert!(err.message().contains("no-such-command"), "{err}");
            drop(q);
            // The driver connects once per check: a second client is served too.
            let mut q = Qmp::connect(&at, T).await.expect("second client");
            q.quit(T).await.expect("quit");
            let deadline = Instant::now() + T;
            while child.try_wait().expect("wait").is_none() {
                if Instant::now() > deadline {
                    panic!("{at}: QEMU did not quit");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
