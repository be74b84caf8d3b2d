//! Progress of long operations. The core emits events; the CLI renders them as progress lines,
//! the GUI as a step list with a live log.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Event {
    /// A new step starts; the previous one is finished.
    Step {
        id: String,
        title: String,
    },
    /// A line worth showing to the user.
    Log {
        line: String,
    },
    /// A line shown only with --debug (remote commands, script traces).
    Debug {
        line: String,
    },
    Warn {
        line: String,
    },
}

pub trait Progress: Send + Sync {
    fn emit(&self, event: Event);
}

impl dyn Progress + '_ {
    pub fn step(&self, id: &str, title: impl Into<String>) {
        self.emit(Event::Step {
            id: id.to_string(),
            title: title.into(),
        });
    }
    pub fn log(&self, line: impl Into<String>) {
        self.emit(Event::Log { line: line.into() });
    }
    pub fn debug(&self, line: impl Into<String>) {
        self.emit(Event::Debug { line: line.into() });
    }
    pub fn warn(&self, line: impl Into<String>) {
        self.emit(Event::Warn { line: line.into() });
    }
}

/// Discards everything.
pub struct Silent;

impl Progress for Silent {
    fn emit(&self, _: Event) {}
}

/// Keeps every event (tests, and the GUI's log of a finished operation).
#[derive(Default)]
pub struct Recorder(pub std::sync::Mutex<Vec<Event>>);

impl Progress for Recorder {
    fn emit(&self, event: Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event);
        }
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Passes every event on, and appends steps, log lines and warnings, time-stamped, to a file:
/// the create log the machine page shows later. Debug lines stay out (they carry command lines).
pub struct LoggedTo {
    inner: std::sync::Arc<dyn Progress>,
    file: std::sync::Mutex<Option<std::fs::File>>,
}

impl LoggedTo {
    /// Appends to `path`; without a writable file the events still pass on.
    pub fn new(inner: std::sync::Arc<dyn Progress>, path: &std::path::Path) -> LoggedTo {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok();
        LoggedTo {
            inner,
            file: std::sync::Mutex::new(file),
        }
    }
}

impl Progress for LoggedTo {
    fn emit(&self, event: Event) {
        let line = match &event {
            Event::Step { title, .. } => Some(format!("== {title}")),
            Event::Log { line } => Some(line.clone()),
            Event::Warn { line } => Some(format!("warning: {line}")),
            Event::Debug { .. } => None,
        };
        if let (Some(line), Ok(mut file)) = (line, self.file.lock())
            && let Some(f) = file.as_mut()
        {
            use std::io::Write;
            let now = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            // A full disk must not fail the operation it records.
            let _ = writeln!(f, "{now} {line}");
        }
        self.inner.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_gets_steps_logs_and_warnings_but_not_debug_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("create.log");
        let rec = std::sync::Arc::new(Recorder::default());
        let p: std::sync::Arc<dyn Progress> =
            std::sync::Arc::new(LoggedTo::new(rec.clone(), &path));
        p.step("ssh", "Waiting for SSH");
        p.log("Docker 20.10 installed");
        p.debug("ssh: sudo secret-command");
        p.warn("slow disk");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(" == Waiting for SSH\n"), "{text}");
        assert!(text.contains(" Docker 20.10 installed\n"));
        assert!(text.contains(" warning: slow disk\n"));
        assert!(!text.contains("secret-command"));
        assert_eq!(rec.events().len(), 4, "every event passes on");
    }
}
