//! An `attacker` node: lab-agent (or the toolbox image) idling for its steps, or running
//! a daemon as its main process (`sniff` of its own interface, an on-path `proxy`); an
//! ARP spoofer forwards what it attracts; nmap's `dicom-brute` finds its guesses in a file.

use scenario::step_rules::DAEMON_UPSTREAM;
use scenario::{Action, Node, NodeKind, Scenario};

use super::{AGENT_FILES_DIR, Context, NodeFile, NodeSpec, Ready, idle};
use crate::{limits, orthanc};

/// Where an attacker's `sniff` daemon writes its own capture.
pub(crate) const ATTACKER_CAPTURE: &str = "/evidence/attacker.pcapng";
/// How long a proxy daemon serves at most (a step's limit).
const DAEMON_MAX_SECS: u64 = 600;

pub(super) fn spec(cx: &Context, node: &Node) -> NodeSpec {
    let NodeKind::Attacker { daemon, .. } = &node.kind else {
        unreachable!("attacker::spec is called for attacker nodes");
    };
    let cmd = match daemon {
        Some(d) => daemon_cmd(cx.scenario, node, d),
        None => idle(),
    };
    let mut spec = NodeSpec::base(node, cmd);
    let mine = |verb: &'static str| {
        cx.scenario
            .steps
            .iter()
            .filter(move |s| s.node == node.name && s.action.verb() == verb)
    };
    // An ARP spoofer forwards what it attracts (on-path, not a black hole), in its own
    // network namespace only.
    if mine("arp-spoof").next().is_some() {
        spec.sysctls = [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.send_redirects", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    }
    // nmap's dicom-brute reads its guesses from a file (passdb).
    spec.files = mine("dicom-brute")
        .map(|s| {
            let list = match &s.action {
                Action::Agent { with, .. } => with
                    .get("called")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str())
                            .map(|v| format!("{v}\n"))
                            .collect::<String>()
                    })
                    .unwrap_or_default(),
                _ => String::new(),
            };
            NodeFile::new(AGENT_FILES_DIR, &passdb_name(&s.id), list)
        })
        .collect();
    if daemon.is_some() {
        spec.ready = Ready::Line;
    }
    spec
}

/// The file of `dicom-brute` step `step`'s guesses, in `AGENT_FILES_DIR`.
pub(crate) fn passdb_name(step: &str) -> String {
    format!("{step}.aets")
}

/// The command line of an attacker's daemon (its main process).
fn daemon_cmd(scenario: &Scenario, node: &Node, d: &scenario::Daemon) -> Vec<String> {
    let upstream = d
        .with
        .get(DAEMON_UPSTREAM)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or_else(|| {
            scenario
                .nodes
                .iter()
                .find(|n| matches!(n.kind, NodeKind::Orthanc { .. }))
                .map(|n| n.name.clone())
        });
    let target = protocol::step::DaemonTarget {
        capture_out: ATTACKER_CAPTURE.into(),
        max_bytes: Some(limits::capture_bytes(node)),
        listen: format!("0.0.0.0:{}", orthanc::DICOM_PORT),
        upstream: format!(
            "{}:{}",
            upstream.unwrap_or_else(|| "pacs".into()),
            orthanc::DICOM_PORT
        ),
        max_secs: DAEMON_MAX_SECS,
    };
    // The scenario checked the options' names and kinds; a value lab-agent refuses leaves
    // the node idle, and the wait for its ready line says it never started.
    protocol::step::daemon_command(&d.action, &target, &d.with)
        .map(|c| c.to_argv())
        .unwrap_or_else(|_| idle())
}
