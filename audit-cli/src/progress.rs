//! A progress line on standard error for long exports and verifications.
//!
//! It appears only when standard error is a terminal, `--quiet` is not given,
//! and the work has taken longer than [`SHOW_AFTER`]: short commands print
//! nothing extra.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// How long work runs before the progress line appears.
const SHOW_AFTER: Duration = Duration::from_millis(700);

/// Counts entries and shows the count once the work is long.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    shown: bool,
}

impl Progress {
    /// A progress line that says `<verb> N entries`; inert when `quiet` or
    /// when standard error is not a terminal.
    pub(crate) fn new(quiet: bool, verb: &'static str) -> Self {
        let enabled = !quiet && std::io::stderr().is_terminal();
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            let style = ProgressStyle::with_template(&format!(
                "{{spinner}} {verb} {{human_pos}} entries ({{rate}}, {{elapsed}})"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            });
            bar.set_style(style);
            bar
        });
        Self { bar, started: Instant::now(), shown: false }
    }

    /// One more entry done.
    pub(crate) fn inc(&mut self) {
        let Some(bar) = &self.bar else { return };
        bar.inc(1);
        if !self.shown && bar.position() % 256 == 0 && self.started.elapsed() >= SHOW_AFTER {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(120));
            self.shown = true;
        }
    }

    /// Removes the line.
    pub(crate) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
