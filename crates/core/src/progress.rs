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
