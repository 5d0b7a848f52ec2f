use scenario::{CheckKind, Expectation, Scenario};
use serde::{Deserialize, Serialize};

use crate::Evidence;

/// Whether a check met its expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Met,
    NotMet,
    /// The check could not be evaluated (missing or unreadable evidence).
    Error,
}

/// One graded check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: String,
    pub kind: String,
    pub mitre: Option<String>,
    pub description: Option<String>,
    /// In words: what the lab expects.
    pub expected: String,
    /// In words: what the evidence shows.
    pub observed: String,
    /// For security checks: whether the weakness was demonstrated.
    pub finding: Option<bool>,
    pub outcome: Outcome,
    /// Supporting lines (PHI seen, the timeline labels, ...).
    pub details: Vec<String>,
}

/// Grades every check of the scenario against the evidence.
pub fn grade(scenario: &Scenario, evidence: &Evidence) -> Vec<CheckResult> {
    scenario
        .checks
        .iter()
        .map(|check| {
            let mut r = CheckResult {
                id: check.id.clone(),
                kind: kind_name(&check.kind).into(),
                mitre: check.mitre.clone(),
                description: check.description.clone(),
                expected: String::new(),
                observed: String::new(),
                finding: None,
                outcome: Outcome::Error,
                details: Vec::new(),
            };
            match &check.kind {
                CheckKind::PacsInstances { node, equals } => {
                    pacs_instances(&mut r, evidence, node, *equals)
                }
                CheckKind::PhiInClear { expect } => phi_in_clear(&mut r, evidence, *expect),
                CheckKind::DicomInClear { expect } => dicom_in_clear(&mut r, evidence, *expect),
                CheckKind::Sequence { expect } => sequence(&mut r, evidence, expect),
            }
            r
        })
        .collect()
}

fn kind_name(kind: &CheckKind) -> &'static str {
    match kind {
        CheckKind::PacsInstances { .. } => "pacs.instances",
        CheckKind::PhiInClear { .. } => "capture.phi_in_clear",
        CheckKind::DicomInClear { .. } => "capture.dicom_in_clear",
        CheckKind::Sequence { .. } => "capture.sequence",
    }
}

fn pacs_instances(r: &mut CheckResult, ev: &Evidence, node: &str, equals: u64) {
    r.expected = format!("{equals} instance(s) stored in PACS `{node}`");
    match ev.pacs.get(node).map(|p| &p.instances) {
        Some(Ok(ids)) => {
            r.observed = format!("{} instance(s)", ids.len());
            r.outcome = if ids.len() as u64 == equals {
                Outcome::Met
            } else {
                Outcome::NotMet
            };
            r.details = ids
                .iter()
                .map(|id| format!("Orthanc instance {id}"))
                .collect();
        }
        Some(Err(why)) => r.observed = format!("unknown: {why}"),
        None => r.observed = format!("unknown: no state of PACS `{node}` was saved"),
    }
}

fn phi_in_clear(r: &mut CheckResult, ev: &Evidence, expect: Expectation) {
    r.expected = match expect {
        Expectation::Finding => "patient data readable in clear in the capture (finding)".into(),
        Expectation::None => "no patient data readable in the capture (none)".into(),
    };
    let analysis = match &ev.capture {
        Ok(a) => a,
        Err(why) => {
            r.observed = format!("unknown: {why}");
            return;
        }
    };
    let found = !analysis.phi.is_empty();
    if !found && analysis.events.is_empty() {
        // An empty capture proves nothing: "none" must be seen on real traffic.
        r.observed = format!(
            "unknown: the capture holds no DICOM or TLS traffic ({} packets)",
            analysis.packets
        );
        return;
    }
    r.finding = Some(found);
    let mut seen: Vec<String> = analysis
        .phi
        .iter()
        .map(|p| format!("{} = {}", p.keyword, p.value))
        .collect();
    seen.sort();
    seen.dedup();
    r.observed = if found {
        format!(
            "finding: {} PHI value(s) readable, e.g. {}",
            seen.len(),
            seen[0]
        )
    } else {
        format!("none: no PHI readable in {} packets", analysis.packets)
    };
    r.details = seen;
    r.outcome = if found == (expect == Expectation::Finding) {
        Outcome::Met
    } else {
        Outcome::NotMet
    };
}

fn dicom_in_clear(r: &mut CheckResult, ev: &Evidence, expect: Expectation) {
    r.expected = match expect {
        Expectation::Finding => "DICOM readable on the wire (finding)".into(),
        Expectation::None => "no DICOM readable on the wire: only TLS (none)".into(),
    };
    let analysis = match &ev.capture {
        Ok(a) => a,
        Err(why) => {
            r.observed = format!("unknown: {why}");
            return;
        }
    };
    let is_tls = |e: &wire::Event| e.pdu.starts_with("TLS");
    let clear: Vec<&wire::Event> = analysis.events.iter().filter(|e| !is_tls(e)).collect();
    let tls = analysis.events.iter().filter(|e| is_tls(e)).count();
    if clear.is_empty() && tls == 0 {
        r.observed = format!(
            "unknown: the capture holds no DICOM or TLS traffic ({} packets)",
            analysis.packets
        );
        return;
    }
    let found = !clear.is_empty();
    r.finding = Some(found);
    r.observed = if found {
        format!(
            "finding: {} DICOM PDUs in clear, first: {}",
            clear.len(),
            clear[0].info
        )
    } else {
        format!("none: {tls} TLS event(s), no DICOM PDU in clear")
    };
    r.details = analysis
        .events
        .iter()
        .map(|e| format!("{:>10.6}  {}", e.rel_time, e.info))
        .collect();
    r.outcome = if found == (expect == Expectation::Finding) {
        Outcome::Met
    } else {
        Outcome::NotMet
    };
}

fn sequence(r: &mut CheckResult, ev: &Evidence, expect: &[String]) {
    r.expected = format!("in order: {}", expect.join(", "));
    let analysis = match &ev.capture {
        Ok(a) => a,
        Err(why) => {
            r.observed = format!("unknown: {why}");
            return;
        }
    };
    let labels = analysis.step_labels();
    let mut want = expect.iter().peekable();
    for label in &labels {
        if want.peek().is_some_and(|w| w.as_str() == *label) {
            want.next();
        }
    }
    r.details = analysis
        .events
        .iter()
        .map(|e| format!("{:>10.6}  {}", e.rel_time, e.info))
        .collect();
    match want.next() {
        None => {
            r.outcome = Outcome::Met;
            r.observed = format!(
                "all {} found in order among {} DICOM events",
                expect.len(),
                labels.len()
            );
        }
        Some(missing) => {
            r.outcome = Outcome::NotMet;
            let matched = expect.len() - want.count() - 1;
            r.observed = format!(
                "{matched} of {} found in order; `{missing}` never followed (seen: {})",
                expect.len(),
                if labels.is_empty() {
                    "no DICOM at all".to_string()
                } else {
                    labels.join(", ")
                }
            );
        }
    }
}
