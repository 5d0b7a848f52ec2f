//! `sniffer` and `ids` nodes: lab-agent tapping a lab network's bridge from the host's
//! network namespace, started once the lab is ready so that the capture holds the lab's
//! exchange and not the readiness probes. Their output goes to `/evidence`.

use scenario::{Node, NodeKind};

use super::{Context, NodeSpec, Placement, Ready};
use crate::images::Image;
use crate::limits;

/// Where the sniffer writes inside its container; copied out after it stops.
pub(crate) const SNIFFER_OUT: &str = "/evidence/capture.pcapng";
/// Where the IDS appends its alerts inside its container.
pub(crate) const IDS_OUT: &str = "/evidence/alerts.jsonl";

pub(super) fn spec(cx: &Context, node: &Node) -> NodeSpec {
    let (NodeKind::Sniffer { tap } | NodeKind::Ids { tap }) = &node.kind else {
        unreachable!("tap::spec is called for sniffer and ids nodes");
    };
    let bridge = (cx.bridge)(tap);
    let cmd: Vec<String> = if matches!(node.kind, NodeKind::Ids { .. }) {
        vec![
            "lab-agent".into(),
            "ids".into(),
            "--iface".into(),
            bridge,
            "--alerts".into(),
            IDS_OUT.into(),
        ]
    } else {
        vec![
            "lab-agent".into(),
            "sniff".into(),
            "--iface".into(),
            bridge,
            "--out".into(),
            SNIFFER_OUT.into(),
            "--max-bytes".into(),
            limits::capture_bytes(node).to_string(),
        ]
    };
    let mut spec = NodeSpec::base(node, cmd);
    spec.image = Image::Agent;
    spec.placement = Placement::Tap {
        network: tap.clone(),
    };
    spec.ready = Ready::Line(&["\"capturing\"", "\"watching\"", "\"listening\""]);
    spec.after_ready = true;
    spec
}
