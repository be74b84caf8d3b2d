//! QMP, QEMU's JSON control protocol, over the VM's unix socket: its run state, an ACPI power
//! button press (a clean shutdown), and quit (pulling the plug).

#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
#[cfg(unix)]
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
#[cfg(unix)]
use tokio::net::UnixStream;

use crate::error::{Error, ErrorKind, Result};

/// QMP needs a Unix socket; Windows hosts would use a named pipe (not in this version).
#[cfg(not(unix))]
pub struct Qmp;

#[cfg(not(unix))]
impl Qmp {
    pub async fn connect(_: &Path, _: Duration) -> Result<Qmp> {
        Err(Error::driver(
            "controlling QEMU on Windows is not in this version of Berth",
        ))
    }
    pub async fn status(&mut self, _: Duration) -> Result<String> {
        Err(qmp_error("status", "unsupported"))
    }
    pub async fn powerdown(&mut self, _: Duration) -> Result<()> {
        Err(qmp_error("powerdown", "unsupported"))
    }
    pub async fn quit(&mut self, _: Duration) -> Result<()> {
        Err(qmp_error("quit", "unsupported"))
    }
}

#[cfg(unix)]
pub struct Qmp {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

fn qmp_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Driver, format!("QMP {what}: {e}"))
}

#[cfg(unix)]
impl Qmp {
    /// Connects and leaves capabilities negotiation mode.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<Qmp> {
        let stream = tokio::time::timeout(timeout, UnixStream::connect(socket))
            .await
            .map_err(|_| Error::timeout("the VM's QMP socket did not answer"))?
            .map_err(|e| qmp_error(&format!("connect {}", socket.display()), e))?;
        let (r, w) = stream.into_split();
        let mut q = Qmp {
            reader: BufReader::new(r),
            writer: w,
        };
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
            .map_err(|e| qmp_error("read", e))?;
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
            .map_err(|e| qmp_error("write", e))?;
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
