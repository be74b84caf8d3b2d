//! A container's output: the last lines, all of it (for saving), or followed as it is written;
//! and the compact form the log view takes it in ([`LogBatch`]), queued between the follower and
//! the window ([`LogQueue`]) so that a flooding container never outruns the window's frames.

use std::collections::VecDeque;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{check_reference, object_error};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LogLine {
    pub stream: LogStream,
    /// RFC 3339 with nanoseconds, as Docker stamps it.
    pub time: String,
    pub text: String,
}

fn log_line(out: LogOutput) -> Option<LogLine> {
    let (stream, bytes) = match out {
        LogOutput::StdOut { message } => (LogStream::Stdout, message),
        // A TTY container's output comes as one stream: shown as standard output.
        LogOutput::Console { message } => (LogStream::Stdout, message),
        LogOutput::StdErr { message } => (LogStream::Stderr, message),
        LogOutput::StdIn { .. } => return None,
    };
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let (time, text) = text.split_once(' ').unwrap_or(("", text));
    Some(LogLine {
        stream,
        time: time.to_string(),
        text: text.strip_suffix('\r').unwrap_or(text).to_string(),
    })
}

fn logs_options(tail: Option<usize>, follow: bool, since: i64) -> LogsOptions {
    LogsOptions {
        follow,
        stdout: true,
        stderr: true,
        timestamps: true,
        since: since as i32,
        tail: tail.map(|n| n.to_string()).unwrap_or_else(|| "all".into()),
        ..Default::default()
    }
}

/// The last `tail` lines of a container's output.
pub async fn logs(docker: &Docker, id: &str, tail: usize) -> Result<Vec<LogLine>> {
    collect_logs(docker, id, Some(tail)).await
}

/// Everything a container wrote.
pub async fn all_logs(docker: &Docker, id: &str) -> Result<Vec<LogLine>> {
    collect_logs(docker, id, None).await
}

async fn collect_logs(docker: &Docker, id: &str, tail: Option<usize>) -> Result<Vec<LogLine>> {
    check_reference(id)?;
    let mut stream = docker.logs(id, Some(logs_options(tail, false, 0)));
    let mut lines = Vec::new();
    while let Some(item) = stream.next().await {
        let out = item.map_err(|e| object_error("container", id, &e))?;
        lines.extend(log_line(out));
    }
    Ok(lines)
}

/// Follows a container's output from now on (`since`: Unix seconds, 0 for now), handing each
/// line to `sink` until the container stops or `sink` returns false.
pub async fn follow_logs(
    docker: &Docker,
    id: &str,
    since: i64,
    mut sink: impl FnMut(LogLine) -> bool,
) -> Result<()> {
    check_reference(id)?;
    let since = if since > 0 {
        since
    } else {
        time::OffsetDateTime::now_utc().unix_timestamp()
    };
    let mut stream = docker.logs(id, Some(logs_options(Some(0), true, since)));
    while let Some(item) = stream.next().await {
        let out = item.map_err(|e| object_error("container", id, &e))?;
        if let Some(line) = log_line(out)
            && !sink(line)
        {
            break;
        }
    }
    Ok(())
}

/// Lines for the log view in one piece: each line as `TIME TEXT`, joined by `\n`, with where
/// each line ends (in UTF-16 units, as the window's strings count) and which lines are standard
/// error. The window parses one string and two lists of numbers instead of an object per line:
/// 100 000 lines stay a few MiB there and arrive without long frames.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LogBatch {
    pub lines: String,
    pub ends: Vec<u32>,
    /// Indexes (within this batch) of the lines written to standard error.
    pub stderr: Vec<u32>,
}

impl LogBatch {
    pub fn of(lines: impl IntoIterator<Item = LogLine>) -> LogBatch {
        let mut b = LogBatch::default();
        let mut end = 0u32;
        for (i, l) in lines.into_iter().enumerate() {
            if i > 0 {
                b.lines.push('\n');
                end += 1;
            }
            // A line's own newlines would split it in the view.
            let text = l.text.replace(['\n', '\r'], " ");
            for part in [l.time.as_str(), " ", text.as_str()] {
                b.lines.push_str(part);
                end += part.encode_utf16().count() as u32;
            }
            b.ends.push(end);
            if l.stream == LogStream::Stderr {
                b.stderr.push(i as u32);
            }
        }
        b
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// What the log view takes from the queue at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LogTake {
    pub batch: LogBatch,
    /// More lines wait: the view takes them on its next frame.
    pub more: bool,
    /// Lines dropped since the last take because the view did not take them (a hidden window
    /// does not draw frames) and the queue was full.
    pub dropped: u32,
}

/// Lines followed but not yet taken by the view. The follower pushes; the view takes at most a
/// frame's worth at a time and asks again on its next frame, so the window never gets more than
/// it can draw. Bounded: a view that stops taking loses the oldest lines, counted.
#[derive(Debug, Default)]
pub struct LogQueue {
    lines: VecDeque<LogLine>,
    dropped: u32,
    /// The view was told lines wait and has not taken them yet.
    told: bool,
}

impl LogQueue {
    /// Lines kept for a view that does not take them.
    pub const MAX: usize = 200_000;

    /// Queues a line; true when the view should be told that lines wait (the first line since
    /// it last took).
    pub fn push(&mut self, line: LogLine) -> bool {
        if self.lines.len() >= Self::MAX {
            self.lines.pop_front();
            self.dropped = self.dropped.saturating_add(1);
        }
        self.lines.push_back(line);
        !std::mem::replace(&mut self.told, true)
    }

    /// Up to `max` of the oldest lines.
    pub fn take(&mut self, max: usize) -> LogTake {
        let n = max.min(self.lines.len());
        let batch = LogBatch::of(self.lines.drain(..n));
        let more = !self.lines.is_empty();
        // Told again by the next push only once this take has left nothing behind.
        self.told = more;
        LogTake {
            batch,
            more,
            dropped: std::mem::take(&mut self.dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_keep_their_stream_and_time() {
        let l = log_line(LogOutput::StdErr {
            message: "2026-12-02T03:00:00.123456789Z oops: it broke\r\n".into(),
        })
        .unwrap();
        assert_eq!(l.stream, LogStream::Stderr);
        assert_eq!(l.time, "2026-12-02T03:00:00.123456789Z");
        assert_eq!(l.text, "oops: it broke");
    }

    fn line(stream: LogStream, text: &str) -> LogLine {
        LogLine {
            stream,
            time: "2026-12-02T03:00:00.1Z".into(),
            text: text.into(),
        }
    }

    #[test]
    fn a_batch_says_where_each_line_ends_in_the_windows_units() {
        let b = LogBatch::of([
            line(LogStream::Stdout, "one"),
            line(LogStream::Stderr, "naïve 🚀"),
            line(LogStream::Stdout, "a\nb"),
        ]);
        let utf16: Vec<u16> = b.lines.encode_utf16().collect();
        let mut start = 0;
        let mut got = Vec::new();
        for &end in &b.ends {
            got.push(String::from_utf16(&utf16[start..end as usize]).unwrap());
            start = end as usize + 1;
        }
        assert_eq!(
            got,
            [
                "2026-12-02T03:00:00.1Z one",
                "2026-12-02T03:00:00.1Z naïve 🚀",
                "2026-12-02T03:00:00.1Z a b"
            ]
        );
        assert_eq!(b.stderr, [1]);
        assert!(LogBatch::of([]).is_empty());
    }

    #[test]
    fn the_queue_tells_once_per_take_and_hands_out_bounded_batches() {
        let mut q = LogQueue::default();
        assert!(q.push(line(LogStream::Stdout, "1")));
        assert!(!q.push(line(LogStream::Stdout, "2")));
        assert!(!q.push(line(LogStream::Stdout, "3")));
        let t = q.take(2);
        assert_eq!((t.batch.len(), t.more, t.dropped), (2, true, 0));
        // Lines still wait: the view asks again on its own; no new notice.
        assert!(!q.push(line(LogStream::Stdout, "4")));
        let t = q.take(10);
        assert_eq!((t.batch.len(), t.more), (2, false));
        assert!(t.batch.lines.ends_with(" 4"));
        // Emptied: the next line is news again.
        assert!(q.push(line(LogStream::Stdout, "5")));
    }

    #[test]
    fn a_full_queue_drops_the_oldest_lines_and_counts_them() {
        let mut q = LogQueue::default();
        for i in 0..LogQueue::MAX + 5 {
            q.push(line(LogStream::Stdout, &i.to_string()));
        }
        let t = q.take(1);
        assert_eq!(t.dropped, 5);
        assert!(t.batch.lines.ends_with(" 5"));
        assert_eq!(q.take(1).dropped, 0);
    }
}
