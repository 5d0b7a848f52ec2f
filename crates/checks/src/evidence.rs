use std::collections::BTreeMap;
use std::path::Path;

/// The capture, relative to a run directory.
pub const CAPTURE_FILE: &str = "capture.pcapng";
/// Snapshots of each PACS's state, one folder per node: `pacs/<node>/instances.json`.
pub const PACS_DIR: &str = "pacs";
/// Copies of the first stored files, inside a PACS's folder: `pacs/<node>/instances/<id>.dcm`
/// (Orthanc ids, as in `tags.json`).
pub const PACS_INSTANCES_DIR: &str = "instances";

/// Everything the checks may look at, loaded from a run directory.
#[derive(Debug)]
pub struct Evidence {
    /// The decoded capture, or why there is none.
    pub capture: Result<wire::Analysis, String>,
    pub pacs: BTreeMap<String, PacsState>,
    /// Each step's record as the engine saved it (`logs/steps.jsonl`): id, ok, result.
    pub steps: Vec<serde_json::Value>,
    /// Every node's log (`logs/<node>.log`).
    pub logs: BTreeMap<String, String>,
    /// Alerts of each IDS node (`ids/<node>/alerts.jsonl`), one JSON object per alert.
    pub alerts: BTreeMap<String, Vec<serde_json::Value>>,
}

/// The IDS alerts, relative to a run directory: `ids/<node>/alerts.jsonl`.
pub const IDS_DIR: &str = "ids";

impl Default for PacsState {
    fn default() -> Self {
        PacsState {
            instances: Err("no snapshot was saved".into()),
            tags: Err("no snapshot was saved".into()),
            files: BTreeMap::new(),
        }
    }
}

/// What a PACS held at the end of the run.
#[derive(Debug)]
pub struct PacsState {
    /// Orthanc ids of the stored instances (REST `/instances`), or why they are unknown.
    pub instances: Result<Vec<String>, String>,
    /// Main tags of each stored instance (`tags.json`: id, PatientName, PatientID).
    pub tags: Result<Vec<serde_json::Value>, String>,
    /// Whether each path a check asked about exists in the container (`files.json`).
    pub files: BTreeMap<String, bool>,
}

impl Evidence {
    /// Reads a run directory. Missing pieces are recorded, not fatal: a check that needs
    /// them reports an error, the others still grade.
    pub fn load(run_dir: &Path) -> Evidence {
        let capture_path = run_dir.join(CAPTURE_FILE);
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
        if let Ok(dir) = std::fs::read_dir(run_dir.join(PACS_DIR)) {
            for entry in dir.flatten() {
                let node = entry.file_name().to_string_lossy().into_owned();
                let file = entry.path().join("instances.json");
                let instances = std::fs::read(&file)
                    .map_err(|e| format!("{}: {e}", file.display()))
                    .and_then(|b| {
                        serde_json::from_slice::<Vec<String>>(&b)
                            .map_err(|e| format!("{}: {e}", file.display()))
                    });
                let tags = read_json::<Vec<serde_json::Value>>(&entry.path().join("tags.json"));
                let files = read_json::<BTreeMap<String, bool>>(&entry.path().join("files.json"))
                    .unwrap_or_default();
                pacs.insert(
                    node,
                    PacsState {
                        instances,
                        tags,
                        files,
                    },
                );
            }
        }
        let steps = std::fs::read_to_string(run_dir.join("logs/steps.jsonl"))
            .map(|t| {
                t.lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            })
            .unwrap_or_default();
        let mut logs = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(run_dir.join("logs")) {
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
        if let Ok(dir) = std::fs::read_dir(run_dir.join(IDS_DIR)) {
            for entry in dir.flatten() {
                let node = entry.file_name().to_string_lossy().into_owned();
                let list = std::fs::read_to_string(entry.path().join("alerts.jsonl"))
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
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}
