//! A `modality` node: lab-agent (or the paper's pynetdicom image) idling until the
//! engine execs its steps; a TLS modality gets its client identity and the run's CA.

use scenario::Node;

use super::{AGENT_FILES_DIR, Context, NodeSpec, identity_files, idle};

pub(super) fn spec(cx: &Context, node: &Node) -> NodeSpec {
    let mut spec = NodeSpec::base(node, idle());
    if let Some(id) = cx.identities.get(&node.name) {
        spec.files = identity_files(id, AGENT_FILES_DIR, "client");
    }
    spec
}
