//! The commands the UI invokes. Each is a thin call into `berth_core::ops`; long operations
//! report progress as `job-progress` events and their end as `job-done`.

use std::sync::Arc;

use berth_core::Error;
use berth_core::ops::ProgressRef;
use berth_core::progress::{Event, Progress};
use serde::Serialize;
use tauri::{AppHandle, Emitter};

pub mod accounts;
pub mod containers;
pub mod create;
pub mod machines;
pub mod settings;

/// Errors as the UI shows them: what happened, and what to do.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct UiError {
    pub kind: berth_core::ErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        UiError {
            kind: e.kind(),
            message: e.message().to_string(),
            hint: e.hint().map(str::to_string),
        }
    }
}

pub(crate) type Res<T> = Result<T, UiError>;

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JobProgress {
    job: String,
    event: Event,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JobDone {
    pub job: String,
    pub ok: bool,
    pub message: String,
    pub hint: Option<String>,
}

/// Progress of one job, forwarded to the window.
pub struct Forward {
    pub app: AppHandle,
    pub job: String,
}

impl Forward {
    /// A progress sink that forwards a job's steps to the window as `job-progress` events.
    pub fn sink(app: &AppHandle, job: impl Into<String>) -> ProgressRef {
        Arc::new(Forward {
            app: app.clone(),
            job: job.into(),
        })
    }
}

impl Progress for Forward {
    fn emit(&self, event: Event) {
        let _ = self.app.emit(
            "job-progress",
            JobProgress {
                job: self.job.clone(),
                event,
            },
        );
    }
}
