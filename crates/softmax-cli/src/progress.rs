//! A progress bar on standard error for long work: drawn only when standard error is a terminal,
//! and only once the work has taken about a second (short runs never flicker a bar).

use std::io::{self, IsTerminal};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work runs before its bar appears.
const DELAY: Duration = Duration::from_secs(1);

/// What a progress count measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Bytes of input (shown as sizes and a rate).
    Bytes,
    /// Rows, samples, steps: plain counts.
    Items(&'static str),
}

/// A progress bar that may never show: hidden unless standard error is a terminal, and drawn only
/// after [`DELAY`]. Cheap to update often.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    shown: bool,
}

impl Progress {
    /// Progress towards `total` (unknown: a spinner with a count) in `unit`, labelled `label`.
    pub(crate) fn new(label: &str, total: Option<u64>, unit: Unit) -> Progress {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
            let counts = match (unit, total.is_some()) {
                (Unit::Bytes, true) => "{bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)".to_string(),
                (Unit::Bytes, false) => "{bytes} ({bytes_per_sec})".to_string(),
                (Unit::Items(what), true) => format!("{{pos}}/{{len}} {what} ({{per_sec}}, {{eta}} left)"),
                (Unit::Items(what), false) => format!("{{pos}} {what} ({{per_sec}})"),
            };
            let template = if total.is_some() {
                format!("{{prefix}} [{{bar:30}}] {counts}")
            } else {
                format!("{{prefix}} {{spinner}} {counts}")
            };
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label.to_string());
            bar
        });
        Progress { bar, started: Instant::now(), shown: false }
    }

    /// Sets the position (bytes or items done so far).
    pub(crate) fn set(&mut self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
            self.reveal();
        }
    }

    /// Advances the position by `delta`.
    pub(crate) fn inc(&mut self, delta: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(delta);
            self.reveal();
        }
    }

    fn reveal(&mut self) {
        if !self.shown
            && self.started.elapsed() >= DELAY
            && let Some(bar) = &self.bar
        {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            // Draw now: the next update may be the last, and would be cleared unseen.
            bar.tick();
            self.shown = true;
        }
    }
}

impl Drop for Progress {
    /// Clears the bar, so the terminal is left with the results and messages only.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
