//! Terminal rendering of core progress events: a spinner per step on a terminal (finished
//! with its duration), plain lines otherwise. Everything goes to stderr, so stdout stays
//! clean for `eval` and scripts.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_core::progress::{Event, Progress};
use berth_core::text::printable;
use indicatif::{ProgressBar, ProgressStyle};

pub struct Renderer {
    debug: bool,
    tty: bool,
    state: Mutex<State>,
}

struct State {
    bar: Option<ProgressBar>,
    title: String,
    started: Instant,
}

impl Renderer {
    pub fn new(debug: bool) -> Renderer {
        Renderer {
            debug,
            // Debug output interleaves badly with a redrawn spinner.
            tty: std::io::stderr().is_terminal() && !debug,
            state: Mutex::new(State {
                bar: None,
                title: String::new(),
                started: Instant::now(),
            }),
        }
    }

    fn finish_step(&self, st: &mut State, ok: bool) {
        if st.title.is_empty() {
            return;
        }
        let took = format_duration(st.started.elapsed());
        let mark = if ok { "✔" } else { "✘" };
        match st.bar.take() {
            Some(bar) => bar.finish_with_message(format!("{mark} {} ({took})", st.title)),
            None if self.debug => eprintln!("   ({} took {took})", st.title),
            None => {}
        }
        st.title.clear();
    }

    /// Ends the current step (at the end of an operation).
    pub fn finish(&self, ok: bool) {
        if let Ok(mut st) = self.state.lock() {
            self.finish_step(&mut st, ok);
        }
    }

    fn print(&self, st: &State, line: &str) {
        match &st.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl Progress for Renderer {
    fn emit(&self, event: Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match event {
            Event::Step { title, .. } => {
                let title = printable(&title).into_owned();
                self.finish_step(&mut st, true);
                st.title = title.clone();
                st.started = Instant::now();
                if self.tty {
                    let bar = ProgressBar::new_spinner();
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_message(title);
                    bar.enable_steady_tick(Duration::from_millis(100));
                    st.bar = Some(bar);
                } else {
                    eprintln!("{title}...");
                }
            }
            // Lines carry text from hosts and records: escaped, never raw to the terminal.
            Event::Log { line } => self.print(&st, &printable(&line)),
            Event::Warn { line } => self.print(&st, &format!("Warning: {}", printable(&line))),
            Event::Debug { line } if self.debug => {
                self.print(&st, &format!("[debug] {}", printable(&line)))
            }
            Event::Debug { .. } => {}
        }
    }
}
