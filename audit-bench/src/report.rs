//! The report: one row per comparison (A, B, ratio, target, PASS/MISS), the
//! measurements behind it, as Markdown for people and JSON for machines.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::stats::Summary;
use crate::sysinfo::Machine;

/// What a row's value is held against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub(crate) enum Target {
    /// The median must be at least this.
    AtLeast(f64),
    /// The median must be at most this.
    AtMost(f64),
    /// Reported, not judged.
    Info,
}

impl Target {
    /// Whether `value` meets the target; `None` for [`Target::Info`].
    pub(crate) fn judge(self, value: f64) -> Option<bool> {
        match self {
            Self::AtLeast(t) => Some(value >= t),
            Self::AtMost(t) => Some(value <= t),
            Self::Info => None,
        }
    }

    fn describe(self, unit: &str) -> String {
        let unit = if unit == "x" { "x".to_owned() } else { format!(" {unit}") };
        match self {
            Self::AtLeast(t) => format!("≥ {}{unit}", fmt_num(t)),
            Self::AtMost(t) => format!("≤ {}{unit}", fmt_num(t)),
            Self::Info => "—".to_owned(),
        }
    }
}

/// The verdict of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Verdict {
    Pass,
    Miss,
    Info,
}

/// One side of a comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Side {
    pub(crate) label: String,
    pub(crate) value: Summary,
    pub(crate) unit: String,
}

impl Side {
    pub(crate) fn new(label: &str, value: Summary, unit: &str) -> Self {
        Self { label: label.to_owned(), value, unit: unit.to_owned() }
    }
}

/// One judged figure: usually the ratio of A to B, else a measured value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Row {
    pub(crate) metric: String,
    pub(crate) a: Option<Side>,
    pub(crate) b: Option<Side>,
    /// The figure held against the target (per-round ratios for a comparison).
    pub(crate) value: Summary,
    /// `x` for a ratio.
    pub(crate) unit: String,
    pub(crate) target: Target,
    /// A second, softer target worth showing ("aim 0.97").
    pub(crate) aim: Option<f64>,
    pub(crate) verdict: Verdict,
}

impl Row {
    /// A comparison: `value` is the per-round ratio of `a` to `b`.
    pub(crate) fn ratio(metric: &str, a: Side, b: Side, value: Summary, target: Target) -> Self {
        Self::build(metric, Some(a), Some(b), value, "x", target)
    }

    /// A measured value against a target.
    pub(crate) fn value(metric: &str, value: Summary, unit: &str, target: Target) -> Self {
        Self::build(metric, None, None, value, unit, target)
    }

    /// A measured value with the two sides it was derived from.
    pub(crate) fn derived(
        metric: &str,
        a: Side,
        b: Side,
        value: Summary,
        unit: &str,
        target: Target,
    ) -> Self {
        Self::build(metric, Some(a), Some(b), value, unit, target)
    }

    fn build(
        metric: &str,
        a: Option<Side>,
        b: Option<Side>,
        value: Summary,
        unit: &str,
        target: Target,
    ) -> Self {
        let verdict = match target.judge(value.median) {
            Some(true) => Verdict::Pass,
            Some(false) => Verdict::Miss,
            None => Verdict::Info,
        };
        Self {
            metric: metric.to_owned(),
            a,
            b,
            value,
            unit: unit.to_owned(),
            target,
            aim: None,
            verdict,
        }
    }

    /// Adds an aim shown beside the target.
    pub(crate) fn aim(mut self, aim: f64) -> Self {
        self.aim = Some(aim);
        self
    }
}

/// A measurement behind the rows (throughput, latency, allocations, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Detail {
    pub(crate) name: String,
    pub(crate) value: Summary,
    pub(crate) unit: String,
}

/// How a scenario ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// As specified.
    Complete,
    /// Ran against a stand-in (see the notes).
    Fallback,
    /// Not run; the reason is in the notes.
    Skipped,
    /// Started, then failed; the error is in the notes.
    Failed,
}

/// Everything one scenario measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ScenarioReport {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) status: Status,
    pub(crate) seconds: f64,
    pub(crate) rows: Vec<Row>,
    pub(crate) details: Vec<Detail>,
    pub(crate) notes: Vec<String>,
}

impl ScenarioReport {
    pub(crate) fn new(name: &str, title: &str) -> Self {
        Self {
            name: name.to_owned(),
            title: title.to_owned(),
            status: Status::Complete,
            seconds: 0.0,
            rows: Vec::new(),
            details: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A scenario that was not run.
    pub(crate) fn skipped(name: &str, title: &str, reason: impl Into<String>) -> Self {
        let mut r = Self::new(name, title);
        r.status = Status::Skipped;
        r.notes.push(reason.into());
        r
    }

    pub(crate) fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub(crate) fn detail(&mut self, name: impl Into<String>, value: Summary, unit: &str) {
        self.details.push(Detail { name: name.into(), value, unit: unit.to_owned() });
    }

    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

/// How the run was configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunSettings {
    pub(crate) command: String,
    pub(crate) quick: bool,
    pub(crate) rounds: usize,
    pub(crate) duration_secs: f64,
    pub(crate) warmup_secs: f64,
    pub(crate) threads: String,
}

/// Counts over all rows and scenarios.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Totals {
    pub(crate) pass: usize,
    pub(crate) miss: usize,
    pub(crate) info: usize,
    pub(crate) skipped_scenarios: usize,
    pub(crate) failed_scenarios: usize,
    pub(crate) fallback_scenarios: usize,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) schema: u32,
    pub(crate) date: String,
    pub(crate) machine: Machine,
    pub(crate) settings: RunSettings,
    pub(crate) seconds: f64,
    pub(crate) totals: Totals,
    pub(crate) scenarios: Vec<ScenarioReport>,
}

impl Report {
    pub(crate) fn new(
        date: String,
        machine: Machine,
        settings: RunSettings,
        scenarios: Vec<ScenarioReport>,
        seconds: f64,
    ) -> Self {
        let mut totals = Totals::default();
        for s in &scenarios {
            match s.status {
                Status::Skipped => totals.skipped_scenarios += 1,
                Status::Failed => totals.failed_scenarios += 1,
                Status::Fallback => totals.fallback_scenarios += 1,
                Status::Complete => {}
            }
            for r in &s.rows {
                match r.verdict {
                    Verdict::Pass => totals.pass += 1,
                    Verdict::Miss => totals.miss += 1,
                    Verdict::Info => totals.info += 1,
                }
            }
        }
        Self { schema: 1, date, machine, settings, seconds, totals, scenarios }
    }

    /// The report as Markdown: the results table, then the measurements and notes.
    pub(crate) fn markdown(&self) -> String {
        let s = &self.settings;
        let mut out = format!(
            "Measured {} on {}, with `{}`: {}, variants interleaved; medians, with min–max over \
             rounds. {}.\n\n",
            self.date,
            self.machine.describe(),
            s.command,
            self.rounds(),
            s.threads,
        );
        self.results(&mut out, "###");
        out
    }

    /// `3 rounds of 3.00 s per variant (after 0.75 s of warm-up)`.
    fn rounds(&self) -> String {
        let s = &self.settings;
        format!(
            "{} rounds of {} s per variant (after {} s of warm-up)",
            s.rounds,
            fmt_num(s.duration_secs),
            fmt_num(s.warmup_secs)
        )
    }

    /// The results table and its totals, then the measurements and the
    /// notes under headings of level `heading` (`##`, `###`).
    fn results(&self, out: &mut String, heading: &str) {
        out.push_str("| Scenario | Comparison | A | B | Ratio / value | Target | Result |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for sc in &self.scenarios {
            match sc.status {
                Status::Skipped | Status::Failed => {
                    let what = if sc.status == Status::Skipped { "skipped" } else { "failed" };
                    let why = sc.notes.first().map(String::as_str).unwrap_or("");
                    let _ = writeln!(
                        out,
                        "| {} | {} | | | {what}: {} | | {} |",
                        sc.name,
                        sc.title,
                        cell(why),
                        what.to_uppercase()
                    );
                    if sc.rows.is_empty() {
                        continue;
                    }
                }
                Status::Complete | Status::Fallback => {}
            }
            for r in &sc.rows {
                let target = match r.aim {
                    Some(aim) => format!("{} (aim {})", r.target.describe(&r.unit), fmt_num(aim)),
                    None => r.target.describe(&r.unit),
                };
                let verdict = match r.verdict {
                    Verdict::Pass => "PASS",
                    Verdict::Miss => "**MISS**",
                    Verdict::Info => "info",
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    sc.name,
                    cell(&r.metric),
                    r.a.as_ref().map(side).unwrap_or_default(),
                    r.b.as_ref().map(side).unwrap_or_default(),
                    summary(&r.value, &r.unit),
                    target,
                    verdict
                );
            }
        }
        let t = &self.totals;
        let _ = writeln!(
            out,
            "\n{} PASS, {} MISS, {} info; scenarios skipped: {}, failed: {}, on a stand-in: {}. \
             Whole run: {} s.",
            t.pass,
            t.miss,
            t.info,
            t.skipped_scenarios,
            t.failed_scenarios,
            t.fallback_scenarios,
            fmt_num(self.seconds)
        );

        let _ = writeln!(out, "\n{heading} Measurements\n");
        out.push_str("| Scenario | Measurement | Median | Min–max |\n");
        out.push_str("|---|---|---|---|\n");
        for sc in &self.scenarios {
            for d in &sc.details {
                let spread = if d.value.has_spread() {
                    format!("{}–{}", fmt_num(d.value.min), fmt_num(d.value.max))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} {} | {} |",
                    sc.name,
                    cell(&d.name),
                    fmt_num(d.value.median),
                    d.unit,
                    spread
                );
            }
        }
        let notes: Vec<_> =
            self.scenarios.iter().flat_map(|sc| sc.notes.iter().map(move |n| (sc, n))).collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "\n{heading} Notes\n");
            for (sc, n) in notes {
                let _ = writeln!(out, "- **{}** ({}): {}", sc.name, sc.title, n);
            }
        }
    }

    /// Writes `<path>` (JSON) and the Markdown beside it (`.md`).
    pub(crate) fn write(&self, json_path: &Path) -> std::io::Result<PathBuf> {
        if let Some(dir) = json_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(json_path, json)?;
        let md_path = json_path.with_extension("md");
        std::fs::write(&md_path, format!("## Performance\n\n{}", self.markdown()))?;
        Ok(md_path)
    }

    /// The report as the workspace's performance page (`docs/performance.md`):
    /// a header saying that it is generated and by which command, the run's
    /// machine, date and settings, the results, and the method in short,
    /// linking `method` (audit-bench's README, relative to the page).
    pub(crate) fn docs_page(&self, method: &str) -> String {
        let s = &self.settings;
        let cmd = &s.command;
        let quick = if s.quick { " (`--quick`: a smoke run, not for figures)" } else { "" };
        let mut out = format!(
            "<!-- Generated by audit-bench: `{cmd}`. Do not edit by hand; run it again. -->\n\n\
             # Performance\n\n\
             This page is generated by audit-bench from one run of `{cmd}` and is not edited by \
             hand: running that command again replaces it. Its figures belong to the machine and \
             the date below. Absolute rates move with the machine; the ratios, measured side by \
             side, are what to compare.\n\n\
             ## The run\n\n| | |\n|---|---|\n| date (UTC) | {} |\n| machine | {} |\n\
             | command | `{cmd}` |\n| settings | {}{quick}, variants interleaved |\n\
             | processes | {} |\n| whole run | {} s |\n\n\
             ## Results\n\n\
             Medians, with min–max over rounds; a ratio is the median of the ratios of its \
             rounds. PASS and MISS hold a row against its target; `info` rows have none.\n\n",
            self.date,
            self.machine.describe(),
            self.rounds(),
            s.threads,
            fmt_num(self.seconds),
        );
        self.results(&mut out, "##");
        let _ = write!(
            out,
            "\n## Method\n\n\
             - Server and load generator each run on a Tokio runtime of one worker thread, so on \
             two cores each has a core, as a client on another host would. What a variant runs \
             beside them (the file sink's writes, the Postgres server, a peer's writer thread) \
             competes for the same cores: that is part of its cost.\n\
             - The variants of a scenario run interleaved, A B C, A B C, for every round, so that \
             drift on a shared machine reaches both sides of a ratio.\n\
             - Load is closed loop on loopback: keep-alive connections with one request in flight \
             each, counted after a warm-up. The HTTP rows at equal load offer bare and audited \
             one fixed rate, open loop, each request timed from when it was due.\n\
             - Allocations are counted process-wide by a counting global allocator, so the cost \
             of auditing is the difference between variants.\n\
             - A scenario that cannot run here says why (`skipped` or `failed`, with a note).\n\n\
             The scenarios, their variants and targets, the options of the command and how to \
             profile a scenario are in [audit-bench/README.md]({method}).\n"
        );
        out
    }

    /// Writes [`docs_page`](Self::docs_page) to `path`, linking audit-bench's
    /// README relative to it.
    pub(crate) fn write_docs(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let method = relative(&dir.canonicalize()?, &readme.canonicalize()?);
        std::fs::write(path, self.docs_page(&method))
    }
}

/// `to` as a link relative to the directory `from` (both absolute), with `/`.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let up = std::iter::repeat_n("..".to_owned(), from.len() - common);
    let down = to[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned());
    up.chain(down).collect::<Vec<_>>().join("/")
}

fn side(s: &Side) -> String {
    format!("{}: {}", s.label, summary(&s.value, &s.unit))
}

fn summary(s: &Summary, unit: &str) -> String {
    let unit = if unit == "x" {
        "x".to_owned()
    } else if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    if s.has_spread() && s.min != s.max {
        format!("{}{unit} ({}–{})", fmt_num(s.median), fmt_num(s.min), fmt_num(s.max))
    } else {
        format!("{}{unit}", fmt_num(s.median))
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A number with as many digits as it deserves: `12,345`, `123`, `12.3`,
/// `1.23`, `0.0123`.
pub(crate) fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let n = v.round() as i64;
        let digits = n.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if n < 0 { format!("-{grouped}") } else { grouped }
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 || a == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.2e}")
    }
}

#[cfg(test)]
mod tests;
