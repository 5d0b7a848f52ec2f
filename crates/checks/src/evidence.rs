use std::collections::BTreeMap;
use std::path::Path;

/// The capture, relative to a run directory.
pub const CAPTURE_FILE: &str = "capture.pcapng";
/// Snapshots of each PACS's state, one folder per node: `pacs/<node>/instances.json`.
pub const PACS_DIR: &str = "pacs";

/// Everything the checks may look at, loaded from a run directory.
#[derive(Debug)]
pub struct Evidence {
    /// The decoded capture, or why there is none.
    pub capture: Result<wire::Analysis, String>,
    pub pacs: BTreeMap<String, PacsState>,
}

impl Default for PacsState {
    fn default() -> Self {
        PacsState {
            instances: Err("no snapshot was saved".into()),
        }
    }
}

/// What a PACS held at the end of the run.
#[derive(Debug)]
pub struct PacsState {
    /// Orthanc ids of the stored instances (REST `/instances`), or why they are unknown.
    pub instances: Result<Vec<String>, String>,
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
                pacs.insert(node, PacsState { instances });
            }
        }
        Evidence { capture, pacs }
    }
}

impl Default for Evidence {
    fn default() -> Self {
        Evidence {
            capture: Err("no capture".into()),
            pacs: BTreeMap::new(),
        }
    }
}
