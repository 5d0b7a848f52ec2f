//! SARIF 2.1.0: security findings in the format code-scanning tools import.
//!
//! One SARIF `run` per lab run, tool driver `dicom-range` with a rule per check kind.
//! A result is emitted for each check that demonstrated a weakness (`finding == true`):
//! level `error` when the lab did not expect it (the check is not met: a hardened lab
//! leaking), `warning` when it did (a vulnerable lab demonstrating its weakness, the
//! point of the exercise). MITRE ids go in `properties.mitre`. The location is the
//! resolved lab file saved in the run directory (`scenario.yaml`), with the line of the
//! check when it is known ([`sarif_with_lines`]).

use std::collections::BTreeMap;

use checks::{CheckResult, Outcome};
use serde::Serialize;
use serde_json::Value;

use crate::RunReport;

/// The `$schema` of the SARIF files written.
pub const SARIF_SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// `uriBaseId` of the run directory in locations.
pub const RUN_DIR_BASE: &str = "RUN_DIR";

struct Rule {
    kind: &'static str,
    name: &'static str,
    short: &'static str,
    full: &'static str,
    help: &'static str,
    /// GitHub's `security-severity` (CVSS-like, 0-10), for security rules.
    severity: Option<&'static str>,
}

const RULES: &[Rule] = &[
    Rule {
        kind: "capture.phi_in_clear",
        name: "PhiInClear",
        short: "Patient data readable in clear on the network",
        full: "DICOM data sets crossed the network unencrypted: patient attributes (name, id, birth date...) can be read by anyone who captures the traffic.",
        help: "Protect DICOM associations with TLS (DICOM PS3.15 Annex B, secure transport connection profiles), on every hop that carries patient data. MITRE ATT&CK mitigation M1041 (Encrypt Sensitive Information).",
        severity: Some("7.5"),
    },
    Rule {
        kind: "capture.dicom_in_clear",
        name: "DicomInClear",
        short: "DICOM exchange readable on the wire",
        full: "DICOM upper-layer PDUs (association requests with AE titles, DIMSE commands) were seen unencrypted: an eavesdropper learns who talks to whom and can tamper with or replay the exchange.",
        help: "Use DICOM TLS between modality and PACS so that only TLS records cross the network (MITRE M1041).",
        severity: Some("5.3"),
    },
    Rule {
        kind: "capture.sequence",
        name: "DicomSequence",
        short: "Expected DICOM PDU sequence in the capture",
        full: "The capture is expected to show these DICOM steps in this order.",
        help: "Compare the timeline (timeline.json, or the capture in Wireshark with the `dicom` filter) with the expected sequence.",
        severity: None,
    },
    Rule {
        kind: "pacs.instances",
        name: "PacsInstances",
        short: "Instances stored in the PACS",
        full: "The PACS holds the expected number of instances at the end of the run: clinical traffic works.",
        help: "Look at the PACS log (logs/<node>.log) and the step results in report.json.",
        severity: None,
    },
    Rule {
        kind: "attack.succeeded",
        name: "AttackSucceeded",
        short: "An attack against the DICOM service succeeded",
        full: "An attack step of the lab (or the attacker's long-running process) reported success against the PACS or the modality.",
        help: "Read the attack step's result in report.json and the PACS log; apply the mitigation the lab's MITRE ids name.",
        severity: Some("8.1"),
    },
    Rule {
        kind: "pacs.file_written",
        name: "PacsFileWritten",
        short: "An arbitrary file was written on the PACS",
        full: "A file the lab names exists in the PACS container at the end of the run: an attacker could write where they should not.",
        help: "Upgrade the PACS, restrict what its REST API and storage paths accept, and run it with the least privileges.",
        severity: Some("9.0"),
    },
    Rule {
        kind: "pacs.data_altered",
        name: "PacsDataAltered",
        short: "Patient data altered between modality and PACS",
        full: "A stored instance's patient attributes differ from what the modality sent: the data set was tampered with on the way.",
        help: "Protect the association's integrity with DICOM TLS and authenticate both ends (MITRE M1041).",
        severity: Some("8.1"),
    },
    Rule {
        kind: "pacs.signatures",
        name: "PacsUnsignedInstances",
        short: "Archived instances carry no digital signature",
        full: "DCMTK's dcmsign found no DICOM digital signature on an archived instance: nothing can tell an image altered on the way (or in the archive) from the one the modality made.",
        help: "Have the modality sign each instance (DICOM PS3.15 Annex C digital signatures) and verify the signatures where the instances are archived and read; TLS protects the hop, a signature protects the object (MITRE M1041).",
        severity: Some("6.5"),
    },
    Rule {
        kind: "ids.alerts",
        name: "IdsAlerts",
        short: "The IDS raised the expected alerts",
        full: "The intrusion detection node saw the attack and raised alerts of the expected rule.",
        help: "See the IDS alerts saved in the run directory.",
        severity: None,
    },
    Rule {
        kind: "step",
        name: "StepOutcome",
        short: "A lab step ended as the lab expects",
        full: "A step of the lab (an action of a node) succeeded or failed as the lab says it should.",
        help: "See the step's result line in logs/steps.jsonl and the node's log.",
        severity: None,
    },
    Rule {
        kind: "log.lines",
        name: "LogLines",
        short: "A node's log holds the expected lines",
        full: "Lines of a node's log containing a given text, counted.",
        help: "See the node's log under logs/ in the run directory.",
        severity: None,
    },
];

/// SARIF 2.1.0 log of the runs' security findings.
pub fn sarif(reports: &[RunReport]) -> Value {
    sarif_with_lines(reports, &|_, _| None)
}

/// [`sarif`], with `line(report, check)` giving the 1-based line of a check in the run's
/// `scenario.yaml` when known (SARIF viewers then point at it).
pub fn sarif_with_lines(
    reports: &[RunReport],
    line: &dyn Fn(&RunReport, &CheckResult) -> Option<u64>,
) -> Value {
    let log = Log {
        schema: SARIF_SCHEMA_URI,
        version: "2.1.0",
        runs: reports.iter().map(|r| run(r, line)).collect(),
    };
    serde_json::to_value(log).expect("plain structs serialise")
}

// The subset of the SARIF 2.1.0 object model written here, field names as the schema
// spells them. (serde-sarif would bring the whole generated model and a build script for
// the dozen objects used.)

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool,
    automation_details: Id,
    original_uri_base_ids: BTreeMap<&'static str, BaseId>,
    invocations: Vec<Invocation<'a>>,
    results: Vec<SarifResult<'a>>,
    properties: RunProperties<'a>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<RuleDescriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleDescriptor {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    short_description: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_description: Option<Message>,
    help: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_configuration: Option<Configuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<RuleProperties>,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

fn text(t: impl Into<String>) -> Message {
    Message { text: t.into() }
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties {
    #[serde(rename = "security-severity", skip_serializing_if = "Option::is_none")]
    security_severity: Option<&'static str>,
    tags: Vec<&'static str>,
}

#[derive(Serialize)]
struct Id {
    id: String,
}

#[derive(Serialize)]
struct BaseId {
    description: Message,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    execution_successful: bool,
    exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time_utc: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Message,
}

#[derive(Serialize)]
struct RunProperties<'a> {
    lab: &'a str,
    title: &'a str,
    threat: &'a str,
    variant: &'a str,
    mitre: &'a [String],
    verdict: crate::Verdict,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    kind: &'static str,
    level: &'static str,
    message: Message,
    locations: Vec<Location<'a>>,
    partial_fingerprints: BTreeMap<&'static str, String>,
    properties: ResultProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: PhysicalLocation,
    logical_locations: Vec<LogicalLocation<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: &'static str,
    uri_base_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation<'a> {
    name: &'a str,
    fully_qualified_name: String,
    kind: &'static str,
}

#[derive(Serialize)]
struct ResultProperties<'a> {
    mitre: Vec<String>,
    lab: &'a str,
    run_id: &'a str,
    check: &'a str,
    variant: &'a str,
    expected: bool,
    outcome: Outcome,
}

fn rule_descriptor(rule: &Rule) -> RuleDescriptor {
    let mut tags = vec!["dicom"];
    if rule.severity.is_some() {
        tags.insert(0, "security");
    }
    RuleDescriptor {
        id: rule.kind.to_string(),
        name: Some(rule.name),
        short_description: text(rule.short),
        full_description: Some(text(rule.full)),
        help: text(rule.help),
        default_configuration: Some(Configuration {
            level: if rule.severity.is_some() {
                "error"
            } else {
                "note"
            },
        }),
        properties: Some(RuleProperties {
            security_severity: rule.severity,
            tags,
        }),
    }
}

fn run<'a>(r: &'a RunReport, line: &dyn Fn(&RunReport, &CheckResult) -> Option<u64>) -> Run<'a> {
    // Every known kind, then any kind this report has that this build does not know.
    let mut rules: Vec<RuleDescriptor> = RULES.iter().map(rule_descriptor).collect();
    let mut index: BTreeMap<String, usize> = RULES
        .iter()
        .enumerate()
        .map(|(i, rule)| (rule.kind.to_string(), i))
        .collect();
    for c in &r.checks {
        if !index.contains_key(&c.kind) {
            index.insert(c.kind.clone(), rules.len());
            rules.push(RuleDescriptor {
                id: c.kind.clone(),
                name: None,
                short_description: text(format!("dicom-range check `{}`", c.kind)),
                full_description: None,
                help: text("See the check's description and the run's report.html."),
                default_configuration: None,
                properties: None,
            });
        }
    }

    let results = r
        .checks
        .iter()
        .filter(|c| c.finding == Some(true))
        .map(|c| result(r, c, index[&c.kind], line(r, c)))
        .collect();

    let invocation = Invocation {
        execution_successful: r.error.is_none(),
        exit_code: r.verdict.exit_code(),
        start_time_utc: is_rfc3339(&r.started_at).then_some(r.started_at.as_str()),
        tool_execution_notifications: r
            .error
            .iter()
            .map(|e| Notification {
                level: "error",
                message: text(e.as_str()),
            })
            .collect(),
    };

    Run {
        tool: Tool {
            driver: Driver {
                name: "dicom-range",
                version: env!("CARGO_PKG_VERSION"),
                information_uri: "https://attack.mitre.org/mitigations/M1041/",
                rules,
            },
        },
        automation_details: Id {
            id: format!("{}/{}", r.lab, r.run_id),
        },
        original_uri_base_ids: BTreeMap::from([(
            RUN_DIR_BASE,
            BaseId {
                description: text(format!(
                    "the run directory of {} (runs/{}/), which holds the resolved lab file scenario.yaml and the evidence",
                    r.run_id, r.run_id
                )),
            },
        )]),
        invocations: vec![invocation],
        results,
        properties: RunProperties {
            lab: &r.lab,
            title: &r.title,
            threat: &r.threat,
            variant: &r.variant,
            mitre: &r.mitre,
            verdict: r.verdict,
        },
    }
}

fn result<'a>(
    r: &'a RunReport,
    c: &'a CheckResult,
    rule_index: usize,
    line: Option<u64>,
) -> SarifResult<'a> {
    // A finding the lab expected is a demonstrated weakness (the check is met); one it
    // did not expect is a real problem of a lab meant to be hardened.
    let expected = c.outcome == Outcome::Met;
    let level = if expected { "warning" } else { "error" };
    let mitre: Vec<String> = match &c.mitre {
        Some(m) => vec![m.clone()],
        None => r.mitre.clone(),
    };
    let what = c.description.as_deref().unwrap_or(&c.expected);
    let message = if expected {
        format!(
            "{}: {} (lab `{}`, {} variant: weakness demonstrated as expected). Observed {}.",
            c.id, what, r.lab, r.variant, c.observed
        )
    } else {
        format!(
            "{}: {} (lab `{}`, {} variant: NOT expected, the lab expected {}). Observed {}.",
            c.id, what, r.lab, r.variant, c.expected, c.observed
        )
    };
    SarifResult {
        rule_id: &c.kind,
        rule_index,
        kind: "fail",
        level,
        message: text(message),
        locations: vec![Location {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation {
                    uri: "scenario.yaml",
                    uri_base_id: RUN_DIR_BASE,
                },
                region: line
                    .filter(|l| *l >= 1)
                    .map(|start_line| Region { start_line }),
            },
            logical_locations: vec![LogicalLocation {
                name: &c.id,
                fully_qualified_name: format!("{}/{}", r.lab, c.id),
                kind: "check",
            }],
        }],
        partial_fingerprints: BTreeMap::from([(
            "dicomRangeCheck/v1",
            format!("{}/{}/{}", r.lab, c.id, c.kind),
        )]),
        properties: ResultProperties {
            mitre,
            lab: &r.lab,
            run_id: &r.run_id,
            check: &c.id,
            variant: &r.variant,
            expected,
            outcome: c.outcome,
        },
    }
}

/// Loose RFC 3339 shape check (`2026-11-25T12:23:14.27Z`), enough to keep SARIF's
/// `date-time` honest when `started_at` is empty or odd.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && (s.ends_with('Z') || s.ends_with('z') || s[19..].contains(['+', '-']))
}
