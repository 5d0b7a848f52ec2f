//! `sniffer` and `ids` nodes: lab-agent tapping a lab network's bridge from the host's
//! network namespace, started once the lab is ready so that the capture holds the lab's
//! exchange and not the readiness probes. Their output goes to `/evidence`.

use scenario::{Node, NodeKind};

use super::{Context, NodeSpec, Output, Placement, Ready};
use crate::images::Image;
use crate::{limits, save};

/// Where the sniffer writes inside its container; copied out after it stops.
const SNIFFER_OUT: &str = "/evidence/capture.pcapng";
/// Where the IDS appends its alerts inside its container.
const IDS_OUT: &str = "/evidence/alerts.jsonl";

/// A tap's evidence: the sniffer's capture, or the IDS's alerts.
pub(super) fn output(node: &Node, run: &rundir::RunDir) -> Output {
    if matches!(node.kind, NodeKind::Ids { .. }) {
        Output {
            inner: IDS_OUT,
            dest: run.ids_alerts(&node.name),
            max: save::MAX_ALERTS_BYTES,
        }
    } else {
        Output {
            inner: SNIFFER_OUT,
            dest: run.capture(),
            max: save::MAX_CAPTURE_BYTES,
        }
    }
}

pub(super) fn spec(cx: &Context, node: &Node) -> NodeSpec {
    let bridge = |tap: &str| (cx.bridge)(tap);
    let (tap, cmd) = match &node.kind {
        NodeKind::Ids { tap, rules } => (
            tap,
            protocol::step::ids_command(&bridge(tap), IDS_OUT, rules.as_deref()),
        ),
        NodeKind::Sniffer { tap } => (
            tap,
            protocol::step::sniff_command(
                &bridge(tap),
                SNIFFER_OUT,
                Some(limits::capture_bytes(node)),
            ),
        ),
        _ => unreachable!("tap::spec is called for sniffer and ids nodes"),
    };
    let cmd = cmd.to_argv();
    let mut spec = NodeSpec::base(node, cmd);
    spec.image = Image::Agent;
    spec.placement = Placement::Tap {
        network: tap.clone(),
    };
    spec.ready = Ready::Line;
    spec.after_ready = true;
    spec
}
