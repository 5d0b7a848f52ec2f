//! An `orthanc` node: Orthanc with the lab's configuration (`orthanc::config`), its TLS
//! identity, its Lua script, its storage on a tmpfs and, in a run, the grader's account.

use scenario::{Node, NodeKind};

use super::{Context, NodeFile, NodeSpec, Ready, identity_files};
use crate::{orthanc, pacs_evidence};

pub(super) fn spec(cx: &Context, node: &Node) -> NodeSpec {
    let NodeKind::Orthanc {
        aet,
        config,
        tls,
        lua,
        verbose,
        ..
    } = &node.kind
    else {
        unreachable!("pacs::spec is called for orthanc nodes");
    };
    let mut spec = NodeSpec::base(node, orthanc::command(*verbose));
    let identity = tls.as_ref().zip(cx.identities.get(&node.name));
    if let Some((_, id)) = identity {
        spec.files
            .extend(identity_files(id, orthanc::CONFIG_DIR, "server"));
    }
    let mut cfg = orthanc::config(
        &node.name,
        aet,
        identity.map(|(t, _)| t.require_client_certificate),
        config,
        cx.grader_password,
    );
    if let Some(script) = lua {
        spec.files.push(NodeFile::new(
            orthanc::CONFIG_DIR,
            "lab.lua",
            script.as_bytes(),
        ));
        cfg["LuaScripts"] = serde_json::json!([format!("{}/lab.lua", orthanc::CONFIG_DIR)]);
    }
    if let Some(password) = cx.grader_password {
        spec.files.push(NodeFile::new(
            pacs_evidence::GRADER_NETRC_DIR,
            pacs_evidence::GRADER_NETRC_FILE,
            pacs_evidence::grader_netrc(password),
        ));
    }
    spec.files.push(NodeFile::new(
        orthanc::CONFIG_DIR,
        "orthanc.json",
        serde_json::to_vec_pretty(&cfg).expect("a JSON value serializes"),
    ));
    // DCMTK inside Orthanc sets TCP_NODELAY on its sockets when this is set: only timing
    // changes (no 40 ms Nagle/delayed-ACK stalls), not the wire.
    spec.env = vec!["TCP_NODELAY=1".into()];
    spec.tmpfs = vec![(orthanc::STORAGE_DIR.into(), orthanc::STORAGE_TMPFS.into())];
    spec.ready = Ready::Pacs;
    spec
}
