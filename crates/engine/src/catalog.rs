//! Where labs are found: a path to a file, a name in `--labs DIR` (or `$LAB_LABS_DIR`), or
//! a name in the first of: the working directory's `labs/`, the installed catalog beside
//! the binary (`/usr/bin/lab` reads `/usr/share/dicom-range/labs`, as the .deb installs
//! it), the `labs/` of the checkout this binary was built from.

use std::path::{Path, PathBuf};

use crate::EngineError;

/// Where a package installs the catalog, relative to the prefix of the `lab` binary
/// (`/usr` for `/usr/bin/lab`).
pub const INSTALLED_LABS: &str = "share/dicom-range/labs";

/// The labs folders searched, in order.
pub fn search_dirs(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = explicit {
        dirs.push(d.to_path_buf());
        return dirs;
    }
    dirs.push(PathBuf::from("labs"));
    // Before the checkout's: an installed `lab` built on a machine that still has the
    // sources must run the labs it was installed with.
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join(INSTALLED_LABS)))
        .filter(|d| d.is_dir());
    dirs.extend(installed);
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../labs");
    if built_from.is_dir() {
        dirs.push(built_from);
    }
    dirs
}

/// Exercises live in this subfolder of a labs folder.
pub const EXERCISES_DIR: &str = "exercises";

/// Every lab file (`*.yaml`) in the first labs folder that exists, then the exercises of
/// its `exercises/` subfolder, each sorted by name.
pub fn list(explicit: Option<&Path>) -> Vec<PathBuf> {
    let yaml_in = |dir: &Path| -> Option<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        v.sort();
        Some(v)
    };
    for dir in search_dirs(explicit) {
        if let Some(mut v) = yaml_in(&dir) {
            v.extend(yaml_in(&dir.join(EXERCISES_DIR)).unwrap_or_default());
            return v;
        }
    }
    Vec::new()
}

/// The lab files that command-line targets name: every lab when there is none; a folder
/// stands for its labs (and its `exercises/`), anything else is a lab name or file.
pub fn targets(targets: &[String], explicit: Option<&Path>) -> Result<Vec<PathBuf>, EngineError> {
    if targets.is_empty() {
        return Ok(list(explicit));
    }
    let mut paths = Vec::new();
    for t in targets {
        let p = Path::new(t);
        if p.is_dir() {
            paths.extend(list(Some(p)));
        } else {
            paths.push(find(t, explicit)?);
        }
    }
    Ok(paths)
}

/// Resolves a lab given as a path or as a name.
pub fn find(lab: &str, explicit: Option<&Path>) -> Result<PathBuf, EngineError> {
    let as_path = Path::new(lab);
    if lab.ends_with(".yaml") || lab.ends_with(".yml") || lab.contains('/') {
        return if as_path.is_file() {
            Ok(as_path.to_path_buf())
        } else {
            Err(EngineError::NotFound(format!(
                "lab file {lab} does not exist"
            )))
        };
    }
    for dir in search_dirs(explicit) {
        for sub in [dir.clone(), dir.join(EXERCISES_DIR)] {
            for ext in ["yaml", "yml"] {
                let p = sub.join(format!("{lab}.{ext}"));
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
    }
    let names: Vec<String> = list(explicit)
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    let searched: Vec<String> = search_dirs(explicit)
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    Err(EngineError::NotFound(if names.is_empty() {
        format!(
            "no lab named `{lab}`, and no labs were found in {}\n  fix: run from the project folder or pass --labs DIR",
            searched.join(", ")
        )
    } else {
        format!(
            "no lab named `{lab}`; the labs are: {}\n  (`lab list` describes them)",
            names.join(", ")
        )
    }))
}

/// What the catalog says about one lab, for checks across labs.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub threat: String,
    pub variant: scenario::Variant,
}

/// The labs of a folder that parse, by name (labs that do not parse are reported by
/// `lab validate` on their own).
pub fn index(paths: &[PathBuf]) -> Vec<Entry> {
    paths
        .iter()
        .filter_map(|p| scenario::load(p, &Default::default()).ok())
        .map(|s| Entry {
            name: s.metadata.name,
            threat: s.metadata.threat,
            variant: s.metadata.variant,
        })
        .collect()
}

/// Problems between a lab and its `pair`: the pair must exist, be about the same threat,
/// and be of the other variant.
pub fn pair_problems(s: &scenario::Scenario, catalog: &[Entry]) -> Vec<scenario::Problem> {
    let Some(pair) = &s.metadata.pair else {
        return Vec::new();
    };
    let at = |msg: String| {
        let mut p = scenario::Problem::new(&s.file, msg);
        if let Some((line, col)) = s.metadata.pair_at {
            p.line = Some(line);
            p.column = Some(col);
        }
        p
    };
    match catalog.iter().find(|e| &e.name == pair) {
        None => {
            let names: Vec<&str> = catalog.iter().map(|e| e.name.as_str()).collect();
            vec![
                at(format!("pair `{pair}` is not a lab of the catalog"))
                    .hint(format!("labs: {}", names.join(", "))),
            ]
        }
        Some(e) if e.threat != s.metadata.threat => vec![at(format!(
            "pair `{pair}` is about threat `{}`, this lab about `{}`",
            e.threat, s.metadata.threat
        ))],
        Some(e) if e.variant == s.metadata.variant => vec![at(format!(
            "pair `{pair}` is {:?} like this lab; a pair joins a vulnerable and a hardened lab",
            e.variant
        )
        .to_lowercase())],
        Some(_) => Vec::new(),
    }
}

/// One line of `lab list`: what a lab is about and where its file is. Fields in
/// alphabetical order, as `lab list --json` has always printed them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub file: String,
    pub mitre: Vec<String>,
    pub name: String,
    pub pair: Option<String>,
    pub threat: String,
    pub title: String,
    /// `vulnerable` or `hardened`.
    pub variant: String,
}

/// The labs of the catalog (see [`list`]) as `lab list` shows them, each one's summary or
/// why its file does not load.
pub fn summaries(explicit: Option<&Path>) -> Vec<Result<Summary, scenario::ScenarioError>> {
    list(explicit)
        .into_iter()
        .map(|path| {
            let s = scenario::load(&path, &Default::default())?;
            let m = s.metadata;
            Ok(Summary {
                file: path.display().to_string(),
                mitre: m.mitre,
                name: m.name,
                pair: m.pair,
                threat: m.threat,
                title: m.title,
                variant: format!("{:?}", m.variant).to_lowercase(),
            })
        })
        .collect()
}
