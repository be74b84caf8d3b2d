//! One error type for every operation: a kind (drives the CLI exit code and the GUI's icon),
//! a message saying what went wrong, and an optional hint saying what to do about it.

use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ErrorKind {
    /// Bad names, flags, files or values given by the user.
    InvalidInput,
    NotFound,
    AlreadyExists,
    /// The driver's pre-create check refused (docker-machine's exit code 3).
    PreCreate,
    /// A machine record or the store itself is unreadable.
    Store,
    /// Could not reach or log in to the machine over SSH.
    Ssh,
    /// The machine's SSH host key differs from the one pinned at first contact.
    HostKeyChanged,
    /// Something on the machine failed while installing or configuring Docker.
    Provision,
    /// The Docker API did not answer, or answered with an error.
    Engine,
    /// The driver cannot do this (e.g. start a generic machine) or its backend failed.
    Driver,
    Timeout,
    Busy,
    Io,
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
    /// The lower-level error this one reports (an I/O error, an HTTP failure): shown with
    /// `--debug`, never instead of the message.
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
            source: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn store(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Store, message)
    }
    pub fn ssh(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Ssh, message)
    }
    pub fn provision(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Provision, message)
    }
    pub fn engine(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Engine, message)
    }
    pub fn driver(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Driver, message)
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// Keeps an existing hint; adds this one only when there is none.
    pub fn or_hint(mut self, hint: impl Into<String>) -> Self {
        if self.hint.is_none() {
            self.hint = Some(hint.into());
        }
        self
    }
    /// Prefixes the message with what was being done, keeping kind and hint.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
    /// Keeps the lower-level error behind this one (for `--debug`).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }
    /// This error's causes, outermost first (what `--debug` prints under the message).
    pub fn causes(&self) -> Vec<String> {
        let mut out = vec![];
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            out.push(e.to_string());
            next = e.source();
        }
        out
    }
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Attaches the path and the action to an I/O error, so "No such file or directory" never
/// reaches the user without saying which file.
pub trait IoContext<T> {
    fn at(self, action: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Io,
            };
            let denied = e.kind() == std::io::ErrorKind::PermissionDenied;
            let err =
                Error::new(kind, format!("cannot {action} {}: {e}", path.display())).with_source(e);
            if denied {
                err.with_hint(format!(
                    "check the owner and permissions of {}",
                    path.display()
                ))
            } else {
                err
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_level_cause_is_kept_for_debug() {
        let e: Result<()> = Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "denied by policy",
        ))
        .at("read", Path::new("/x"));
        let e = e.unwrap_err();
        assert_eq!(e.causes(), vec!["denied by policy".to_string()]);
        assert!(e.hint().unwrap().contains("permissions"));
        assert!(Error::invalid("plain").causes().is_empty());
    }
}
