use std::collections::BTreeMap;
use std::path::Path;

use rundir::{RunDir, SignatureCheck, StepRecord, StoredInstance};

/// Everything the checks may look at, loaded from a run directory.
#[derive(Debug)]
pub struct Evidence {
    /// The decoded capture, or why there is none.
    pub capture: Result<wire::Analysis, String>,
    pub pacs: BTreeMap<String, PacsState>,
    /// Each step's record as the engine saved it (`logs/steps.jsonl`): id, ok, result.
    pub steps: Vec<StepRecord>,
    /// Every node's log (`logs/<node>.log`).
    pub logs: BTreeMap<String, String>,
    /// Alerts of each IDS node (`ids/<node>/alerts.jsonl`), one JSON object per alert.
    pub alerts: BTreeMap<String, Vec<serde_json::Value>>,
    /// Who owned which address (`addresses.json`), or why it is not known.
    pub addresses: Result<rundir::AddressMap, String>,
}

impl Default for PacsState {
    fn default() -> Self {
        PacsState {
            instances: Err("no snapshot was saved".into()),
            tags: Err("no snapshot was saved".into()),
            files: BTreeMap::new(),
            signatures: Err("no snapshot was saved".into()),
        }
    }
}

/// What a PACS held at the end of the run.
#[derive(Debug)]
pub struct PacsState {
    /// Orthanc ids of the stored instances (REST `/instances`), or why they are unknown.
    pub instances: Result<Vec<String>, String>,
    /// Main tags of each stored instance (`tags.json`: id, PatientName, PatientID).
    pub tags: Result<Vec<StoredInstance>, String>,
    /// Whether each path a check asked about exists in the container (`files.json`).
    pub files: BTreeMap<String, bool>,
    /// The verifier's verdict on each archived file (`signatures.json`), or why there is
    /// none.
    pub signatures: Result<Vec<SignatureCheck>, String>,
}

impl Evidence {
    /// Reads a run directory. Missing pieces are recorded, not fatal: a check that needs
    /// them reports an error, the others still grade.
    pub fn load(run_dir: &Path) -> Evidence {
        let run = RunDir::new(run_dir);
        let capture_path = run.capture();
        let capture = if capture_path.exists() {
            wire::analyze_file(&capture_path)
                .map_err(|e| format!("{}: {e}", capture_path.display()))
        } else {
            Err(format!(
                "no capture was saved ({} is missing)",
                capture_path.display()
            ))
        };
        let mut pacs = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(run.join(rundir::PACS_DIR)) {
            for entry in dir.flatten() {
                let node = entry.file_name().to_string_lossy().into_owned();
                let file = entry.path().join(rundir::PACS_INSTANCES_FILE);
                let instances = std::fs::read(&file)
                    .map_err(|e| format!("{}: {e}", file.display()))
                    .and_then(|b| {
                        serde_json::from_slice::<Vec<String>>(&b)
                            .map_err(|e| format!("{}: {e}", file.display()))
                    });
                let tags = run.read_tags(&node);
                let signatures = run.read_signatures(&node);
                let files = read_json::<BTreeMap<String, bool>>(
                    &entry.path().join(rundir::PACS_FILES_FILE),
                )
                .unwrap_or_default();
                pacs.insert(
                    node,
                    PacsState {
                        instances,
                        tags,
                        files,
                        signatures,
                    },
                );
            }
        }
        let steps = run.read_steps().unwrap_or_default();
        let mut logs = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(run.logs()) {
            for entry in dir.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "log")
                    && let (Some(stem), Ok(text)) =
                        (path.file_stem(), std::fs::read_to_string(&path))
                {
                    logs.insert(stem.to_string_lossy().into_owned(), text);
                }
            }
        }
        let mut alerts = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(run.join(rundir::IDS_DIR)) {
            for entry in dir.flatten() {
                let node = entry.file_name().to_string_lossy().into_owned();
                let list = std::fs::read_to_string(run.ids_alerts(&node))
                    .map(|t| {
                        t.lines()
                            .filter_map(|l| serde_json::from_str(l).ok())
                            .collect()
                    })
                    .unwrap_or_default();
                alerts.insert(node, list);
            }
        }
        Evidence {
            capture,
            pacs,
            steps,
            logs,
            alerts,
            addresses: run.read_addresses(),
        }
    }
}

impl Default for Evidence {
    fn default() -> Self {
        Evidence {
            capture: Err("no capture".into()),
            pacs: BTreeMap::new(),
            steps: Vec::new(),
            logs: BTreeMap::new(),
            alerts: BTreeMap::new(),
            addresses: Err("no address map".into()),
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}
