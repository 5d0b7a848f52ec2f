//! The run directory (`runs/<id>/`): the one owner of its layout. Every path a run writes
//! and grading reads is named here ([`RunDir`]), and so are the typed records in it
//! ([`StepRecord`] in `logs/steps.jsonl`, [`StoredInstance`] in `pacs/<node>/tags.json`,
//! [`SignatureCheck`] in `pacs/<node>/signatures.json`, [`AddressMap`] in `addresses.json`).
//!
//! Two kinds of files live there. *Evidence* is written once, by the run (or by `lab gc`
//! for a run whose owner died): the lab file as it ran, logs, step results, captures, PACS
//! snapshots, IDS alerts, certificates. *Outputs* are derived from the evidence: the
//! reports, the timeline and `SHA256SUMS` over everything. The run writes its outputs next
//! to the evidence ([`RunDir::record`]); grading again (`lab report`) writes into
//! `regrade/` ([`RunDir::regrade`]), so the original record and the `SHA256SUMS` that
//! `lab verify` checks are never rewritten.
//!
//! Names inside come from lab files (node and step names, validated as identifiers by
//! `scenario`); [`component`] makes sure none of them can leave the directory all the same.
//! Knows no Docker, no DICOM, no grading.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod signatures;
pub use signatures::{MAX_SIGNATURES_BYTES, SignatureCheck, SignatureItem, SignatureState};

/// The lab file as it ran, parameters substituted.
pub const SCENARIO_FILE: &str = "scenario.yaml";
/// Node logs and step results.
pub const LOGS_DIR: &str = "logs";
/// One [`StepRecord`] per line.
pub const STEPS_FILE: &str = "logs/steps.jsonl";
/// The sniffer's capture.
pub const CAPTURE_FILE: &str = "capture.pcapng";
/// The run's CA and the TLS nodes' certificates and keys.
pub const PKI_DIR: &str = "pki";
/// Snapshots of each PACS's state, one folder per node: `pacs/<node>/instances.json`.
pub const PACS_DIR: &str = "pacs";
/// In a PACS's folder: Orthanc ids of the stored instances (REST `/instances`).
pub const PACS_INSTANCES_FILE: &str = "instances.json";
/// In a PACS's folder: one [`StoredInstance`] per instance described.
pub const PACS_TAGS_FILE: &str = "tags.json";
/// In a PACS's folder: whether each path a check asked about exists in the container.
pub const PACS_FILES_FILE: &str = "files.json";
/// In a PACS's folder: copies of the first stored files, `instances/<orthanc id>.dcm`.
pub const PACS_INSTANCES_DIR: &str = "instances";
/// In a PACS's folder: one [`SignatureCheck`] per kept file (`pacs.signatures` labs).
pub const PACS_SIGNATURES_FILE: &str = "signatures.json";
/// The IDS alerts: `ids/<node>/alerts.jsonl`.
pub const IDS_DIR: &str = "ids";
/// Attackers' own captures: `captures/<node>.pcapng`, `captures/<node>.<step>.pcapng`.
pub const CAPTURES_DIR: &str = "captures";
/// Raw output of attack tools: `attacks/<step>.nmap.xml`.
pub const ATTACKS_DIR: &str = "attacks";
/// Which node owns which address: one [`AddressMap`].
pub const ADDRESSES_FILE: &str = "addresses.json";
/// Where `lab report` writes what it grades again.
pub const REGRADE_DIR: &str = "regrade";

/// The report document, its renderings, and the checksums over the run.
pub const REPORT_FILE: &str = "report.json";
pub const JUNIT_FILE: &str = "junit.xml";
pub const SARIF_FILE: &str = "report.sarif";
pub const HTML_FILE: &str = "report.html";
/// The decoded DICOM timeline, one JSON event per line (derived from the capture).
pub const TIMELINE_FILE: &str = "timeline.json";
pub const SUMS_FILE: &str = "SHA256SUMS";
/// The reports an [`Outputs`] holds, in the order they are written.
pub const REPORT_FILES: &[&str] = &[REPORT_FILE, JUNIT_FILE, SARIF_FILE, HTML_FILE];

/// A run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

/// Where one grading's outputs go: the run directory itself, or its `regrade/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    dir: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> RunDir {
        RunDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The run id: the directory's name.
    pub fn id(&self) -> String {
        self.root
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }

    /// `rel` (one of the names here, or a path this type made) inside the directory.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn scenario(&self) -> PathBuf {
        self.join(SCENARIO_FILE)
    }

    pub fn logs(&self) -> PathBuf {
        self.join(LOGS_DIR)
    }

    /// `logs/<node>.log`.
    pub fn node_log(&self, node: &str) -> PathBuf {
        self.logs().join(format!("{}.log", component(node)))
    }

    pub fn steps(&self) -> PathBuf {
        self.join(STEPS_FILE)
    }

    pub fn capture(&self) -> PathBuf {
        self.join(CAPTURE_FILE)
    }

    pub fn addresses(&self) -> PathBuf {
        self.join(ADDRESSES_FILE)
    }

    pub fn pki(&self) -> PathBuf {
        self.join(PKI_DIR)
    }

    /// `pacs/<node>/`.
    pub fn pacs(&self, node: &str) -> PathBuf {
        self.join(PACS_DIR).join(component(node))
    }

    /// `ids/<node>/alerts.jsonl`.
    pub fn ids_alerts(&self, node: &str) -> PathBuf {
        self.join(IDS_DIR)
            .join(component(node))
            .join("alerts.jsonl")
    }

    /// `captures/<node>.pcapng`, relative: an attacker's own capture, whole.
    pub fn attacker_capture(node: &str) -> String {
        format!("{CAPTURES_DIR}/{}.pcapng", component(node))
    }

    /// `captures/<node>.<step>.pcapng`, relative: what an attacker had captured when its
    /// `harvest` step ran.
    pub fn harvest_capture(node: &str, step: &str) -> String {
        format!(
            "{CAPTURES_DIR}/{}.{}.pcapng",
            component(node),
            component(step)
        )
    }

    /// `attacks/<step>.nmap.xml`, relative.
    pub fn nmap_xml(step: &str) -> String {
        format!("{ATTACKS_DIR}/{}.nmap.xml", component(step))
    }

    /// The outputs of the run itself, beside its evidence.
    pub fn record(&self) -> Outputs {
        Outputs {
            dir: self.root.clone(),
        }
    }

    /// The outputs of grading again (`lab report`): `regrade/`.
    pub fn regrade(&self) -> Outputs {
        Outputs {
            dir: self.join(REGRADE_DIR),
        }
    }

    /// Whether `rel` (a path relative to the directory) is evidence, not an output of
    /// grading: the reports, `SHA256SUMS` and `regrade/` are not.
    pub fn is_evidence(rel: &str) -> bool {
        !(REPORT_FILES.contains(&rel)
            || rel == SUMS_FILE
            || rel == REGRADE_DIR
            || rel.starts_with(&format!("{REGRADE_DIR}/")))
    }

    /// The step results, as the run saved them. At most `MAX_STEPS_BYTES` are read; a
    /// line that is not a record is skipped (the file is evidence: hostile if edited).
    pub fn read_steps(&self) -> std::io::Result<Vec<StepRecord>> {
        let text = read_bounded(&self.steps(), MAX_STEPS_BYTES)?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// `records` as `logs/steps.jsonl` text.
    pub fn steps_text(records: &[StepRecord]) -> String {
        records
            .iter()
            .filter_map(|s| serde_json::to_string(s).ok())
            .map(|l| l + "\n")
            .collect()
    }

    /// What `pacs/<node>/tags.json` says, at most `MAX_TAGS_BYTES` of it.
    pub fn read_tags(&self, node: &str) -> Result<Vec<StoredInstance>, String> {
        let path = self.pacs(node).join(PACS_TAGS_FILE);
        let text =
            read_bounded(&path, MAX_TAGS_BYTES).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// What `pacs/<node>/signatures.json` says, at most `MAX_SIGNATURES_BYTES` of it.
    pub fn read_signatures(&self, node: &str) -> Result<Vec<SignatureCheck>, String> {
        read_json(
            &self.pacs(node).join(PACS_SIGNATURES_FILE),
            MAX_SIGNATURES_BYTES,
        )
    }

    /// The run's address map (`addresses.json`), at most `MAX_ADDRESSES_BYTES` of it.
    pub fn read_addresses(&self) -> Result<AddressMap, String> {
        AddressMap::read(&self.addresses())
    }
}

impl Outputs {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether these are the outputs of grading again (in `regrade/`).
    pub fn is_regrade(&self) -> bool {
        self.dir.file_name().is_some_and(|n| n == REGRADE_DIR)
    }

    pub fn report(&self) -> PathBuf {
        self.dir.join(REPORT_FILE)
    }

    pub fn timeline(&self) -> PathBuf {
        self.dir.join(TIMELINE_FILE)
    }

    pub fn sums(&self) -> PathBuf {
        self.dir.join(SUMS_FILE)
    }

    /// One of [`REPORT_FILES`] here.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The most of `logs/steps.jsonl` that is read (a lab has at most a few hundred steps).
pub const MAX_STEPS_BYTES: u64 = 64 << 20;
/// The most of a `tags.json` that is read (100 instances, 1 MiB of tags each at most).
pub const MAX_TAGS_BYTES: u64 = 128 << 20;
/// The most of an `addresses.json` that is read (a lab has a few dozen nodes at most).
pub const MAX_ADDRESSES_BYTES: u64 = 4 << 20;

/// A JSON record of the directory, at most `max` bytes of it (it may have been edited:
/// hostile).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, max: u64) -> Result<T, String> {
    let text = read_bounded(path, max).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    let f = std::fs::File::open(path)?;
    let read = f.take(max + 1).read_to_string(&mut text)?;
    if read as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes: not a run's"),
        ));
    }
    Ok(text)
}

/// `name` as one path component: anything but ASCII letters, digits, `-`, `_` and inner
/// dots becomes `_`, so that no name from a lab file can reach outside the directory.
pub fn component(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// One step of the lab as it ran (a line of `logs/steps.jsonl`, and `steps` in
/// `report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub index: usize,
    /// The step's id in the lab (`step-<index>` when the lab gives none).
    #[serde(default)]
    pub id: String,
    pub node: String,
    pub action: String,
    pub ok: bool,
    // Read with defaults: a record written by hand (a fixture) or by an older range may
    // leave them out, and grading needs only `id`, `ok`, `result` and `error`.
    #[serde(default)]
    pub exit_code: i64,
    #[serde(default)]
    pub elapsed_ms: u64,
    /// The agent's JSON result line, when it printed one.
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    /// Why it failed, in words.
    #[serde(default)]
    pub error: Option<String>,
}

/// One stored instance as a PACS snapshot describes it (`pacs/<node>/tags.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredInstance {
    /// Orthanc's id of the instance.
    pub id: String,
    #[serde(rename = "PatientName", default)]
    pub patient_name: Option<String>,
    #[serde(rename = "PatientID", default)]
    pub patient_id: Option<String>,
    #[serde(rename = "SOPInstanceUID", default)]
    pub sop_instance_uid: Option<String>,
    /// SHA-256 of the first frame's raw bytes (what lab-agent reports for what it sent).
    #[serde(
        rename = "FirstFrameSha256",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub first_frame_sha256: Option<String>,
    /// Why the instance's file was not kept, when it was to be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_not_kept: Option<String>,
}

/// Identifier of the `addresses.json` format.
pub const ADDRESSES_SCHEMA: &str = "dicom-range/addresses/v1";

/// Who owned which address in a run (`addresses.json`), as the daemon said when the nodes
/// were up. A capture says only addresses and the AE titles peers claim; this is what
/// names the host behind an address, offline (`lab report`, `lab inspect --addresses`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressMap {
    /// [`ADDRESSES_SCHEMA`].
    pub schema: String,
    pub nodes: Vec<NodeAddresses>,
}

/// One node of the lab and its addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddresses {
    pub node: String,
    /// The lab file's `kind` (`orthanc`, `modality`, `attacker`, `sniffer`, `ids`).
    pub kind: String,
    /// What the node is for in the run (`pacs`, `modality`, `attacker`, `tap`).
    #[serde(default)]
    pub role: String,
    /// Its own AE title in the lab file, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aet: Option<String>,
    /// One per lab network it joined; none for a tap (it lives in the host's namespace).
    #[serde(default)]
    pub addresses: Vec<NetworkAddress>,
}

/// A node's address on one lab network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAddress {
    /// The lab file's name of the network.
    pub network: String,
    pub ipv4: std::net::Ipv4Addr,
}

impl AddressMap {
    /// `path` read back, at most `MAX_ADDRESSES_BYTES` of it (the file is evidence: it
    /// may have been edited).
    pub fn read(path: &Path) -> Result<AddressMap, String> {
        read_json(path, MAX_ADDRESSES_BYTES)
    }

    /// The node that owns `ip`.
    pub fn owner(&self, ip: std::net::IpAddr) -> Option<&NodeAddresses> {
        self.nodes.iter().find(|n| {
            n.addresses
                .iter()
                .any(|a| std::net::IpAddr::V4(a.ipv4) == ip)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_name_leaves_the_directory() {
        let run = RunDir::new("/runs/r1");
        assert_eq!(
            run.node_log("../../etc/passwd"),
            Path::new("/runs/r1/logs/_.._.._etc_passwd.log")
        );
        assert_eq!(component(".."), "_..");
        assert_eq!(component(""), "_");
        assert_eq!(
            RunDir::harvest_capture("eve", "a/b"),
            "captures/eve.a_b.pcapng"
        );
        for p in [run.pacs("x/../../y"), run.ids_alerts("/abs")] {
            assert!(p.starts_with("/runs/r1"), "{p:?}");
            assert!(
                !p.components().any(|c| c == std::path::Component::ParentDir),
                "{p:?}"
            );
        }
    }

    #[test]
    fn regrade_outputs_stay_beside_the_record() {
        let run = RunDir::new("/runs/r1");
        assert_eq!(run.record().report(), Path::new("/runs/r1/report.json"));
        assert_eq!(
            run.regrade().sums(),
            Path::new("/runs/r1/regrade/SHA256SUMS")
        );
        assert!(run.regrade().is_regrade() && !run.record().is_regrade());
        assert!(RunDir::is_evidence("capture.pcapng") && RunDir::is_evidence("timeline.json"));
        for f in [
            "report.json",
            "SHA256SUMS",
            "regrade",
            "regrade/report.html",
        ] {
            assert!(!RunDir::is_evidence(f), "{f}");
        }
    }

    #[test]
    fn steps_round_trip_and_hostile_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let step = StepRecord {
            index: 1,
            id: "store".into(),
            node: "modality".into(),
            action: "store".into(),
            ok: true,
            exit_code: 0,
            elapsed_ms: 5,
            result: Some(serde_json::json!({"instances": []})),
            error: None,
        };
        std::fs::create_dir_all(run.logs()).unwrap();
        let text = RunDir::steps_text(std::slice::from_ref(&step)) + "{not json\n[1,2]\n";
        std::fs::write(run.steps(), text).unwrap();
        assert_eq!(run.read_steps().unwrap(), vec![step]);
    }

    /// A record larger than its bound is refused before it is parsed (the file may have
    /// been replaced by anything).
    #[test]
    fn a_record_over_its_bound_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, format!("[{}0]", "0,".repeat(1000))).unwrap();
        let e = read_json::<Vec<u8>>(&path, 100).unwrap_err();
        assert!(e.contains("larger than 100 bytes"), "{e}");
        assert_eq!(read_json::<Vec<u8>>(&path, 1 << 20).unwrap().len(), 1001);
    }

    #[test]
    fn tags_read_as_written_by_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        std::fs::create_dir_all(run.pacs("pacs")).unwrap();
        std::fs::write(
            run.pacs("pacs").join(PACS_TAGS_FILE),
            r#"[{"id":"a","PatientName":"DOE^J","PatientID":null,"SOPInstanceUID":"1.2","FirstFrameSha256":"ff"}]"#,
        )
        .unwrap();
        let tags = run.read_tags("pacs").unwrap();
        assert_eq!(tags[0].patient_name.as_deref(), Some("DOE^J"));
        assert_eq!(tags[0].patient_id, None);
        assert_eq!(tags[0].first_frame_sha256.as_deref(), Some("ff"));
        assert!(run.read_tags("other").is_err());
    }

    #[test]
    fn the_address_map_round_trips_and_names_an_address_owner() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let map = AddressMap {
            schema: ADDRESSES_SCHEMA.into(),
            nodes: vec![
                NodeAddresses {
                    node: "attacker".into(),
                    kind: "attacker".into(),
                    role: "attacker".into(),
                    aet: Some("EVE".into()),
                    addresses: vec![NetworkAddress {
                        network: "clinical".into(),
                        ipv4: "10.213.0.4".parse().unwrap(),
                    }],
                },
                NodeAddresses {
                    node: "sniffer".into(),
                    kind: "sniffer".into(),
                    role: "tap".into(),
                    aet: None,
                    addresses: Vec::new(),
                },
            ],
        };
        std::fs::write(run.addresses(), serde_json::to_vec(&map).unwrap()).unwrap();
        let back = run.read_addresses().unwrap();
        assert_eq!(back, map);
        let owner = back.owner("10.213.0.4".parse().unwrap()).unwrap();
        assert_eq!(owner.node, "attacker");
        assert!(back.owner("10.213.0.5".parse().unwrap()).is_none());
        // An address that is not one is refused, not read as a host.
        std::fs::write(
            run.addresses(),
            r#"{"schema":"x","nodes":[{"node":"a","kind":"a","addresses":[{"network":"n","ipv4":"evil"}]}]}"#,
        )
        .unwrap();
        assert!(run.read_addresses().is_err());
    }
}
