use scenario::{CheckKind, Expectation, Scenario, StepExpect};
use serde::{Deserialize, Serialize};

use crate::Evidence;
use protocol::result::{Outcome as AgentOutcome, StoreOutcome, keys};

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

/// Grades every check of the scenario against the evidence, and adds a result for each
/// step that did not end as the lab expects (a step that went as expected adds nothing).
pub fn grade(scenario: &Scenario, evidence: &Evidence) -> Vec<CheckResult> {
    let mut results: Vec<CheckResult> = scenario
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
                CheckKind::AttackSucceeded { step, node, expect } => {
                    attack_succeeded(&mut r, evidence, step.as_deref(), node.as_deref(), *expect)
                }
                CheckKind::IdsAlerts {
                    node,
                    rule,
                    from,
                    min,
                    max,
                } => ids_alerts(
                    &mut r,
                    evidence,
                    node,
                    rule.as_deref(),
                    from.as_deref(),
                    (*min, *max),
                ),
                CheckKind::PacsFileWritten { node, path, expect } => {
                    file_written(&mut r, evidence, node, path, *expect)
                }
                CheckKind::PacsDataAltered { node, expect } => {
                    data_altered(&mut r, evidence, scenario, node, *expect)
                }
                CheckKind::PacsSignatures { node, expect } => {
                    crate::signatures::grade(&mut r, evidence, node, *expect)
                }
                CheckKind::LogLines {
                    node,
                    contains,
                    min,
                    max,
                } => log_lines(&mut r, evidence, node, contains, *min, *max),
            }
            r
        })
        .collect();
    for step in &scenario.steps {
        if step.expect == StepExpect::Any {
            continue;
        }
        let record = evidence
            .steps
            .iter()
            .find(|r| r.id == step.id || (r.id.is_empty() && r.index == step.index));
        let want_ok = step.expect == StepExpect::Success;
        let (outcome, observed) = match record {
            Some(r) if r.ok == want_ok => continue,
            Some(r) => (
                Outcome::NotMet,
                match &r.error {
                    Some(e) => format!("it failed: {e}"),
                    None if r.ok => "it succeeded".to_string(),
                    None => format!("it failed (exit {})", r.exit_code),
                },
            ),
            None => (
                Outcome::NotMet,
                "it did not run (an earlier step or the run failed)".to_string(),
            ),
        };
        results.push(CheckResult {
            id: format!("step:{}", step.id),
            kind: "step".into(),
            mitre: None,
            description: Some(format!(
                "step {} ({} {})",
                step.index,
                step.node,
                step.action.verb()
            )),
            expected: format!(
                "{} {} {}",
                step.action.verb(),
                if want_ok { "succeeds" } else { "fails" },
                step.action.target()
            ),
            observed,
            finding: None,
            outcome,
            details: Vec::new(),
        });
    }
    results
}
fn kind_name(kind: &CheckKind) -> &'static str {
    match kind {
        CheckKind::PacsInstances { .. } => "pacs.instances",
        CheckKind::PhiInClear { .. } => "capture.phi_in_clear",
        CheckKind::DicomInClear { .. } => "capture.dicom_in_clear",
        CheckKind::Sequence { .. } => "capture.sequence",
        CheckKind::AttackSucceeded { .. } => "attack.succeeded",
        CheckKind::IdsAlerts { .. } => "ids.alerts",
        CheckKind::PacsFileWritten { .. } => "pacs.file_written",
        CheckKind::PacsDataAltered { .. } => "pacs.data_altered",
        CheckKind::PacsSignatures { .. } => "pacs.signatures",
        CheckKind::LogLines { .. } => "log.lines",
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
    let seen = analysis.phi_lines();
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

fn expect_words(expect: Expectation, finding: &str, none: &str) -> String {
    match expect {
        Expectation::Finding => format!("{finding} (finding)"),
        Expectation::None => format!("{none} (none)"),
    }
}

fn judge(r: &mut CheckResult, found: bool, expect: Expectation) {
    r.finding = Some(found);
    r.outcome = if found == (expect == Expectation::Finding) {
        Outcome::Met
    } else {
        Outcome::NotMet
    };
}

/// The last JSON object a daemon printed in its log (its summary on exit).
fn last_json_line(log: &str) -> Option<serde_json::Value> {
    log.lines().rev().find_map(|l| {
        serde_json::from_str::<serde_json::Value>(l.trim())
            .ok()
            .filter(|v| v.is_object())
    })
}

fn attack_succeeded(
    r: &mut CheckResult,
    ev: &Evidence,
    step: Option<&str>,
    node: Option<&str>,
    expect: Expectation,
) {
    let what = step
        .map(|s| format!("step `{s}`"))
        .or_else(|| node.map(|n| format!("`{n}`")))
        .unwrap_or_default();
    r.expected = expect_words(
        expect,
        &format!("the attack of {what} succeeds"),
        &format!("the attack of {what} fails"),
    );
    let result = match (step, node) {
        (Some(id), _) => ev
            .steps
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.result.clone()),
        (None, Some(n)) => ev.logs.get(n).and_then(|l| last_json_line(l)),
        _ => None,
    };
    let Some(result) = result.filter(|v| v.is_object()) else {
        r.observed = format!("unknown: {what} left no result (did it run?)");
        return;
    };
    let Some(success) = AgentOutcome::of(&result).success else {
        r.observed = format!("unknown: {what} said nothing about success: {result}");
        return;
    };
    judge(r, success, expect);
    // One line a student reads: scalars as they are, empty lists left out, lists of objects
    // counted (the whole result is in `details`).
    let mut summary = result
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| ![keys::ACTION, keys::SUCCESS].contains(&k.as_str()))
        .filter(|(_, v)| !v.as_array().is_some_and(|a| a.is_empty()))
        .map(|(k, v)| match v.as_array() {
            Some(a) if a.iter().any(|x| x.is_object()) => format!("{k}: {} item(s)", a.len()),
            _ => format!("{k}={v}"),
        })
        .collect::<Vec<_>>();
    summary.truncate(6);
    r.observed = format!(
        "{}: {}",
        if success {
            "finding: the attack worked"
        } else {
            "none: the attack failed"
        },
        summary.join(", ")
    );
    r.details = vec![result.to_string()];
}

fn ids_alerts(
    r: &mut CheckResult,
    ev: &Evidence,
    node: &str,
    rule: Option<&str>,
    from: Option<&str>,
    (min, max): (u64, Option<u64>),
) {
    let what = match (rule, from) {
        (Some(rule), Some(from)) => format!("`{rule}` alert(s) from `{from}`"),
        (Some(rule), None) => format!("`{rule}` alert(s)"),
        (None, Some(from)) => format!("alert(s) from `{from}`"),
        (None, None) => "alert(s)".to_string(),
    };
    r.expected = match max {
        Some(max) if max == min => format!("IDS `{node}` raises exactly {min} {what}"),
        Some(max) if min == 0 => format!("IDS `{node}` raises at most {max} {what}"),
        Some(max) => format!("IDS `{node}` raises {min} to {max} {what}"),
        None => format!("IDS `{node}` raises at least {min} {what}"),
    };
    let Some(alerts) = ev.alerts.get(node) else {
        r.observed = format!("unknown: no alerts file was saved for IDS `{node}`");
        return;
    };
    // A source is an address; which node owned it the run recorded when its nodes were up.
    let sources: Option<Vec<std::net::IpAddr>> = match from {
        None => None,
        Some(from) => match &ev.addresses {
            Ok(map) => Some(
                map.nodes
                    .iter()
                    .filter(|n| n.node == from)
                    .flat_map(|n| n.addresses.iter().map(|a| std::net::IpAddr::V4(a.ipv4)))
                    .collect(),
            ),
            Err(e) => {
                r.observed = format!("unknown: which address was `{from}`'s is not recorded ({e})");
                return;
            }
        },
    };
    let matching: Vec<&serde_json::Value> = alerts
        .iter()
        .filter(|a| rule.is_none_or(|rule| protocol::result::Alert::rule_of(a) == Some(rule)))
        .filter(|a| {
            sources.as_ref().is_none_or(|ips| {
                protocol::result::Alert::source_of(a)
                    .and_then(|s| s.parse().ok())
                    .is_some_and(|ip| ips.contains(&ip))
            })
        })
        .collect();
    let n = matching.len() as u64;
    r.observed = format!("{n} {what} ({} alerts in all)", alerts.len());
    r.details = matching.iter().map(|a| a.to_string()).collect();
    r.outcome = if n >= min && max.is_none_or(|max| n <= max) {
        Outcome::Met
    } else {
        Outcome::NotMet
    };
}

fn file_written(r: &mut CheckResult, ev: &Evidence, node: &str, path: &str, expect: Expectation) {
    r.expected = expect_words(
        expect,
        &format!("{path} was written in PACS `{node}`"),
        &format!("{path} does not exist in PACS `{node}`"),
    );
    match ev.pacs.get(node).and_then(|p| p.files.get(path)) {
        Some(&exists) => {
            judge(r, exists, expect);
            r.observed = if exists {
                format!("finding: {path} exists")
            } else {
                format!("none: {path} does not exist")
            };
        }
        None => r.observed = format!("unknown: whether {path} exists in `{node}` was not recorded"),
    }
}

fn data_altered(
    r: &mut CheckResult,
    ev: &Evidence,
    scenario: &Scenario,
    node: &str,
    expect: Expectation,
) {
    r.expected = expect_words(
        expect,
        "a stored instance differs from what was sent (PatientName or image)",
        "every stored instance is what was sent",
    );
    let sent: Vec<&str> = scenario
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            scenario::Action::Store { study, .. } => Some(study.patient.as_str()),
            _ => None,
        })
        .collect();
    let tags = match ev.pacs.get(node).map(|p| &p.tags) {
        Some(Ok(t)) => t,
        Some(Err(why)) => {
            r.observed = format!("unknown: {why}");
            return;
        }
        None => {
            r.observed = format!("unknown: no state of PACS `{node}` was saved");
            return;
        }
    };
    if tags.is_empty() {
        r.observed = "unknown: the PACS holds no instance to compare".into();
        return;
    }
    // What each store step reports it sent: the first frame's fingerprint per instance.
    let sent_frames: std::collections::BTreeMap<String, String> = ev
        .steps
        .iter()
        .filter(|s| s.action == "store")
        .filter_map(|s| StoreOutcome::deserialize(s.result.as_ref()?).ok())
        .flat_map(|r| r.instances)
        .filter_map(|i| Some((i.sop_instance_uid, i.pixel_sha256?)))
        .collect();
    let mut altered: Vec<String> = Vec::new();
    let (mut names_changed, mut images_changed, mut instances_altered) = (0usize, 0usize, 0usize);
    for t in tags {
        let id = t.id.as_str();
        let name = t.patient_name.as_deref().unwrap_or("");
        let before = altered.len();
        if !sent.contains(&name) {
            names_changed += 1;
            altered.push(format!("{id} has PatientName {name:?}, sent {sent:?}"));
        }
        let stored_frame = t.first_frame_sha256.as_deref();
        let sent_frame = t
            .sop_instance_uid
            .as_deref()
            .and_then(|uid| sent_frames.get(uid));
        if let (Some(stored_hash), Some(sent_hash)) = (stored_frame, sent_frame)
            && stored_hash != sent_hash
        {
            images_changed += 1;
            altered.push(format!(
                "{id}: the image is not the one sent (first frame sha256 {} stored, {} sent)",
                &stored_hash[..stored_hash.len().min(12)],
                &sent_hash[..sent_hash.len().min(12)]
            ));
        }
        if altered.len() > before {
            instances_altered += 1;
        }
    }
    judge(r, !altered.is_empty(), expect);
    r.observed = if altered.is_empty() {
        let images = if sent_frames.is_empty() {
            String::new()
        } else {
            " and the image".to_string()
        };
        format!(
            "none: all {} stored instance(s) carry the PatientName{images} sent",
            tags.len()
        )
    } else {
        format!(
            "finding: {instances_altered} of {} stored instance(s) altered on the way \
             ({names_changed} PatientName, {images_changed} image)",
            tags.len()
        )
    };
    r.details = altered;
}

fn log_lines(
    r: &mut CheckResult,
    ev: &Evidence,
    node: &str,
    contains: &str,
    min: Option<u64>,
    max: Option<u64>,
) {
    let range = match (min, max) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "any number of".into(),
    };
    r.expected = format!("{range} line(s) of {node}'s log contain {contains:?}");
    let Some(log) = ev.logs.get(node) else {
        r.observed = format!("unknown: no log of `{node}` was saved");
        return;
    };
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(contains)).collect();
    let n = lines.len() as u64;
    r.observed = format!("{n} line(s)");
    r.details = lines.iter().take(20).map(|l| l.to_string()).collect();
    r.outcome = if min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m) {
        Outcome::Met
    } else {
        Outcome::NotMet
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::PacsState;
    use serde_json::json;
    use std::collections::BTreeMap;

    const LAB: &str = include_str!("../../../labs/proxy-tamper.yaml");
    const UID: &str = "2.25.1";

    fn evidence(
        stored_name: &str,
        sent_frame: Option<&str>,
        stored_frame: Option<&str>,
    ) -> Evidence {
        let mut sent = json!({"sop_instance_uid": UID, "status": 0});
        if let Some(f) = sent_frame {
            sent["pixel_sha256"] = json!(f);
        }
        let stored = rundir::StoredInstance {
            id: "abc-1".into(),
            patient_name: Some(stored_name.into()),
            sop_instance_uid: Some(UID.into()),
            first_frame_sha256: stored_frame.map(str::to_string),
            ..Default::default()
        };
        let pacs = PacsState {
            instances: Ok(vec!["abc-1".into()]),
            tags: Ok(vec![stored]),
            files: BTreeMap::new(),
            signatures: Err("none".into()),
        };
        Evidence {
            capture: Err("none".into()),
            pacs: BTreeMap::from([("pacs".to_string(), pacs)]),
            steps: vec![rundir::StepRecord {
                index: 1,
                id: "store".into(),
                node: "modality".into(),
                action: "store".into(),
                ok: true,
                exit_code: 0,
                elapsed_ms: 0,
                result: Some(json!({"instances": [sent]})),
                error: None,
            }],
            logs: BTreeMap::new(),
            ..Default::default()
        }
    }

    fn altered(ev: &Evidence) -> CheckResult {
        let lab = scenario::parse_str("proxy-tamper.yaml", LAB, &BTreeMap::new()).unwrap();
        grade(&lab, ev)
            .into_iter()
            .find(|r| r.id == "data-altered")
            .unwrap()
    }

    #[test]
    fn the_same_name_and_image_is_no_finding() {
        let r = altered(&evidence("DOE^JANE", Some("aa"), Some("aa")));
        assert_eq!(r.finding, Some(false), "{r:?}");
        assert!(
            r.observed.contains("PatientName and the image sent"),
            "{}",
            r.observed
        );
    }

    #[test]
    fn a_changed_image_alone_is_a_finding() {
        let r = altered(&evidence("DOE^JANE", Some("aa"), Some("bb")));
        assert_eq!(r.finding, Some(true), "{r:?}");
        assert!(
            r.observed.contains("(0 PatientName, 1 image)"),
            "{}",
            r.observed
        );
        assert!(r.details[0].contains("not the one sent"), "{:?}", r.details);
    }

    #[test]
    fn a_changed_name_is_a_finding_and_old_runs_grade_on_names() {
        // Runs saved before images were fingerprinted have no digests on either side.
        let r = altered(&evidence("ATTACKER^EVE", None, None));
        assert_eq!(r.finding, Some(true), "{r:?}");
        assert!(
            r.observed.contains("(1 PatientName, 0 image)"),
            "{}",
            r.observed
        );
        let r = altered(&evidence("DOE^JANE", None, Some("bb")));
        assert_eq!(r.finding, Some(false), "{r:?}");
    }

    #[test]
    fn alerts_from_a_node_are_told_by_the_address_it_owned() {
        let lab = r#"
apiVersion: dicom-range/v1
kind: Lab
metadata: { name: ids-from, title: t, threat: lack-of-intrusion-detection, variant: hardened }
networks: { clinical: { internal: true } }
nodes:
  pacs: { kind: orthanc, networks: [clinical] }
  modality: { kind: modality, networks: [clinical] }
  attacker: { kind: attacker, networks: [clinical] }
  ids: { kind: ids, tap: clinical }
steps:
  - { node: modality, action: echo, to: pacs }
checks:
  - { id: flood-seen, kind: ids.alerts, rule: association-flood, from: attacker }
  - { id: no-false-alerts, kind: ids.alerts, from: modality, max: 0 }
  - { id: two-in-all, kind: ids.alerts, min: 2, max: 2 }
"#;
        let lab = scenario::parse_str("ids-from.yaml", lab, &BTreeMap::new()).unwrap();
        let node = |name: &str, ip: &str| rundir::NodeAddresses {
            node: name.into(),
            addresses: vec![rundir::NetworkAddress {
                network: "clinical".into(),
                ipv4: ip.parse().unwrap(),
            }],
            ..Default::default()
        };
        let alert =
            |rule: &str, source: &str| json!({"event": "alert", "rule": rule, "source": source});
        let mut ev = Evidence {
            alerts: BTreeMap::from([(
                "ids".to_string(),
                vec![
                    alert("association-flood", "10.0.0.9"),
                    alert("phi-in-clear", "10.0.0.3"),
                ],
            )]),
            addresses: Ok(rundir::AddressMap {
                schema: rundir::ADDRESSES_SCHEMA.into(),
                nodes: vec![node("modality", "10.0.0.3"), node("attacker", "10.0.0.9")],
            }),
            ..Default::default()
        };
        let outcome = |ev: &Evidence, id: &str| {
            grade(&lab, ev)
                .into_iter()
                .find(|r| r.id == id)
                .unwrap()
                .outcome
        };
        assert_eq!(outcome(&ev, "flood-seen"), Outcome::Met);
        // The PHI alert's source is the modality's address: a false alert.
        assert_eq!(outcome(&ev, "no-false-alerts"), Outcome::NotMet);
        assert_eq!(outcome(&ev, "two-in-all"), Outcome::Met);
        ev.alerts.get_mut("ids").unwrap().pop();
        assert_eq!(outcome(&ev, "no-false-alerts"), Outcome::Met);
        assert_eq!(outcome(&ev, "two-in-all"), Outcome::NotMet);
        // Without the map, whose address it was is unknown: an error, not a pass.
        ev.addresses = Err("no addresses.json".into());
        assert_eq!(outcome(&ev, "no-false-alerts"), Outcome::Error);
    }
}
