//! A `modality` node: lab-agent (or the paper's pynetdicom image) idling until the
//! engine execs its steps; a TLS modality gets its client identity and the run's CA, a
//! signing one its document-signing identity (and runs in the toolbox, which has dcmsign).

use scenario::Node;

use super::{AGENT_FILES_DIR, Context, NodeSpec, SIGNER_PREFIX, identity_files, idle, signer_key};

pub(super) fn spec(cx: &Context, node: &Node) -> NodeSpec {
    let mut spec = NodeSpec::base(node, idle());
    if let Some(id) = cx.identities.get(&node.name) {
        spec.files = identity_files(id, AGENT_FILES_DIR, "client");
    }
    if let Some(id) = cx.identities.get(&signer_key(&node.name)) {
        // One run CA: `ca.pem` is the same file for TLS and signing.
        for file in identity_files(id, AGENT_FILES_DIR, SIGNER_PREFIX) {
            if !spec.files.iter().any(|f| f.name == file.name) {
                spec.files.push(file);
            }
        }
    }
    spec
}
