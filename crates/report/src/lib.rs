//! Reports of a run, from its graded checks and its evidence: `report.json` (versioned
//! schema), the terminal summary, JUnit XML ([`junit`]), SARIF 2.1.0 ([`sarif()`]), a
//! self-contained HTML page ([`html()`]) and the run directory's `SHA256SUMS`
//! ([`write_sums`], [`verify_sums`]).
//!
//! Owns the report document ([`RunReport`]) and how it is rendered. It does not grade
//! (that is `checks`) nor run anything; everything here can be rebuilt from a run
//! directory at any time ([`write_all`]).

pub mod atomic;
mod escape;
mod html;
mod images;
mod junit;
mod names;
mod sarif;
mod scores;
mod sums;

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub use atomic::{AtomicFile, write_atomic};
pub use html::html;
pub use images::{MAX_IMAGES, StoredImage, stored_images};
pub use junit::{RUN_TESTCASE, junit};
pub use names::{Connection, MAX_CONNECTIONS, connections, hosts, run_hosts};
pub use rundir::SUMS_FILE;
pub use sarif::{RUN_DIR_BASE, SARIF_SCHEMA_URI, sarif, sarif_with_lines};
pub use scores::{CheckScore, ScoreRow, scores_csv, scores_junit, spreadsheet_cell};
#[doc(hidden)]
pub use sums::fuzzing as sums_fuzzing;
pub use sums::{MAX_SUMS_BYTES, Verification, evidence_files, verify_sums, write_sums};

pub use rundir::{REPORT_FILES, RunDir, StepRecord};

use checks::{CheckResult, Outcome};
use serde::{Deserialize, Serialize};

/// Version of the `report.json` schema; bumped on any incompatible change.
pub const REPORT_SCHEMA: &str = "dicom-range/report/v1";

/// The verdict of a whole run, and its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check met its expectation (exit 0).
    Pass,
    /// At least one check did not (exit 1).
    Fail,
    /// The lab could not be run or graded (exit 2).
    Error,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        }
    }

    /// From check results: any error wins, then any unmet check.
    pub fn of(checks: &[CheckResult]) -> Verdict {
        if checks.iter().any(|c| c.outcome == Outcome::Error) {
            Verdict::Error
        } else if checks.iter().any(|c| c.outcome == Outcome::NotMet) {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }
}

/// `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub schema: String,
    pub run_id: String,
    pub lab: String,
    pub title: String,
    pub threat: String,
    pub variant: String,
    pub mitre: Vec<String>,
    pub started_at: String,
    pub duration_s: f64,
    pub verdict: Verdict,
    /// Why the run could not complete, when it could not.
    pub error: Option<String>,
    /// What a reader of the evidence must know although the run completed, e.g. that
    /// the capture stopped at its size cap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub steps: Vec<StepRecord>,
    pub checks: Vec<CheckResult>,
    /// The connections of the capture (the first [`MAX_CONNECTIONS`]), each end named by
    /// the node that owns its address (`addresses.json`), with the AE title it claimed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Connection>,
    /// Evidence files, relative to the run directory.
    pub evidence: Vec<String>,
}

/// At most this many connections are named in the terminal summary.
const MAX_TERMINAL_CONNECTIONS: usize = 6;

/// A short summary for a terminal; `color` only when writing to a TTY. Every text taken
/// from the run (what the checks observed quotes AE titles and PHI; errors quote node
/// output) is escaped by `wire::terminal_safe` / `terminal_text`: only the colours here
/// are sent to the terminal as escape sequences.
pub fn terminal_summary(r: &RunReport, run_dir: &str, color: bool) -> String {
    use wire::{terminal_safe as t, terminal_text as tt};
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} ({}, {}) run {}",
        t(&r.lab),
        t(&r.threat),
        t(&r.variant),
        t(&r.run_id)
    );
    for s in &r.steps {
        let mark = if s.ok {
            paint("32", "ok  ")
        } else {
            paint("31", "FAIL")
        };
        let _ = writeln!(
            out,
            "  step {} {:<8} {} {:>6} ms{}",
            s.index,
            t(&s.action),
            mark,
            s.elapsed_ms,
            s.error
                .as_ref()
                .map(|e| format!("  {}", tt(e)))
                .unwrap_or_default()
        );
    }
    let width = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &r.checks {
        let mark = match c.outcome {
            Outcome::Met => paint("32", "met    "),
            Outcome::NotMet => paint("31", "NOT MET"),
            Outcome::Error => paint("33", "ERROR  "),
        };
        let mitre = c
            .mitre
            .as_ref()
            .map(|m| format!(" [{}]", t(m)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  check {:<width$} {mark} {}{mitre}",
            t(&c.id),
            tt(&c.observed)
        );
        if c.outcome != Outcome::Met {
            let _ = writeln!(
                out,
                "  {:<width$}         expected: {}",
                "",
                tt(&c.expected)
            );
        }
    }
    for (n, c) in r
        .associations
        .iter()
        .take(MAX_TERMINAL_CONNECTIONS)
        .enumerate()
    {
        let end = |e: &wire::Endpoint| {
            let text = t(&e.to_string()).into_owned();
            if e.impersonates() {
                paint("1;31", &text)
            } else {
                text
            }
        };
        let _ = writeln!(
            out,
            "  association {} (stream {}{}): {} -> {}",
            n + 1,
            c.stream,
            if c.tls { ", TLS: AE titles hidden" } else { "" },
            end(&c.client),
            end(&c.server)
        );
    }
    if r.associations.len() > MAX_TERMINAL_CONNECTIONS {
        let _ = writeln!(
            out,
            "  ... {} more connection(s) in report.json",
            r.associations.len() - MAX_TERMINAL_CONNECTIONS
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "  {} {n}", paint("33", "note:"));
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "  {} {}", paint("31", "error:"), tt(e));
    }
    let verdict = match r.verdict {
        Verdict::Pass => paint("1;32", "PASS"),
        Verdict::Fail => paint("1;31", "FAIL"),
        Verdict::Error => paint("1;33", "ERROR"),
    };
    let met = r
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Met)
        .count();
    let _ = writeln!(
        out,
        "{verdict}: {met}/{} checks met in {:.1} s",
        r.checks.len(),
        r.duration_s
    );
    let _ = writeln!(
        out,
        "evidence: {}/ (capture.pcapng opens in Wireshark; report.json; logs/)",
        t(run_dir)
    );
    out
}

/// Writes every report of a run into `out` (the run directory itself, or its `regrade/`):
/// `report.json`, `junit.xml`, `report.sarif` and `report.html`. What the HTML and SARIF
/// need besides the report is loaded from the run directory: the capture (decoded by
/// `wire`), the resolved lab file, and the stored files the engine kept (previewed); any
/// may be missing, the pages say so.
///
/// The `evidence` list written to `report.json` leaves out the generated reports (they
/// are outputs, not evidence), so that regenerating a run gives the same document. The
/// caller writes `SHA256SUMS` afterwards ([`write_sums`]), over every file of a run's own
/// record.
pub fn write_all(run: &RunDir, out: &rundir::Outputs, report: &RunReport) -> std::io::Result<()> {
    let mut report = report.clone();
    report.evidence.retain(|f| RunDir::is_evidence(f));
    let capture = run.capture();
    let analysis = capture
        .exists()
        .then(|| wire::analyze_file(&capture).ok())
        .flatten();
    let scenario_text = std::fs::read_to_string(run.scenario()).ok();
    let scenario = scenario::load(&run.scenario(), &BTreeMap::new()).ok();

    std::fs::create_dir_all(out.dir())?;
    let json = serde_json::to_vec_pretty(&report).map_err(std::io::Error::other)?;
    write_atomic(&out.report(), &json)?;
    write_atomic(
        &out.file(rundir::JUNIT_FILE),
        junit(std::slice::from_ref(&report)).as_bytes(),
    )?;
    let lines = |_: &RunReport, c: &CheckResult| {
        scenario_text.as_deref().and_then(|t| check_line(t, &c.id))
    };
    let sarif = sarif_with_lines(std::slice::from_ref(&report), &lines);
    let sarif = serde_json::to_vec_pretty(&sarif).map_err(std::io::Error::other)?;
    write_atomic(&out.file(rundir::SARIF_FILE), &sarif)?;
    let images = stored_images(run.root());
    let page = html(&report, analysis.as_ref(), scenario.as_ref(), &images);
    write_atomic(&out.file(rundir::HTML_FILE), page.as_bytes())?;
    Ok(())
}

/// The 1-based line of `- id: <id>` (or `id: <id>`) in a lab file's text.
fn check_line(text: &str, id: &str) -> Option<u64> {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            l.strip_prefix("id:")
                .map(|v| v.trim().trim_matches(['"', '\'']) == id)
                .unwrap_or(false)
        })
        .map(|i| i as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a run saw (an AE title that clears the screen, a patient name with a carriage
    /// return that would overwrite "NOT MET") is printed as escapes; the summary's own
    /// colours are the only escape sequences, and only with `color`.
    #[test]
    fn the_terminal_summary_escapes_what_the_run_saw() {
        let report = RunReport {
            schema: REPORT_SCHEMA.into(),
            notes: Vec::new(),
            run_id: "x-0001".into(),
            lab: "x".into(),
            title: String::new(),
            threat: "insecure-communication".into(),
            variant: "vulnerable".into(),
            mitre: Vec::new(),
            started_at: String::new(),
            duration_s: 1.0,
            verdict: Verdict::Fail,
            error: Some("node said \x1b[2J\n  fix: look".into()),
            steps: vec![StepRecord {
                index: 1,
                id: "s".into(),
                node: "modality".into(),
                action: "store".into(),
                ok: false,
                exit_code: 1,
                elapsed_ms: 5,
                result: None,
                error: Some("refused by EVIL\x1b[2J\x08\x08".into()),
            }],
            checks: vec![CheckResult {
                id: "phi".into(),
                kind: "capture.phi_in_clear".into(),
                mitre: None,
                description: None,
                expected: "no PHI".into(),
                observed: "PatientName DOE^JOHN\rmet    ".into(),
                finding: Some(true),
                outcome: Outcome::NotMet,
                details: Vec::new(),
            }],
            associations: Vec::new(),
            evidence: Vec::new(),
        };
        let plain = terminal_summary(&report, "runs/x-0001", false);
        assert!(
            !plain.chars().any(|c| c.is_control() && c != '\n'),
            "{plain:?}"
        );
        assert!(
            plain.contains("refused by EVIL\\x1b[2J\\x08\\x08"),
            "{plain}"
        );
        assert!(plain.contains("DOE^JOHN\\rmet"), "{plain}");
        assert!(plain.contains("node said \\x1b[2J\n  fix: look"), "{plain}");
        let coloured = terminal_summary(&report, "runs/x-0001", true);
        assert!(
            !coloured.contains("\x1b[2J") && !coloured.contains('\r'),
            "{coloured:?}"
        );
    }

    /// The terminal names each end of proxy-tamper's associations by the address's owner,
    /// the attacker in both, with the titles it borrowed.
    #[test]
    fn the_terminal_names_the_attacker_by_its_address() {
        let analysis = names::tests::proxy_analysis();
        let report = RunReport {
            schema: REPORT_SCHEMA.into(),
            notes: Vec::new(),
            run_id: "proxy-tamper-0001".into(),
            lab: "proxy-tamper".into(),
            title: String::new(),
            threat: "data-manipulation".into(),
            variant: "vulnerable".into(),
            mitre: Vec::new(),
            started_at: String::new(),
            duration_s: 1.0,
            verdict: Verdict::Pass,
            error: None,
            steps: Vec::new(),
            checks: Vec::new(),
            associations: connections(&analysis, &hosts(&names::tests::proxy_map())),
            evidence: Vec::new(),
        };
        let plain = terminal_summary(&report, "runs/x", false);
        assert!(
            plain.contains(
                "association 1 (stream 0): modality 10.213.0.3:40000 (AET MODALITY, its own) -> attacker 10.213.0.4:104 (claims AET ORTHANC, the AE title of pacs)"
            ),
            "{plain}"
        );
        assert!(
            plain.contains(
                "association 2 (stream 1): attacker 10.213.0.4:51000 (claims AET MODALITY, the AE title of modality) -> pacs 10.213.0.2:4242 (AET ORTHANC, its own)"
            ),
            "{plain}"
        );
        // In report.json too, the ends carry the owner of the address.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["associations"][1]["client"]["node"], "attacker");
        assert_eq!(json["associations"][1]["client"]["aet"], "MODALITY");
        assert_eq!(json["associations"][1]["client"]["aet_node"], "modality");
        let coloured = terminal_summary(&report, "runs/x", true);
        assert!(
            coloured.contains("\x1b[1;31mattacker 10.213.0.4:51000"),
            "{coloured:?}"
        );
    }
}
