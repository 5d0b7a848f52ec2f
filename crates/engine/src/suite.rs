//! Many labs in one go (`lab test`): images built once up front, then the runs in
//! parallel, at most `jobs` at a time, each on its own networks and subnets.
//!
//! The batch owns the signals (`RunOptions::shutdown`, shared with every run): after
//! SIGINT or SIGTERM no new run starts, the runs in flight save their evidence and tear
//! down (their reports say they were interrupted), and every lab not run gets an entry
//! saying so, so that the partial JUnit/JSON still names every lab.

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

impl SuiteEntry {
    /// The entry as a report: the run's own, or one with verdict error that says why
    /// there is no run (the file did not parse, the batch was interrupted first), so that
    /// JUnit, SARIF and JSON list every lab of the suite.
    pub fn report(&self) -> report::RunReport {
        match &self.outcome {
            Ok(r) => r.report.clone(),
            Err(e) => report::RunReport {
                schema: report::REPORT_SCHEMA.into(),
                run_id: String::new(),
                lab: self.name.clone(),
                title: self.path.display().to_string(),
                threat: String::new(),
                variant: String::new(),
                mitre: Vec::new(),
                started_at: String::new(),
                duration_s: 0.0,
                verdict: report::Verdict::Error,
                error: Some(e.to_string()),
                notes: Vec::new(),
                steps: Vec::new(),
                checks: Vec::new(),
                associations: Vec::new(),
                evidence: Vec::new(),
            },
        }
    }
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
    tokio::select! {
        r = images::ensure(&docker, &needed, opts.progress, false) => { r?; }
        s = opts.shutdown.wait(1) => {
            return Err(EngineError::NotStarted {
                signal: s,
                when: "while building images; no lab was run",
            });
        }
    }

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
                        // After a signal nothing new starts.
                        let outcome = match opts.shutdown.last() {
                            Some(sig) => Err(EngineError::NotRun(sig.to_string())),
                            None => run_lab(&s, &opts).await,
                        };
                        SuiteEntry {
                            path,
                            name,
                            outcome,
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

/// Where `lab test` writes its reports besides the table; each one is optional.
#[derive(Debug, Clone, Default)]
pub struct SuiteOutputs {
    /// JUnit XML: a testsuite per lab, a testcase per check.
    pub junit: Option<PathBuf>,
    /// SARIF 2.1.0 with the security findings.
    pub sarif: Option<PathBuf>,
    /// Every run's report.json as one JSON array.
    pub json: Option<PathBuf>,
}

/// Writes the reports of `entries` that `outputs` asks for; every lab is in them, those
/// that did not run too (with why).
pub fn write_reports(entries: &[SuiteEntry], outputs: &SuiteOutputs) -> Result<(), EngineError> {
    let reports: Vec<report::RunReport> = entries.iter().map(|e| e.report()).collect();
    let write = |path: &Option<PathBuf>, body: String| match path {
        Some(p) => crate::output::write_output(p, body),
        None => Ok(()),
    };
    write(&outputs.junit, report::junit(&reports))?;
    write(
        &outputs.sarif,
        serde_json::to_string_pretty(&report::sarif(&reports)).expect("json"),
    )?;
    write(
        &outputs.json,
        serde_json::to_string_pretty(&reports).expect("json"),
    )
}
