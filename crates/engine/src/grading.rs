//! Grading a run directory: the checks over its saved evidence (`checks`), the report
//! around them, and the files written from it (`report`). `lab run`, `lab report`
//! (regrade) and `lab gc` (salvage) all grade here, from the run directory alone.

use std::collections::BTreeMap;
use std::path::Path;

use checks::Evidence;
use report::{REPORT_SCHEMA, RunReport, StepRecord, Verdict};
use rundir::{Outputs, RunDir};
use scenario::{NodeKind, Scenario};

use crate::EngineError;
use crate::limits;
use crate::save;

/// What a run's own record says of it, for grading it again: its report's facts, else
/// the run directory's name and its saved step results.
pub(crate) struct Previous {
    pub run_id: String,
    pub started_at: String,
    pub steps: Vec<StepRecord>,
    pub duration_s: f64,
    pub error: Option<String>,
}

impl Previous {
    pub(crate) fn of(run: &RunDir) -> Previous {
        match rundir::read_json::<RunReport>(&run.record().report(), MAX_REPORT_BYTES) {
            Ok(p) => Previous {
                run_id: p.run_id,
                started_at: p.started_at,
                steps: p.steps,
                duration_s: p.duration_s,
                error: p.error,
            },
            Err(_) => Previous {
                run_id: run.id(),
                started_at: String::new(),
                steps: run.read_steps().unwrap_or_default(),
                duration_s: 0.0,
                error: None,
            },
        }
    }
}

/// The largest `report.json` read back (a run's is a few hundred KiB).
const MAX_REPORT_BYTES: u64 = 64 << 20;

/// Grades a run directory again from its saved evidence (`lab report`). The outputs go
/// to `regrade/`: the run's own record and its `SHA256SUMS` stay as they were, so `lab
/// verify` still checks what the run saved.
pub fn regrade(run_dir: &Path) -> Result<(RunReport, Outputs), EngineError> {
    let run = RunDir::new(run_dir);
    let scenario = scenario::load(&run.scenario(), &BTreeMap::new())?;
    let previous = Previous::of(&run);
    let out = run.regrade();
    let mut report = grade_run(
        &scenario,
        &run,
        &out,
        previous.run_id,
        previous.started_at,
        previous.steps,
    );
    report.duration_s = previous.duration_s;
    if let Some(e) = previous.error {
        report.error = Some(e);
        report.verdict = Verdict::Error;
    }
    report::write_all(&run, &out, &report).map_err(EngineError::io("writing the reports"))?;
    Ok((report, out))
}

/// Grades `run` from its evidence; the timeline derived from the capture goes to `out`.
pub(crate) fn grade_run(
    scenario: &Scenario,
    run: &RunDir,
    out: &Outputs,
    run_id: String,
    started_at: String,
    steps: Vec<StepRecord>,
) -> RunReport {
    let evidence = Evidence::load(run.root());
    // Ends named by the node owning each address, from the map the run saved.
    let hosts = report::run_hosts(run);
    if let Ok(analysis) = &evidence.capture {
        let line = |e: &wire::Event| {
            if hosts.is_empty() {
                serde_json::to_string(e)
            } else {
                serde_json::to_string(&hosts.event(e))
            }
        };
        let lines: String = analysis
            .events
            .iter()
            .map(|e| format!("{}\n", line(e).unwrap_or_default()))
            .collect();
        // Derived from the capture (`lab report` rebuilds it): a failure here shows in
        // the report's own write, which follows.
        let _ = save::mkdir(out.dir()).and_then(|()| save::write(&out.timeline(), lines));
    }
    let checks = checks::grade(scenario, &evidence);
    let verdict = Verdict::of(&checks);
    let mut evidence_files = report::evidence_files(run.root()).unwrap_or_default();
    evidence_files.retain(|f| RunDir::is_evidence(f));
    let associations = match &evidence.capture {
        Ok(a) => report::connections(a, &hosts),
        Err(_) => Vec::new(),
    };
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
        notes: capture_notes(scenario, run),
        steps,
        checks,
        associations,
        evidence: evidence_files,
    }
}

/// A note for each capture that stopped at its size cap, read from the saved logs (a
/// `capture_limit` line of the sniffer's, or of an attacker's `sniff` daemon).
fn capture_notes(scenario: &Scenario, run: &RunDir) -> Vec<String> {
    let mut notes = Vec::new();
    for node in &scenario.nodes {
        let file = match &node.kind {
            NodeKind::Sniffer { .. } => rundir::CAPTURE_FILE.to_string(),
            NodeKind::Attacker {
                daemon: Some(d), ..
            } if d.action == "sniff" => RunDir::attacker_capture(&node.name),
            _ => continue,
        };
        let log = run.node_log(&node.name);
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

/// Writes a run's own record: the reports beside its evidence, then `SHA256SUMS`.
pub(crate) fn write_report(run: &RunDir, report: &RunReport) -> Result<(), EngineError> {
    // report.json, junit.xml, report.sarif and report.html (from the report and the run
    // directory alone), then SHA256SUMS over every file of the run directory, the reports
    // included, in `sha256sum -c` format (`lab verify` checks it).
    report::write_all(run, &run.record(), report)
        .map_err(EngineError::io("writing the reports"))?;
    report::write_sums(run.root()).map_err(EngineError::io("writing SHA256SUMS"))?;
    Ok(())
}
