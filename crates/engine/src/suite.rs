//! Many labs in one go (`lab test`): images built once up front, then the runs in
//! parallel, at most `jobs` at a time, each on its own networks and subnets.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;

use crate::progress::Progress;
use crate::{EngineError, RunOptions, RunResult, images, run_lab};

/// How one lab of a suite ended.
pub struct SuiteEntry {
    pub path: PathBuf,
    /// The lab's name, or the file name when it did not parse.
    pub name: String,
    pub outcome: Result<RunResult, EngineError>,
}

/// Runs every lab file, `jobs` at a time; `on_done` is called as each one finishes.
pub async fn run_suite(
    paths: Vec<PathBuf>,
    jobs: usize,
    opts: RunOptions,
    on_done: impl Fn(&SuiteEntry) + Send + Sync + 'static,
) -> Result<Vec<SuiteEntry>, EngineError> {
    let mut parsed = Vec::new();
    let mut needed = Vec::new();
    for path in paths {
        // An exercise is tested with its reference solution: it must then pass.
        let loaded = match scenario::load(&path, &Default::default()) {
            Ok(s) if s.exercise.is_some() => crate::classroom::solved(&path),
            other => other.map_err(EngineError::from),
        };
        match loaded {
            Ok(s) => {
                for img in images::needed_by(&s) {
                    if !needed.contains(&img) {
                        needed.push(img);
                    }
                }
                parsed.push((path, Ok(s)));
            }
            Err(e) => parsed.push((path, Err(e))),
        }
    }
    let docker = runtime::Docker::connect().await?;
    images::ensure(&docker, &needed, opts.progress, false).await?;

    let quiet = RunOptions {
        progress: Progress {
            quiet: true,
            ..opts.progress
        },
        ..opts
    };
    let on_done = Arc::new(on_done);
    let entries = futures_util::stream::iter(parsed)
        .map(|(path, parsed)| {
            let opts = quiet.clone();
            let on_done = on_done.clone();
            async move {
                let fallback = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let entry = match parsed {
                    Ok(s) => {
                        let name = s.metadata.name.clone();
                        SuiteEntry {
                            path,
                            name,
                            outcome: run_lab(&s, &opts).await,
                        }
                    }
                    Err(e) => SuiteEntry {
                        path,
                        name: fallback,
                        outcome: Err(e),
                    },
                };
                on_done(&entry);
                entry
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut entries = entries;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}
