//! Grading a run directory: the checks over its saved evidence (`checks`), the report
//! around them, and the files written from it (`report`). `lab run`, `lab report`
//! (regrade) and `lab gc` (salvage) all grade here, from the run directory alone.

use std::collections::BTreeMap;
use std::path::Path;

use checks::{CAPTURE_FILE, Evidence};
use report::{REPORT_SCHEMA, RunReport, StepRecord, Verdict};
use scenario::{NodeKind, Scenario};

use crate::EngineError;
use crate::limits;
use crate::run::ATTACKER_CAPTURES_DIR;
use crate::save;

/// Grades a run directory again from its saved evidence (`lab report`).
pub fn regrade(run_dir: &Path) -> Result<RunReport, EngineError> {
    let scenario_path = run_dir.join("scenario.yaml");
    let scenario = scenario::load(&scenario_path, &BTreeMap::new())?;
    let previous: Option<RunReport> = std::fs::read(run_dir.join("report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (run_id, started_at, steps, duration, error) = match previous {
        Some(p) => (p.run_id, p.started_at, p.steps, p.duration_s, p.error),
        None => (
            run_dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            String::new(),
            Vec::new(),
            0.0,
            None,
        ),
    };
    let mut report = grade_run(&scenario, run_dir, run_id, started_at, steps);
    report.duration_s = duration;
    if let Some(e) = error {
        report.error = Some(e);
        report.verdict = Verdict::Error;
    }
    write_report(run_dir, &report)?;
    Ok(report)
}

pub(crate) fn grade_run(
    scenario: &Scenario,
    run_dir: &Path,
    run_id: String,
    started_at: String,
    steps: Vec<StepRecord>,
) -> RunReport {
    let evidence = Evidence::load(run_dir);
    if let Ok(analysis) = &evidence.capture {
        let lines: String = analysis
            .events
            .iter()
            .map(|e| format!("{}\n", serde_json::to_string(e).unwrap_or_default()))
            .collect();
        // Derived from the capture (`lab report` rebuilds it): a failure here shows in
        // the report's own write, which follows.
        let _ = save::write(&run_dir.join("timeline.json"), lines);
    }
    let checks = checks::grade(scenario, &evidence);
    let verdict = Verdict::of(&checks);
    let mut evidence_files: Vec<String> = Vec::new();
    collect_files(run_dir, run_dir, &mut evidence_files);
    evidence_files.retain(|f| f != "report.json" && f != "SHA256SUMS");
    evidence_files.sort();
    let m = &scenario.metadata;
    RunReport {
        schema: REPORT_SCHEMA.into(),
        run_id,
        lab: m.name.clone(),
        title: m.title.clone(),
        threat: m.threat.clone(),
        variant: format!("{:?}", m.variant).to_lowercase(),
        mitre: m.mitre.clone(),
        started_at,
        duration_s: 0.0,
        verdict,
        error: None,
        notes: capture_notes(scenario, run_dir),
        steps,
        checks,
        evidence: evidence_files,
    }
}

/// A note for each capture that stopped at its size cap, read from the saved logs (a
/// `capture_limit` line of the sniffer's, or of an attacker's `sniff` daemon).
fn capture_notes(scenario: &Scenario, run_dir: &Path) -> Vec<String> {
    let mut notes = Vec::new();
    for node in &scenario.nodes {
        let file = match &node.kind {
            NodeKind::Sniffer { .. } => CAPTURE_FILE.to_string(),
            NodeKind::Attacker {
                daemon: Some(d), ..
            } if d.action == "sniff" => format!("{ATTACKER_CAPTURES_DIR}/{}.pcapng", node.name),
            _ => continue,
        };
        let log = run_dir.join("logs").join(format!("{}.log", node.name));
        let Ok(text) = std::fs::read_to_string(&log) else {
            continue;
        };
        if let Some(hit) = protocol::result::capture_limit(&text) {
            let max = hit.max_bytes.unwrap_or_else(|| limits::capture_bytes(node));
            notes.push(format!(
                "the capture of `{}` stopped at its size cap ({}, `limits.capture`) after {} packets: what came later is not in {file}",
                node.name,
                scenario::limit_rules::format_size(max),
                hit.packets,
            ));
        }
    }
    notes
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

pub(crate) fn write_report(run_dir: &Path, report: &RunReport) -> Result<(), EngineError> {
    // report.json, junit.xml, report.sarif and report.html (from the report and the run
    // directory alone), then SHA256SUMS over every file of the run directory, the reports
    // included, in `sha256sum -c` format (`lab verify` checks it).
    report::write_all(run_dir, report).map_err(EngineError::io("writing the reports"))?;
    report::write_sums(run_dir).map_err(EngineError::io("writing SHA256SUMS"))?;
    Ok(())
}
